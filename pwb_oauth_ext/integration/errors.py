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
    """The OAuth login found no user, or another account than the one configured.

    For a mismatch, ``wiki_user`` is the account the wiki names for the token
    and ``configured_user`` the site's; both None when the wiki named no user.
    """

    def __init__(self, message: str, *, wiki_user: str | None = None,
                 configured_user: str | None = None) -> None:
        super().__init__(message)
        self.wiki_user = wiki_user
        self.configured_user = configured_user

    @property
    def is_mismatch(self) -> bool:
        """True when the token belongs to another account than the configured one."""
        return self.wiki_user is not None and self.configured_user is not None


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
