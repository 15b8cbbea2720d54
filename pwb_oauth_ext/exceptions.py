"""Exceptions raised into Pywikibot code, subclassing Pywikibot's own.

Imported only once Pywikibot is fully importable (never from user-config.py),
so existing ``except NoUsernameError`` handlers in bots keep working.
"""
from __future__ import annotations

from pywikibot.exceptions import NoUsernameError


class OAuthAuthorizationError(NoUsernameError):
    """The wiki refused our OAuth credentials (``mwoauth-invalid-authorization``)."""


class OAuthIdentityError(NoUsernameError):
    """The OAuth token belongs to another account than the one configured."""
