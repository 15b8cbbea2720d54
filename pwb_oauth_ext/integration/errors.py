"""Exceptions raised into Pywikibot code, subclassing Pywikibot's own.

Imported only once Pywikibot is fully importable (never from user-config.py),
so existing ``except NoUsernameError`` handlers in bots keep working.
"""
from __future__ import annotations

from pywikibot.exceptions import FatalServerError, NoUsernameError

from pwb_oauth_ext.errors import TokenStoreError


class OAuthAuthorizationError(NoUsernameError):
    """The wiki refused our OAuth credentials (``mwoauth-invalid-authorization``)."""


class OAuthIdentityError(NoUsernameError):
    """The OAuth token belongs to another account than the one configured.

    ``token_owner`` and ``configured`` name both accounts when the wiki named
    the token's owner (None when it treated the request as anonymous).
    """

    def __init__(self, message: str, *, token_owner: str | None = None,
                 configured: str | None = None) -> None:
        super().__init__(message)
        self.token_owner = token_owner
        self.configured = configured


class OAuthCredentialError(NoUsernameError, FatalServerError):
    """A credential cannot be used: bad config, token store trouble, authorize again.

    Also a FatalServerError so Pywikibot's request loop raises it at once
    instead of waiting and retrying something only the operator can fix.
    """


class OAuthTokenStoreError(OAuthCredentialError, TokenStoreError):
    """The token store cannot be read, trusted or written, raised inside a request.

    A TokenStoreError for ``except TokenStoreError`` and a FatalServerError, so a
    damaged or hostile store file stops the bot at once instead of being retried.
    """
