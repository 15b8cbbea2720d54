"""Pure protocol code: OAuth 1.0a and 2.0 against MediaWiki, without Pywikibot.

Host matching, grants, token endpoint and handshake clients, the token stores,
network policy (loopback, safe URLs, host and port) and the MediaWiki compliance
fixes. May import ``pwb_oauth_ext.config``, ``pwb_oauth_ext.errors`` and
third-party protocol libraries (requests, oauthlib, PyJWT, SQLAlchemy), those
lazily where the package import must stay cheap; never Pywikibot, the
integration, the commands or the test wiki. The integration and the commands
import it.
"""
