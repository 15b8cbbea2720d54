"""The ``Integration``: the one object that owns the patches, the settings and the resolver.

Each patch point, and why it is one, is listed in the README table "What the
plugin changes in Pywikibot". ``install()`` creates the integration (once) and
applies its patches (once); ``uninstall()`` puts Pywikibot's own names back.
"""
from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any

from pwb_oauth_ext.config.settings import Settings
from pwb_oauth_ext.errors import OAuthExtError
from pwb_oauth_ext.integration.context import deferred_login, for_site, login_deferred, no_auth
from pwb_oauth_ext.integration.login import (
    OAuthLoginMixin,
    handle_rejection,
    login_manager_class,
    oauth_logout,
)
from pwb_oauth_ext.integration.resolver import Resolver
from pwb_oauth_ext.integration.session import SessionAuth, configured_authentication
from pwb_oauth_ext.integration.sites import LOGGED_OUT
from pwb_oauth_ext.protocol.mediawiki import is_authorization_refusal

if TYPE_CHECKING:
    from collections.abc import Callable

#: Loggers that log signed headers, signature base strings and tokens at DEBUG.
SECRET_LOGGERS = ('oauthlib', 'requests_oauthlib')


class Patch:
    """One replaced name: ``owner.name`` was ``original`` before we set it to ``replacement``."""

    __slots__ = ('name', 'original', 'owner', 'replacement')

    def __init__(self, owner: Any, name: str, original: Any, replacement: Any) -> None:
        self.owner, self.name, self.original = owner, name, original
        self.replacement = replacement

    def restore(self) -> None:
        setattr(self.owner, self.name, self.original)


class RefusalWarningFilter(logging.Filter):
    """Pywikibot's ``WARNING: API error mwoauth-invalid-authorization...`` goes to the log only.

    Pywikibot warns about every API error before its error hook runs; for an
    OAuth refusal that hook (``handle_rejection``) either retries it quietly or
    raises one error that names the key and the likely cause, with the same
    text. One refusal, one message: the warning is logged at Pywikibot's
    ``log()`` level (VERBOSE), so ``-log`` files keep it and the console does not.
    """

    PREFIX = 'API error mwoauth-invalid-authorization'
    VERBOSE = 18   # pywikibot.logging.VERBOSE: what pywikibot.log() writes

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith(self.PREFIX):
            record.levelno, record.levelname = self.VERBOSE, logging.getLevelName(self.VERBOSE)
        return True


class BelowInfoFilter(logging.Filter):
    """Drops the DEBUG records of oauthlib and requests-oauthlib (signed headers, tokens).

    A filter on those loggers, as requests-oauthlib attaches its own: the levels
    a bot or Pywikibot's ``-debug`` sets stay as they are, and uninstall removes it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


def _replaces(original: Any) -> Callable[[Any], Any]:
    """``functools.wraps``: help() and inspect.signature() show Pywikibot's function."""
    return functools.wraps(original)


class Integration:
    """Pywikibot with the plugin: the patches, the settings of ``enable()``, the resolver."""

    def __init__(self, settings: Settings) -> None:
        self.resolver = Resolver(settings)
        self._patches: list[Patch] = []
        self._log_filter = BelowInfoFilter()
        self._filtered: list[logging.Logger] = []
        self._refusal_filter = RefusalWarningFilter()
        #: The one line saying why nothing was patched (a patch point differs), or None.
        self.refused: str | None = None

    @property
    def settings(self) -> Settings:
        return self.resolver.settings

    def configure(self, settings: Settings) -> None:
        """Take the options of another ``enable(...)`` call (those it gives win)."""
        self.resolver.settings = self.resolver.settings.updated(settings)

    @property
    def installed(self) -> bool:
        return bool(self._patches)

    def original(self, owner: Any, name: str) -> Any:
        """Pywikibot's own ``owner.name``, even after we replaced it."""
        for patch in self._patches:
            if patch.owner is owner and patch.name == name:
                return patch.original
        return getattr(owner, name)

    def patched(self, owner: Any, name: str) -> bool:
        """True when ``owner.name`` is, right now, the replacement this integration set.

        Decided by identity with the patch records, never by where code lives
        (a checkout named ``pwb_oauth_ext`` holds Pywikibot's files too).
        """
        current = getattr(owner, name, None)
        return any(patch.owner is owner and patch.name == name
                   and current is patch.replacement for patch in self._patches)

    def patches(self) -> list[Patch]:
        """The patch records, in the order they were applied (empty when not installed)."""
        return list(self._patches)

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._patches.append(Patch(owner, name, getattr(owner, name), replacement))
        setattr(owner, name, replacement)

    def install(self) -> None:
        """Apply every patch; a second call does nothing."""
        if self.installed or self.refused:
            return
        if not self._internals_check_out():
            return
        from pywikibot import login as pywikibot_login
        from pywikibot.comms import http
        from pywikibot.data import api
        from pywikibot.site import _apisite
        self._hide_secret_logs()
        logging.getLogger('pywiki').addFilter(self._refusal_filter)
        self._patch_request(http)
        self._patch_fetch(http)
        self._patch_get_authentication(http)
        self._patch(http.session, 'auth', SessionAuth(self.resolver))
        api_site = _apisite.APISite
        manager_class = login_manager_class(pywikibot_login.ClientLoginManager, self.resolver)
        self._patch_is_oauth_token_available(api_site)
        self._patch_login(api_site, pywikibot_login, manager_class)
        self._patch_logout(api_site)
        self._patch_api_error(api.Request)
        self._patch(pywikibot_login, 'ClientLoginManager', manager_class)
        self._patch(sys, 'excepthook', short_error_hook(sys.excepthook))

    def _internals_check_out(self) -> bool:
        """Check every patch point before touching any (patch_points); say what differs.

        On a difference nothing is patched: ``refused`` holds the one line, printed
        now and raised by every OAuth1/OAuth2 entry Pywikibot reads (never a silent
        password login or an unsigned request). A version outside the tested range
        whose internals check out is enabled with one warning, unless accepted.
        """
        from pwb_oauth_ext.integration import patch_points
        version = patch_points.pywikibot_version()
        problem = patch_points.find_problem()
        if problem is not None:
            self.refused = patch_points.refusal(version, problem)
            _warn(self.refused)
            return False
        if not (patch_points.in_tested_range(version)
                or patch_points.accepted(version, self.settings.accept_pywikibot)):
            _warn(patch_points.untested_warning(version))
        return True

    def uninstall(self) -> None:
        """Put Pywikibot's own names back and drop the log filter; idempotent."""
        self.refused = None
        while self._patches:
            self._patches.pop().restore()
        for logger in self._filtered:
            logger.removeFilter(self._log_filter)
        self._filtered.clear()
        logging.getLogger('pywiki').removeFilter(self._refusal_filter)
        self.resolver.forget()

    def _hide_secret_logs(self) -> None:
        """Attach the filter to oauthlib's and requests-oauthlib's loggers and their children.

        A logger's filter sees only the records logged on it, not its children's,
        so every child logger gets it. Pywikibot imports requests-oauthlib (and so
        oauthlib's OAuth 1.0a and 2.0 modules) before its site module: they exist now.
        """
        import requests_oauthlib  # noqa: F401  (creates the loggers if Pywikibot did not)
        manager = logging.Logger.manager
        names = [name for name in list(manager.loggerDict)
                 if name.split('.', 1)[0] in SECRET_LOGGERS]
        for name in sorted(set(names) | set(SECRET_LOGGERS)):
            logger = logging.getLogger(name)
            logger.addFilter(self._log_filter)
            self._filtered.append(logger)

    def _patch_request(self, http: Any) -> None:
        original_request = self.original(http, 'request')

        @_replaces(original_request)
        def request(site: Any, uri: str | None = None, headers: dict | None = None,
                    **kwargs: Any) -> Any:
            with for_site(site):
                return original_request(site, uri=uri, headers=headers, **kwargs)
        self._patch(http, 'request', request)

    def _patch_fetch(self, http: Any) -> None:
        original_fetch = self.original(http, 'fetch')

        @_replaces(original_fetch)
        def fetch(*args: Any, **kwargs: Any) -> Any:
            # Pywikibot 11.9: an explicit auth=None turns configured authentication
            # off for this request, so the session-level auth must not add ours.
            # An explicit auth object wins over the session's by requests' own rules.
            # Pywikibot 10.x raises TypeError for any auth= before sending anything.
            if 'auth' not in kwargs or kwargs['auth'] is not None:
                return original_fetch(*args, **kwargs)
            with no_auth():
                return original_fetch(*args, **kwargs)
        self._patch(http, 'fetch', fetch)

    def _patch_get_authentication(self, http: Any) -> None:
        import inspect
        original_get_authentication = self.original(http, 'get_authentication')
        fetch_code = inspect.unwrap(self.original(http, 'fetch')).__code__
        resolver = self.resolver

        @_replaces(original_get_authentication)
        def get_authentication(uri: str) -> Any:
            # Pywikibot's fetch asks for the request it is about to send: the session
            # auth attaches (and signs) instead, so answering would sign twice. The
            # caller is known by its code, which also catches `from ... import fetch`.
            if sys._getframe(1).f_code is fetch_code:
                return None
            return configured_authentication(uri, original_get_authentication, resolver)
        self._patch(http, 'get_authentication', get_authentication)

    def _patch_is_oauth_token_available(self, api_site: type) -> None:
        original_is_oauth = self.original(api_site, 'is_oauth_token_available')
        resolver = self.resolver

        @_replaces(original_is_oauth)
        def is_oauth_token_available(self: Any) -> bool:
            if getattr(self, LOGGED_OUT, False):
                return False
            return resolver.oauth_match(self) is not None
        self._patch(api_site, 'is_oauth_token_available', is_oauth_token_available)

    def _patch_login(self, api_site: type, pywikibot_login: Any, manager_class: type) -> None:
        from pywikibot.tools import normalize_username
        original_login = self.original(api_site, 'login')
        resolver = self.resolver

        @_replaces(original_login)
        def login(self: Any, autocreate: bool = False, user: str | None = None, *,
                  cookie_only: bool = False) -> None:
            # Pywikibot's login() consults its login manager only without OAuth and
            # without cookie_only (Site() creation): route OAuth sites to it here, so
            # Site() already checks the identity and never edits as another account.
            if cookie_only and login_deferred.get():
                return
            if user:
                self._username = normalize_username(user)
            resolver.check_entries()
            if resolver.oauth_match(self) is None:
                return original_login(self, autocreate, user, cookie_only=cookie_only)
            cls = pywikibot_login.ClientLoginManager
            if not (isinstance(cls, type) and issubclass(cls, OAuthLoginMixin)):
                cls = manager_class
            cls(site=self, user=self.username()).login(retry=True, autocreate=autocreate)
        self._patch(api_site, 'login', login)

    def _patch_logout(self, api_site: type) -> None:
        original_logout = self.original(api_site, 'logout')
        resolver = self.resolver

        @_replaces(original_logout)
        def logout(self: Any) -> None:
            if getattr(self, LOGGED_OUT, False) or resolver.oauth_match(self) is None:
                return original_logout(self)
            oauth_logout(self)
        self._patch(api_site, 'logout', logout)

    def _patch_api_error(self, request_class: type) -> None:
        from pwb_oauth_ext.integration.errors import OAuthAuthorizationError
        original_api_error = self.original(request_class, '_internal_api_error')
        resolver = self.resolver

        @_replaces(original_api_error)
        def internal_api_error(self: Any, code: str, error: dict, result: Any) -> bool:
            if is_authorization_refusal(code):
                resolver.check_entries()
                return handle_rejection(self, error, OAuthAuthorizationError, resolver)
            return original_api_error(self, code, error, result)
        self._patch(request_class, '_internal_api_error', internal_api_error)


def _warn(line: str) -> None:
    """One ``WARNING:`` line as Pywikibot prints them (its logging is not set up yet)."""
    sys.stderr.write(f'WARNING: {line}\n')
    sys.stderr.flush()


_integration: Integration | None = None


def integration() -> Integration:
    """The process's integration, created (not installed) on first use."""
    global _integration
    if _integration is None:
        _integration = Integration(Settings())
    return _integration


def install(settings: Settings | None = None) -> Integration:
    """Patch Pywikibot now (idempotent), with the settings of ``enable()`` if given."""
    current = integration()
    if settings is not None:
        current.configure(settings)
    current.install()
    return current


def uninstall() -> None:
    """Put Pywikibot's own functions back."""
    if _integration is not None:
        _integration.uninstall()


def installed() -> bool:
    """True while Pywikibot runs with our patches."""
    return _integration is not None and _integration.installed


def refusal() -> str | None:
    """Why enable() patched nothing (a Pywikibot internal differs), or None."""
    return None if _integration is None else _integration.refused


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
    sees our message and one line for each exception it was raised from or while
    handling (a bot's own error included); the full traceback goes to the
    ``-log`` file, or without ``-log`` to a 0600 file in ``logs/``, named on the
    line before the message (``integration/error_report``).
    """
    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> Any:
        from pywikibot import config
        if not is_expected_failure(exc):
            return previous(exc_type, exc, tb)
        from pwb_oauth_ext.integration.error_report import full_traceback, report_short
        if config.debug_log:   # Python's, plus a bot's error our 'from None' would hide
            sys.stderr.write(full_traceback(exc_type, exc, tb))
            return None
        report_short(exc_type, exc, tb)
        for name in ('last_type', 'last_value', 'last_traceback', 'last_exc'):
            if hasattr(sys, name):   # flush() would print it again, as CRITICAL
                delattr(sys, name)
        return None
    return excepthook


def site_without_login(family: str, code: str, user: str | None) -> Any:
    """``pywikibot.Site(code, family, user=user)`` without its implicit login.

    Creating a site logs in at once, and for an entry whose token is not
    stored yet that fails: exactly the situation ``pwb-oauth authorize`` fixes.
    """
    import pywikibot
    with deferred_login():
        return pywikibot.Site(code, family, user=user)


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
