"""The token stores: one module per store kind, the shared parts in their own.

``records`` (a grant's key and what a stored record must look like),
``transactions`` (what every store's transaction does alike, and the newest-wins
rule), ``journal`` (the fresh pair of a refresh, kept on disk until the store
holds it), ``file`` (the JSON file), ``urls`` (a database URL and the database
kinds), ``database`` (PostgreSQL, MariaDB/MySQL, SQLite). ``protocol.store``
opens the store a setting names. Nothing here imports Pywikibot.
"""
