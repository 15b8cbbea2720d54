"""Configuration objects and secret references: what user-config.py writes.

``OAuth1``/``OAuth2``/``BasicAuth`` entries, their grant types (``grant_types``:
one class per way of getting a token), ``env()``/``file()``/``keyring()``
references and the one rule on who else may open a secret file (``file_modes``).
Imported on every Pywikibot start, while Pywikibot is half imported,
so these modules import only the standard library, ``pwb_oauth_ext.errors`` and
each other. Everything else may import them.
"""
