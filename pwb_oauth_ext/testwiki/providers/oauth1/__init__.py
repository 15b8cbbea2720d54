"""OAuth 1.0a as Extension:OAuth serves it: ``provider`` (registries, the resource check),
``handshake`` (Special:OAuth/initiate, token, identify), ``consent`` (the approval form),
``validator`` (oauthlib's view), ``records`` and ``messages`` (MediaWiki's refusals)."""
