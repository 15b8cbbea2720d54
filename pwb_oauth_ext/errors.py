"""Errors of the core, free of Pywikibot so user-config.py can raise them early.

The adapter turns wiki-side failures into Pywikibot exception subclasses;
these are for bad configuration and local problems.
"""
from __future__ import annotations

#: How a message names the site's ``usernames`` entry when it does not know the site.
USERNAMES_PLACEHOLDER = 'usernames[FAMILY][CODE]'


def shown_id(identifier: str) -> str:
    """How a consumer key or client id is shown: ``abcdef...wxyz`` (first 6, last 4).

    Not secrets, but long: the head alone makes a key with a typo at its end
    look like the right one. Short ones are shown whole.
    """
    text = str(identifier)
    return text if len(text) <= 13 else f'{text[:6]}...{text[-4:]}'


class OAuthExtError(Exception):
    """Base class of every error this package raises itself.

    ``config_key`` is the ``authenticate`` key the message already names (None:
    it names none, and whoever knows the entry says which).
    """

    def __init__(self, *args: object, config_key: str | None = None) -> None:
        super().__init__(*args)
        self.config_key = config_key

    def message(self, usernames_key: str = USERNAMES_PLACEHOLDER) -> str:
        """The text, naming the site's ``usernames`` entry as ``usernames_key`` where it does."""
        return str(self)


class ConfigError(OAuthExtError, ValueError):
    """A config entry (``authenticate[...]``, a secret reference) is unusable.

    The message names the config key and says how to fix it; it never
    contains the secret.
    """


class NotEnabledError(ConfigError, ImportError):
    """An OAuth1(...)/OAuth2(...) entry reached Pywikibot, but ``enable()`` was never called.

    Also an ImportError because that is what Pywikibot's request loop (10.x
    and 11.x) ends the run on with one ``ERROR:`` line and exit status 1,
    instead of logging a traceback and retrying until ApiTimeoutError.
    """


class TokenStoreError(OAuthExtError):
    """The token store file cannot be read, trusted or written."""


class OAuthFlowError(OAuthExtError):
    """A token endpoint or handshake step failed (bad grant, bad verifier...)."""


class ReauthorizationRequired(OAuthFlowError):
    """The stored grant can no longer be renewed; a human must authorize again.

    Raised when a refresh token was revoked, expired or already used (the
    message says which command to run).
    """


class TokenEndpointError(OAuthFlowError):
    """The token endpoint answered with an OAuth 2.0 error.

    ``error``, ``description``, ``hint`` (MediaWiki's extra detail) and
    ``status`` are kept as attributes so callers can decide what to do.
    """

    def __init__(self, message: str, *, error: str | None = None,
                 description: str | None = None, hint: str | None = None,
                 status: int | None = None, config_key: str | None = None) -> None:
        super().__init__(message, config_key=config_key)
        self.error = error
        self.description = description
        self.hint = hint
        self.status = status


class GrantChoiceError(OAuthExtError):
    """Several accounts have a stored grant for one consumer and no site user chose one.

    ``message(usernames_key)`` names the site's own ``usernames[...]`` entry when
    the caller knows the site; ``str()`` says ``usernames[FAMILY][CODE]``.
    """

    def __init__(self, central_wiki: str, client_id: str, accounts: list[str]) -> None:
        self.central_wiki = central_wiki
        self.client_id = client_id
        self.accounts = accounts
        super().__init__(self.message())

    def message(self, usernames_key: str = USERNAMES_PLACEHOLDER) -> str:
        names = ', '.join(repr(name) for name in self.accounts)
        first = self.accounts[0]
        return (f'The token store holds grants of {len(self.accounts)} accounts for client'
                f' {shown_id(self.client_id)} on {self.central_wiki}: {names}. Choose the account:'
                f' set {usernames_key} = {first!r} in user-config.py, run the script'
                f' with -user:{first}, or create the site with'
                f' pywikibot.Site(..., user={first!r}).')
