"""Configuration objects and secret references: what user-config.py writes.

``OAuth1``/``OAuth2``/``BasicAuth`` entries and ``env()``/``file()``/``keyring()``
references. Imported on every Pywikibot start, while Pywikibot is half imported,
so these modules import only the standard library, ``pwb_oauth_ext.errors`` and
each other. Everything else may import them.
"""
