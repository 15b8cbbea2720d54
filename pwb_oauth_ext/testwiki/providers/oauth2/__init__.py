"""OAuth 2.0 as Extension:OAuth serves it (``rest.php/oauth2``): ``provider`` (registration,
routing), ``consent`` (/authorize and Special:OAuth/approve), ``endpoints`` (/access_token,
/resource), ``tokens`` (JWT access tokens, rotation), ``validator`` (oauthlib's view),
``records`` and ``mediawiki_errors`` (how MediaWiki words each failure). Needs the
``[testwiki]`` extra; the rest of the test wiki reaches it through ``providers.load_oauth2``."""
