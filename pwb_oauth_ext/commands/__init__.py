"""The ``pwb-oauth`` commands, one module each, and ``main`` (the argument parser).

May import ``config``, ``network``, ``protocol``, ``errors`` and the integration's
facade (``pwb_oauth_ext.integration.facade``, their only way to Pywikibot), and the
test wiki for ``testwiki`` and ``demo``; a command never imports another command.
Nothing else imports them, except ``pwb_oauth_ext.scripts`` (the ``pwb oauth``
script calls ``main``).
"""
