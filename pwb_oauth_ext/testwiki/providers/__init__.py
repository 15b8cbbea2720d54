"""The test wiki's Extension:OAuth: an OAuth 1.0a and an OAuth 2.0 provider.

``oauth1`` and ``oauth2`` are packages, one module a job (what is stored, the
oauthlib validator, the pages a browser sees, the endpoints a bot calls,
MediaWiki's wording of failures). ``load_oauth2`` is the one place that decides
whether the OAuth 2.0 provider can exist: it needs the ``[testwiki]`` extra.
Imported by the rest of the test wiki only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.model import Wiki
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider


def load_oauth2(wiki: Wiki, **options: Any) -> OAuth2Provider:
    """The OAuth 2.0 provider of ``wiki``; an ImportError naming the extra without it.

    It signs tokens with RSA (cryptography) and JWT (PyJWT), which come with the
    ``[testwiki]`` extra; a wiki without its OAuth 2.0 provider is never made.
    """
    try:
        from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider
    except ImportError as exc:
        missing = (exc.name or 'cryptography').split('.')[0]
        raise ImportError(
            f'The local test wiki needs the module {missing!r}, which comes with the'
            " [testwiki] extra: pip install 'pwb_oauth_ext[testwiki]'", name=missing) from exc
    return OAuth2Provider(wiki, **options)
