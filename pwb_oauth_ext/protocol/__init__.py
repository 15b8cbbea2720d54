"""Pure protocol code: OAuth 1.0a and 2.0 against MediaWiki, without Pywikibot.

Grants (``grants.make_auth``: one auth maker per ``config.grant_types`` class),
token endpoint and handshake clients (``oauth2``, ``oauth1``), requests auth
objects (``auth``), the token stores (``store`` opens one of ``stores``) and
``mediawiki``: every MediaWiki quirk the client answers, in that one module.
Network policy (loopback, safe URLs, host and port) is ``pwb_oauth_ext.network``.
May import ``pwb_oauth_ext.config``, ``pwb_oauth_ext.errors`` and
third-party protocol libraries (requests, oauthlib, PyJWT, SQLAlchemy), those
lazily where the package import must stay cheap; never Pywikibot, the
integration, the commands or the test wiki. The integration and the commands
import it.
"""
