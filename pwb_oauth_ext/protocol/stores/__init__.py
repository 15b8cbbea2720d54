"""The token stores: one module per store kind, the shared parts in their own.

``records`` (a grant's key and what a stored record must look like, and which of
two copies is newer), ``transactions`` (what every store's transaction does
alike, and the journal: a refreshed pair kept in a private file until the store
holds it), ``file`` (the JSON file), ``urls`` (a database URL and the database
kinds), ``schema`` (a database store's tables), ``database`` (PostgreSQL,
MariaDB/MySQL, SQLite). ``protocol.store`` opens the store a setting names.
Nothing here imports Pywikibot.
"""
