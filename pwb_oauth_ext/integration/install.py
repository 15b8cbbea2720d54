"""Installing and removing the patches (each listed with its reason in the README table
"What the plugin changes in Pywikibot")."""
from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any

from pwb_oauth_ext.errors import OAuthExtError
from pwb_oauth_ext.protocol.mediawiki import is_authorization_refusal

if TYPE_CHECKING:
    pass
from pwb_oauth_ext.integration.context import in_flight
from pwb_oauth_ext.integration.login import (
    OAuthLoginMixin,
    handle_rejection,
    login_manager_class,
    oauth_logout,
)
from pwb_oauth_ext.integration.resolver import oauth_match, resolver
from pwb_oauth_ext.integration.session import SessionAuth, configured_authentication
from pwb_oauth_ext.integration.sites import LOGGED_OUT

_originals: dict[str, tuple[Any, str, Any]] = {}


def _label(owner: Any, name: str) -> str:
    return f'{getattr(owner, "__name__", type(owner).__name__)}.{name}'


def _patch(owner: Any, name: str, replacement: Any) -> None:
    label = _label(owner, name)
    if label not in _originals:
        _originals[label] = (owner, name, getattr(owner, name))
    setattr(owner, name, replacement)


def _original(owner: Any, name: str) -> Any:
    """Pywikibot's own ``owner.name``, even after we replaced it."""
    saved = _originals.get(_label(owner, name))
    return saved[2] if saved is not None else getattr(owner, name)


def _replaces(original: Any) -> Any:
    """``functools.wraps``: help() and inspect.signature() show Pywikibot's function."""
    def decorate(replacement: Any) -> Any:
        return functools.wraps(original)(replacement)
    return decorate


def install() -> None:
    """Patch Pywikibot now. Idempotent.

    Every patch point, and why it is one, is in the README table "What the
    plugin changes in Pywikibot".
    """
    import inspect

    from pywikibot import login as pywikibot_login
    from pywikibot.comms import http
    from pywikibot.data import api
    from pywikibot.site import _apisite
    from pywikibot.tools import normalize_username

    from pwb_oauth_ext.integration.errors import OAuthAuthorizationError

    api_site = _apisite.APISite
    original_request = _original(http, 'request')
    original_fetch = _original(http, 'fetch')
    original_get_authentication = _original(http, 'get_authentication')
    original_is_oauth = _original(api_site, 'is_oauth_token_available')
    original_login = _original(api_site, 'login')
    original_logout = _original(api_site, 'logout')
    original_api_error = _original(api.Request, '_internal_api_error')
    manager_class = login_manager_class(_original(pywikibot_login, 'ClientLoginManager'))
    fetch_code = inspect.unwrap(original_fetch).__code__

    @_replaces(original_request)
    def request(site: Any, uri: str | None = None, headers: dict | None = None,
                **kwargs: Any) -> Any:
        previous = getattr(in_flight, 'site', None)
        in_flight.site = site
        try:
            return original_request(site, uri=uri, headers=headers, **kwargs)
        finally:
            in_flight.site = previous

    @_replaces(original_fetch)
    def fetch(*args: Any, **kwargs: Any) -> Any:
        # Pywikibot 11.9: an explicit auth=None turns configured authentication
        # off for this request, so the session-level auth must not add ours.
        # An explicit auth object wins over the session's by requests' own rules.
        # Pywikibot 10.x raises TypeError for any auth= before sending anything.
        if 'auth' not in kwargs or kwargs['auth'] is not None:
            return original_fetch(*args, **kwargs)
        previous = getattr(in_flight, 'no_auth', False)
        in_flight.no_auth = True
        try:
            return original_fetch(*args, **kwargs)
        finally:
            in_flight.no_auth = previous

    @_replaces(original_get_authentication)
    def get_authentication(uri: str) -> Any:
        # Pywikibot's fetch asks for the request it is about to send: the session
        # auth attaches (and signs) instead, so answering would sign twice. The
        # caller is known by its code, which also catches `from ... import fetch`.
        if sys._getframe(1).f_code is fetch_code:
            return None
        return configured_authentication(uri, original_get_authentication)

    @_replaces(original_is_oauth)
    def is_oauth_token_available(self: Any) -> bool:
        if getattr(self, '_oauth_disabled', False) or getattr(self, LOGGED_OUT, False):
            return False
        return oauth_match(self) is not None

    @_replaces(original_login)
    def login(self: Any, autocreate: bool = False, user: str | None = None, *,
              cookie_only: bool = False) -> None:
        # Pywikibot's login() consults its login manager only without OAuth and
        # without cookie_only (Site() creation): route OAuth sites to it here, so
        # Site() already checks the identity and never edits as another account.
        if cookie_only and getattr(in_flight, 'defer_login', False):
            return
        if user:
            self._username = normalize_username(user)
        resolver.check_entries()
        if oauth_match(self) is None:
            return original_login(self, autocreate, user, cookie_only=cookie_only)
        cls = pywikibot_login.ClientLoginManager
        if not (isinstance(cls, type) and issubclass(cls, OAuthLoginMixin)):
            cls = manager_class
        cls(site=self, user=self.username()).login(retry=True, autocreate=autocreate)

    @_replaces(original_logout)
    def logout(self: Any) -> None:
        if getattr(self, LOGGED_OUT, False) or oauth_match(self) is None:
            return original_logout(self)
        oauth_logout(self)

    @_replaces(original_api_error)
    def internal_api_error(self: Any, code: str, error: dict, result: Any) -> bool:
        if is_authorization_refusal(code):
            resolver.check_entries()
            return handle_rejection(self, error, OAuthAuthorizationError)
        return original_api_error(self, code, error, result)

    # requests-oauthlib and oauthlib log signed headers, signature base strings
    # and tokens at DEBUG: keep them out of any log a bot may configure.
    for name in ('oauthlib', 'requests_oauthlib'):
        logging.getLogger(name).setLevel(logging.INFO)

    _patch(http, 'request', request)
    _patch(http, 'fetch', fetch)
    _patch(http, 'get_authentication', get_authentication)
    _patch(http.session, 'auth', SessionAuth())
    _patch(api_site, 'is_oauth_token_available', is_oauth_token_available)
    _patch(api_site, 'login', login)
    _patch(api_site, 'logout', logout)
    _patch(api.Request, '_internal_api_error', internal_api_error)
    _patch(pywikibot_login, 'ClientLoginManager', manager_class)
    _patch(sys, 'excepthook', short_error_hook(_originals.get(
        'sys.excepthook', (None, None, sys.excepthook))[2]))


def is_expected_failure(exc: BaseException) -> bool:
    """True for our own errors: bad config, missing or refused tokens, locked store."""
    from pwb_oauth_ext.integration.errors import (
        OAuthAuthorizationError,
        OAuthCredentialError,
        OAuthIdentityError,
    )
    return isinstance(exc, (OAuthExtError, OAuthAuthorizationError, OAuthCredentialError,
                            OAuthIdentityError))


def short_error_hook(previous: Any) -> Any:
    """A ``sys.excepthook`` that ends a run on one of our errors with just its message.

    Pywikibot catches nothing around a script: Python prints the traceback
    (40-50 lines through Pywikibot's request code) and ``comms.http.flush()``
    logs it and repeats the message as CRITICAL. Without ``-debug`` the user
    sees our message alone (it names the key, the site and the command that
    fixes it); the traceback still goes to the ``-log`` file.
    """
    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> Any:
        from pywikibot import config
        if config.debug_log or not is_expected_failure(exc):
            return previous(exc_type, exc, tb)
        import traceback

        import pywikibot
        pywikibot.log(''.join(traceback.format_exception(exc_type, exc, tb)))
        pywikibot.error(str(exc))
        for name in ('last_type', 'last_value', 'last_traceback', 'last_exc'):
            if hasattr(sys, name):   # flush() would print it again, as CRITICAL
                delattr(sys, name)
        return None
    return excepthook


def installed() -> bool:
    """True while Pywikibot runs with our patches."""
    return bool(_originals)


def site_without_login(family: str, code: str, user: str | None) -> Any:
    """``pywikibot.Site(code, family, user=user)`` without its implicit login.

    Creating a site logs in at once, and for an entry whose token is not
    stored yet that fails: exactly the situation ``pwb-oauth authorize`` fixes.
    """
    import pywikibot
    in_flight.defer_login = True
    try:
        return pywikibot.Site(code, family, user=user)
    finally:
        in_flight.defer_login = False


def handle_global_args(args: list[str]) -> list[str]:
    """``pywikibot.handle_args(args)`` as a script calls it; returns the unknown options.

    Without the site handle_args creates at its end: creating a site goes
    online, and the commands decide themselves when (explain never does).
    """
    import pywikibot
    create_site, argvu = pywikibot.Site, pywikibot.argvu
    pywikibot.Site = lambda *args, **kwargs: None
    if not args:   # handle_args reads sys.argv when given nothing
        pywikibot.argvu = argvu[:1]
    try:
        return pywikibot.handle_args(args, do_help=False)
    finally:
        pywikibot.Site, pywikibot.argvu = create_site, argvu


def uninstall() -> None:
    """Put Pywikibot's own functions back."""
    for owner, name, original in _originals.values():
        setattr(owner, name, original)
    _originals.clear()
    resolver.forget()
