"""The one module that touches Pywikibot internals.

``install()`` (run by ``enable()`` once Pywikibot's site module is loaded)
replaces a handful of Pywikibot names, each listed with the reason in the
README table "What the plugin changes in Pywikibot":

* ``comms.http.session.auth``: a session-level auth that picks the matching
  ``authenticate`` entry for every request (Pywikibot 10 and 11 alike);
  ``http.request`` tells it which site (and so which account) is in flight,
  ``http.fetch`` honours an explicit ``auth=None``, and ``http.get_authentication``
  answers callers as Pywikibot does but gives Pywikibot's own fetch nothing to add;
* ``login.ClientLoginManager``: a subclass that logs in with the OAuth entry
  and never with a password; ``APISite.login`` routes OAuth sites to it;
* ``APISite.is_oauth_token_available`` / ``logout``: OAuth-only logout;
* ``api.Request._internal_api_error``: what to do when the wiki refuses a token;
* ``sys.excepthook``: our own errors end a run with their message alone.

Replaced functions keep Pywikibot's name, signature and docstring.
Nothing here imports Pywikibot at module level, and user-config.py never
imports this module: ``enable()`` only arms ``_hook``, which imports it once
Pywikibot's site module has loaded.
"""
from __future__ import annotations

import functools
import logging
import re
import sys
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pwb_oauth_ext.config.credentials import (
    BasicAuth,
    OAuth1,
    OAuth2,
    credential_from_config,
    resolve_secret,
)
from pwb_oauth_ext.errors import ConfigError, OAuthExtError
from pwb_oauth_ext.protocol.hosts import HostTable, Match, split_url

if TYPE_CHECKING:
    from pwb_oauth_ext.config.credentials import AnyCredential
    from pwb_oauth_ext.protocol.grants import CentralWiki
    from pwb_oauth_ext.protocol.store import GrantKey

_LOGGED_OUT = '_pwb_oauth_logged_out'
_EXPIRED_TIMESTAMP = re.compile(r'Expired timestamp, yours (\d+), ours (\d+)')
_NO_KEY = object()  # stands for "no such key" in snapshot comparisons


class Resolver:
    """Turns ``config.authenticate`` into a host table and auth objects, lazily."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._table: HostTable[AnyCredential] | None = None
        self._source: dict | None = None   # config.authenticate itself, never a copy
        self._snapshot: dict = {}          # its items when the table was built
        self._size = -1
        self._last_key: Any = _NO_KEY
        self._auth_cache: dict[tuple[Any, ...], Any] = {}
        #: One auth object per stored grant, shared by every wiki that uses it.
        self._grant_auth: dict[tuple[GrantKey, type], Any] = {}

    def table(self) -> HostTable[AnyCredential]:
        """The host table for the current ``config.authenticate``.

        The dict stays the one Pywikibot and the user hold. A change is noticed
        in O(1), whatever the number of keys: another dict, another length, or
        another last-inserted key (any new key is inserted last). A value
        replaced under an existing key is noticed when that key matches
        (``match``); what these miss (keys removed and added back to the same
        length and last key) ``check_entries()`` finds at login and after a refusal.
        """
        from pywikibot import config
        entries = config.authenticate
        if (entries is not self._source or len(entries) != self._size
                or next(reversed(entries), _NO_KEY) != self._last_key):
            self._rebuild(entries)
        assert self._table is not None
        return self._table

    def _rebuild(self, entries: dict) -> None:
        with self._lock:
            snapshot = dict(entries)
            table = HostTable({key: credential_from_config(key, value)
                               for key, value in snapshot.items()})
            if self._source is None:
                _warn_readable_user_config(entries)
            self._table, self._source, self._snapshot = table, entries, snapshot
            self._size, self._last_key = len(snapshot), next(reversed(snapshot), _NO_KEY)
            self._auth_cache.clear()
            self._grant_auth.clear()

    def check_entries(self) -> None:
        """Compare every item with the snapshot (O(n)): for the rare events, not per request."""
        from pywikibot import config
        entries = config.authenticate
        if entries is not self._source or entries != self._snapshot:
            self._rebuild(entries)

    def configured_value(self, match: Match[AnyCredential]) -> Any:
        """The ``authenticate`` value, as written, of a key ``match`` returned."""
        return self._snapshot.get(match.key.original)

    def match(self, url: str, account: str | None) -> Match[AnyCredential] | None:
        """The winning entry for a URL and account, or None."""
        host, port = split_url(url)
        found = self.table().lookup(host, port, account)
        if found is not None:   # the matched key must still hold the value the table has
            key = found.key.original
            old = self._snapshot.get(key, _NO_KEY)
            new = self._source.get(key, _NO_KEY)  # type: ignore[union-attr]
            if new is not old and new != old:
                self._rebuild(self._source)  # type: ignore[arg-type]
                found = self.table().lookup(host, port, account)
        return found

    def auth_for(self, match: Match[AnyCredential], account: str | None, url: str,
                 site: Any = None) -> Any:
        """The requests auth object for a matched entry and account on a wiki.

        Remembered per (key, account, wiki) for the hot path; entries that use
        a stored grant share one auth object per grant (central wiki, client,
        account), so every wiki of a farm uses one token and one refresh.
        """
        cache_key = (match.key.original, account, split_url(url))
        auth = self._auth_cache.get(cache_key)
        if auth is None:
            with self._lock:
                auth = self._auth_cache.get(cache_key)
                if auth is None:
                    auth = self._make_auth(match, account, url, site)
                    self._auth_cache[cache_key] = auth
        return auth

    def grant_of(self, match: Match[AnyCredential], account: str | None, url: str,
                 site: Any = None) -> tuple[CentralWiki, GrantKey] | None:
        """The central wiki and grant key of an entry that uses a stored grant, else None."""
        from pwb_oauth_ext.protocol.grants import central_wiki_of
        from pwb_oauth_ext.protocol.store import GrantKey
        cred = match.value
        if isinstance(cred, OAuth1) and not cred.has_access_token:
            client_id = resolve_secret(cred.consumer_key, match.key.original)
        elif isinstance(cred, OAuth2) and cred.grant != 'owner_only':
            assert cred.client_id is not None
            client_id = cred.client_id
        else:
            return None
        central = central_wiki_of(cred, wiki_script_url(site, url),
                                  wikimedia=is_wikimedia_wiki(site, url))
        return central, GrantKey(central.host, client_id, account)

    def _make_auth(self, match: Match[AnyCredential], account: str | None, url: str,
                   site: Any) -> Any:
        from pwb_oauth_ext.protocol.auth import HTTPBasicAuth, OAuth1Auth
        key = match.key.original
        cred = match.value
        if isinstance(cred, BasicAuth):
            return HTTPBasicAuth(cred.username, resolve_secret(cred.password, key))
        grant = self.grant_of(match, account, url, site)
        if grant is not None:
            grant = self._stored_before_grants(grant, url)
        if grant is not None and (grant[1], type(cred)) in self._grant_auth:
            return self._grant_auth[(grant[1], type(cred))]
        if isinstance(cred, OAuth1):
            ck = resolve_secret(cred.consumer_key, key)
            cs = resolve_secret(cred.consumer_secret, key)
            if cred.has_access_token:
                assert cred.access_token is not None and cred.access_secret is not None
                return OAuth1Auth(ck, cs, resolve_secret(cred.access_token, key),
                                  resolve_secret(cred.access_secret, key))
            assert grant is not None
            found = self._stored_grant(grant[1])
            if found is None:
                whose = f' of {account}' if account else ''
                raise ConfigError(
                    f'authenticate[{key!r}] has no access token and no grant{whose} is stored'
                    f' for consumer {ck[:6]}... on {grant[1].central_wiki}:'
                    f' {reauthorize_hint(site, account)}')
            auth = OAuth1Auth(ck, cs, found[1]['access_token'], found[1]['access_secret'])
            auth.grant = found[0]
        elif isinstance(cred, OAuth2):
            from pwb_oauth_ext.protocol.grants import CentralWiki, make_bearer_auth
            central = grant[0] if grant is not None else CentralWiki('', '')
            auth = make_bearer_auth(cred, config_key=key, central=central,
                                    grant=grant[1] if grant is not None else None,
                                    store=self.store(),
                                    transport=pywikibot_transport,
                                    reauthorize_hint=reauthorize_hint(site, account))
            if grant is None:
                return auth
        else:
            raise ConfigError(f'authenticate[{key!r}]: unsupported credential {cred!r}')
        self._grant_auth[(grant[1], type(cred))] = auth
        return auth

    def adopt(self, site: Any, match: Match[AnyCredential], name: str,
              used_account: str | None) -> None:
        """The wiki named the site's user: its grant (if unnamed) is stored under that name.

        The auth object the site used stays in use for the named account, so
        a client-credentials token fetched before the name was known is not
        fetched again (in this process or in any other).
        """
        url = site_url(site)
        auth = self.auth_for(match, used_account, url, site)
        source = getattr(auth, 'source', None)
        if source is not None and hasattr(source, 'adopt_account'):
            source.adopt_account(name)
        with self._lock:
            self._auth_cache.setdefault((match.key.original, name, split_url(url)), auth)
            grant = self.grant_of(match, name, url, site)
            if grant is not None:
                self._grant_auth.setdefault((grant[1], type(match.value)), auth)

    def store_path(self) -> Path:
        """The token store file: set by enable(), else in Pywikibot's base directory."""
        from pywikibot import config

        from pwb_oauth_ext import _settings
        if 'token_store' in _settings and isinstance(_settings['token_store'], str) \
                and '://' not in _settings['token_store']:
            return Path(_settings['token_store'])
        return Path(config.base_dir) / 'pwb-oauth-tokens.json'

    def store(self) -> Any:
        """The token store in use: the database of ``enable(token_store=URL)``, else the file."""
        from pwb_oauth_ext import _settings
        from pwb_oauth_ext.protocol.store import open_store
        setting = _settings.get('token_store')
        if setting is None or (isinstance(setting, str) and '://' not in setting):
            return open_store(self.store_path())
        import pywikibot
        return open_store(setting, password=_settings.get('token_store_password'),
                          warn=pywikibot.warning)

    def _stored_before_grants(self, grant: tuple[CentralWiki, GrantKey],
                              url: str) -> tuple[CentralWiki, GrantKey]:
        """A grant stored by a release before grants, under the wiki's own host, keeps working.

        Such stores keyed tokens by wiki host; on Wikimedia the central wiki is
        now Meta, so a token kept for en.wikipedia.org is looked up there
        unless the central wiki has a grant of that client already.
        """
        from pwb_oauth_ext.protocol.grants import store_host
        central, key = grant
        own_host = store_host(url)
        if own_host == key.central_wiki:
            return grant
        store = self.store()
        if store.grants_of(key.central_wiki, key.client_id) \
                or not store.grants_of(own_host, key.client_id):
            return grant
        return central, key._replace(central_wiki=own_host)

    def _stored_grant(self, key: GrantKey) -> tuple[GrantKey, dict] | None:
        """The stored grant for the key (the account's, or the only one there is)."""
        return self.store().find(key)

    def forget(self) -> None:
        """Drop cached auth objects (tokens are re-read on next use)."""
        with self._lock:
            self._auth_cache.clear()
            self._grant_auth.clear()


resolver = Resolver()


def _warn_readable_user_config(entries: Any) -> None:
    """Warn once when user-config.py holds inline secrets that others can read."""
    import pywikibot
    from pywikibot import config

    from pwb_oauth_ext.config.user_config import user_config_warning
    path = Path(config.base_dir) / config.user_config_file
    message = user_config_warning(path, entries)
    if message:
        pywikibot.warning(message)


def wiki_script_url(site: Any, url: str) -> str:
    """The script URL of the wiki a request goes to (its own, not the site's in flight)."""
    if site is not None and split_url(site_url(site)) == split_url(url):
        return site.base_url(site.scriptpath())
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return f'{parts.scheme}://{parts.netloc}{parts.path.rsplit("/", 1)[0]}'


def is_wikimedia_wiki(site: Any, url: str) -> bool:
    """True when the request goes to the site's own host and the site is a Wikimedia wiki."""
    if site is None or split_url(site_url(site)) != split_url(url):
        return False
    from pywikibot.family import WikimediaFamily
    return isinstance(site.family, WikimediaFamily)


def reauthorize_hint(site: Any, account: str | None) -> str:
    """The command that obtains a token for this site."""
    if site is None:
        return 'run pwb-oauth authorize for that site'
    user = f' -user:{account}' if account else ''
    return f'run: pwb-oauth authorize -site:{site.family.name}:{site.code}{user}'


def pywikibot_transport(url: str, data: dict[str, str], headers: dict[str, str]) -> Any:
    """POST a token request through Pywikibot's session (User-Agent, SSL, timeouts), no auth.

    Redirects are off: a 307/308 would re-POST the client secret, refresh token or
    code verifier to wherever it points (the caller turns a 3xx into an error).
    """
    from pywikibot.comms import http

    from pwb_oauth_ext.errors import OAuthFlowError
    with no_auth():
        response = http.fetch(url, method='POST', data=data, headers=headers,
                              default_error_handling=False, allow_redirects=False)
    if isinstance(response, Exception):
        raise OAuthFlowError(f'Cannot reach the OAuth 2.0 token endpoint {url}:'
                             f' {type(response).__name__}') from None
    return response


# --- the patches -----------------------------------------------------------

_originals: dict[str, tuple[Any, str, Any]] = {}


def _label(owner: Any, name: str) -> str:
    return f'{getattr(owner, "__name__", type(owner).__name__)}.{name}'


def _patch(owner: Any, name: str, replacement: Any) -> None:
    label = _label(owner, name)
    if label not in _originals:
        _originals[label] = (owner, name, getattr(owner, name))
    setattr(owner, name, replacement)


def site_url(site: Any, uri: str | None = None) -> str:
    """The URL a site request goes to (for host matching)."""
    return site.base_url(uri or site.apipath())


def site_match(site: Any) -> Match[AnyCredential] | None:
    """The entry that applies to this site and its account."""
    return resolver.match(site_url(site), site.username())


def oauth_match(site: Any) -> Match[AnyCredential] | None:
    """The site's OAuth entry, or None when it has none (or basic auth)."""
    match = site_match(site)
    return match if match is not None and match.value.is_oauth else None


_context = threading.local()  # .site in flight; .no_auth; .defer_login


class _NoAuth:
    """Within ``with no_auth():`` nothing of ours is attached (token endpoint requests)."""

    def __enter__(self) -> None:
        _context.no_auth = True

    def __exit__(self, *exc_info: Any) -> None:
        _context.no_auth = False


no_auth = _NoAuth


def _credential_error(text: str, cause: Exception | None = None) -> Exception:
    from pwb_oauth_ext.errors import TokenStoreError
    from pwb_oauth_ext.integration.errors import OAuthCredentialError, OAuthTokenStoreError
    if isinstance(cause, TokenStoreError):
        return OAuthTokenStoreError(text)
    return OAuthCredentialError(text)


class SessionAuth:
    """Installed as ``http.session.auth``: picks the credential for each request.

    A session-level auth applies to every request Pywikibot sends without an
    explicit ``auth`` (Pywikibot 10 and 11 alike), knows the site in flight
    through ``_context`` (set by the patched ``http.request``), and so can
    choose the ``User@host`` entry of the site's account. Requests to a host
    without a matching entry get nothing.
    """

    def __call__(self, request: Any) -> Any:
        if getattr(_context, 'no_auth', False):
            return request
        site = getattr(_context, 'site', None)
        account = None
        if site is not None:
            if getattr(site, _LOGGED_OUT, False) or getattr(site, '_oauth_disabled', False):
                return request
            account = site.username()
        # request.url is the prepared URL; split_url reads it with urllib3's parser,
        # so the entry is chosen for the host the connection really goes to.
        try:
            if _logged_out_sites and _is_logged_out_host(site, request.url):
                return request
            match = resolver.match(request.url, account)
        except ValueError:
            return request  # no host we could match: requests refuses to send it anyway
        except OAuthExtError as exc:
            raise _credential_error(str(exc), exc) from None
        if match is None or (match.key.kind == 'any' and not _is_site_host(site, request.url)):
            return request
        try:
            return resolver.auth_for(match, account, request.url, site)(request)
        except OAuthExtError as exc:
            text = str(exc)
            if site is not None:
                text = text.replace('usernames[FAMILY][CODE]',
                                    f'usernames[{site.family.name!r}][{site.code!r}]')
            if 'authenticate[' not in text:
                text = f'authenticate[{match.key.original!r}]: {text}'
            raise _credential_error(text, exc) from None

    def __repr__(self) -> str:
        return 'SessionAuth(config.authenticate via pwb_oauth_ext)'


def _is_site_host(site: Any, url: str) -> bool:
    """True for a request to the host and port of the wiki in flight.

    A bare ``*`` entry applies only there: never to another port of that host,
    SPARQL endpoints, toolforge, upload-by-URL or external links fetched without
    a site.
    """
    return site is not None and split_url(url) == split_url(site_url(site))


#: Sites logged out with ``site.logout()`` (weakly held): nothing of ours goes to
#: their host and port, with a site or without, until ``site.login()``.
_logged_out_sites: list[weakref.ref] = []
_logged_out_lock = threading.Lock()


def _is_logged_out_host(site: Any, url: str) -> bool:
    """True when ``url`` goes to a wiki logged out in this process.

    A logged-in site on the same host (another account) still gets its own
    credentials; anything else, site-less ``http.fetch`` included, gets none.
    """
    target = split_url(url)
    if site is not None and split_url(site_url(site)) == target:
        return False
    blocked = False
    with _logged_out_lock:
        alive = []
        for ref in _logged_out_sites:
            logged_out = ref()
            if logged_out is None or not getattr(logged_out, _LOGGED_OUT, False):
                continue  # gone, or logged in again
            alive.append(ref)
            if split_url(site_url(logged_out)) == target:
                blocked = True
        _logged_out_sites[:] = alive
    return blocked


def configured_authentication(uri: str, upstream: Any) -> Any:
    """What the public ``http.get_authentication(uri)`` answers with the plugin.

    The ``authenticate`` value of the key the plugin's matcher picks for the URL
    (no account, so ``User@host`` keys never apply), as Pywikibot returns it:
    tuples and lists as written; ``OAuth1`` with four plain strings as the
    4-tuple Pywikibot itself would use; any other ``OAuth1``/``OAuth2`` object
    as the object (no secret is resolved). A config the plugin refuses gets
    Pywikibot's own answer (its warning included; every request raises the
    ConfigError anyway), and so does a URL whose host cannot be read.
    """
    try:
        match = resolver.match(uri, None)
    except (ConfigError, ValueError):   # a refused config, or a URL no host can be read from
        return upstream(uri)
    if match is None:
        return None
    value = resolver.configured_value(match)
    if isinstance(value, OAuth1) and value.has_access_token:
        fields = (value.consumer_key, value.consumer_secret, value.access_token,
                  value.access_secret)
        if all(isinstance(field, str) for field in fields):
            return fields
    return value


class _OAuthLoginMixin:
    """Pywikibot's ClientLoginManager, except that an OAuth entry is never a password login.

    Installed as ``pywikibot.login.ClientLoginManager`` (mixed before it, see
    ``login_manager_class``): ``APISite.login`` looks the class up there at call
    time, for ``site.login()``, ``pwb login`` and the login script alike. When an
    OAuth entry matches the site and account, ``login()`` proves the identity
    with one userinfo request and never reads a password file or asks for one;
    otherwise it is Pywikibot's own ClientLoginManager.
    """

    site: Any
    username: str | None

    def __init__(self, password: str | None = None, site: Any = None,
                 user: str | None = None) -> None:
        import pywikibot
        site = site or pywikibot.Site()
        match = resolver.match(site_url(site), user or site.username())
        self.oauth_entry = match if match is not None and match.value.is_oauth else None
        if self.oauth_entry is None:
            super().__init__(password, site, user)  # type: ignore[call-arg]
            return
        self.site = site
        self.password = None
        self.login_name = self.username = user or site.username()

    def login(self, retry: bool = False, autocreate: bool = False) -> bool:
        """Log in with the OAuth entry, or as Pywikibot's ClientLoginManager does."""
        if self.oauth_entry is None:
            return super().login(retry=retry, autocreate=autocreate)  # type: ignore[misc]
        from pwb_oauth_ext.integration.errors import OAuthIdentityError
        self._oauth_login(self.oauth_entry, OAuthIdentityError)
        self.username = self.login_name = self.site.username()
        return True

    def _oauth_login(self, match: Match[AnyCredential], identity_error: type) -> None:
        """Prove the identity with one userinfo request; never send a password."""
        from pywikibot.login import LoginStatus
        site = self.site
        if getattr(site, _LOGGED_OUT, False):
            setattr(site, _LOGGED_OUT, False)
        if site.logged_in():
            site._loginstatus = LoginStatus.AS_USER
            return
        site._loginstatus = LoginStatus.IN_PROGRESS
        try:
            del site.userinfo
            info = site.userinfo
            if 'anon' in info or not info.get('id'):
                cred = match.value
                if isinstance(cred, OAuth2) and cred.grant == 'client_credentials':
                    raise identity_error(
                        f'OAuth login on {site} failed: the wiki gives the client credentials'
                        f' token of authenticate[{match.key.original!r}] (client'
                        f' {cred.public_id()}...) no user, so every request is anonymous. That'
                        ' is what MediaWiki does for a client that is not owner-only: use an'
                        ' owner-only client for client credentials, or the authorization-code'
                        ' grant (OAuth2(client_id=..., client_secret=...) and pwb-oauth'
                        ' authorize).')
                raise identity_error(
                    f'OAuth login on {site} failed: the wiki treated the request as'
                    f' anonymous although authenticate[{match.key.original!r}] applies.'
                    ' A proxy may strip the Authorization header.')
            name = info['name']
            configured = site.username()
            if configured is None:
                resolver.adopt(site, match, name, None)
                site._username = name
            elif configured == name:
                resolver.adopt(site, match, name, configured)
            else:
                raise identity_error(
                    f'OAuth login on {site}: the token of authenticate[{match.key.original!r}]'
                    f' ({match.reason}) belongs to {name!r}, but the configured user is'
                    f' {configured!r}. Set'
                    f" usernames[{site.family.name!r}][{site.code!r}] = {name!r}, or add an"
                    f" entry authenticate['{configured}@{match.key.host or '*'}'] with"
                    f" {configured}'s own token.")
        except BaseException:
            site._loginstatus = LoginStatus.NOT_LOGGED_IN
            raise
        site._loginstatus = LoginStatus.AS_USER


_login_manager_classes: dict[type, type] = {}


def login_manager_class(base: type) -> type:
    """``OAuthClientLoginManager``: our mixin before Pywikibot's ClientLoginManager ``base``."""
    cls = _login_manager_classes.get(base)
    if cls is None:
        cls = type('OAuthClientLoginManager', (_OAuthLoginMixin, base), {
            '__module__': __name__, '__doc__': _OAuthLoginMixin.__doc__})
        _login_manager_classes[base] = cls
    return cls


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
        previous = getattr(_context, 'site', None)
        _context.site = site
        try:
            return original_request(site, uri=uri, headers=headers, **kwargs)
        finally:
            _context.site = previous

    @_replaces(original_fetch)
    def fetch(*args: Any, **kwargs: Any) -> Any:
        # Pywikibot 11.9: an explicit auth=None turns configured authentication
        # off for this request, so the session-level auth must not add ours.
        # An explicit auth object wins over the session's by requests' own rules.
        # Pywikibot 10.x raises TypeError for any auth= before sending anything.
        if 'auth' not in kwargs or kwargs['auth'] is not None:
            return original_fetch(*args, **kwargs)
        previous = getattr(_context, 'no_auth', False)
        _context.no_auth = True
        try:
            return original_fetch(*args, **kwargs)
        finally:
            _context.no_auth = previous

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
        if getattr(self, '_oauth_disabled', False) or getattr(self, _LOGGED_OUT, False):
            return False
        return oauth_match(self) is not None

    @_replaces(original_login)
    def login(self: Any, autocreate: bool = False, user: str | None = None, *,
              cookie_only: bool = False) -> None:
        # Pywikibot's login() consults its login manager only without OAuth and
        # without cookie_only (Site() creation): route OAuth sites to it here, so
        # Site() already checks the identity and never edits as another account.
        if cookie_only and getattr(_context, 'defer_login', False):
            return
        if user:
            self._username = normalize_username(user)
        resolver.check_entries()
        if oauth_match(self) is None:
            return original_login(self, autocreate, user, cookie_only=cookie_only)
        cls = pywikibot_login.ClientLoginManager
        if not (isinstance(cls, type) and issubclass(cls, _OAuthLoginMixin)):
            cls = manager_class
        cls(site=self, user=self.username()).login(retry=True, autocreate=autocreate)

    @_replaces(original_logout)
    def logout(self: Any) -> None:
        if getattr(self, _LOGGED_OUT, False) or oauth_match(self) is None:
            return original_logout(self)
        _oauth_logout(self)

    @_replaces(original_api_error)
    def internal_api_error(self: Any, code: str, error: dict, result: Any) -> bool:
        if code.startswith('mwoauth-invalid-authorization'):
            resolver.check_entries()
            return _handle_rejection(self, error, OAuthAuthorizationError)
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
    _context.defer_login = True
    try:
        return pywikibot.Site(code, family, user=user)
    finally:
        _context.defer_login = False


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


# --- login, logout, refusals -------------------------------------------------

def _oauth_logout(site: Any) -> None:
    """Forget the session locally: MediaWiki refuses action=logout under OAuth."""
    import pywikibot
    from pywikibot.comms import http
    from pywikibot.login import LoginStatus

    user = site.username()
    setattr(site, _LOGGED_OUT, True)
    with _logged_out_lock:
        if not any(ref() is site for ref in _logged_out_sites):
            _logged_out_sites.append(weakref.ref(site))
    site._loginstatus = LoginStatus.NOT_LOGGED_IN
    del site.userinfo
    site.tokens.clear()
    host = split_url(site_url(site))[0]
    for cookie in list(http.cookie_jar):
        if cookie.domain.lstrip('.') == host or cookie.domain.endswith('.' + host):
            http.cookie_jar.clear(cookie.domain, cookie.path, cookie.name)
    # One quiet line: `pwb login -logout` says "Logged out of ..." itself.
    pywikibot.log(f'Logged out of {site} in this process: OAuth credentials for {user} are'
                  ' no longer sent (revoke the grant on Special:OAuthManageMyGrants to end'
                  ' it for good; site.login() uses them again).')


def _handle_rejection(request: Any, error: dict, authorization_error: type) -> bool:
    """Retry once after a replayed nonce, a clock skew or a renewable token; else raise."""
    import pywikibot

    from pwb_oauth_ext.protocol.auth import OAuth1Auth

    info = str(error.get('info', ''))
    site = request.site
    tried: set[str] = request.__dict__.setdefault('_pwb_oauth_retries', set())
    match = oauth_match(site)
    url = site_url(site)
    auth = resolver.auth_for(match, site.username(), url, site) if match else None

    if error.get('code') == WRONG_WIKI:
        raise authorization_error(_wrong_wiki_message(site, match, auth, info))
    if 'Nonce already used' in info and 'nonce' not in tried:
        tried.add('nonce')
        pywikibot.log(f'OAuth nonce reused on {site}; retrying once with a new nonce')
        return True
    skew = _EXPIRED_TIMESTAMP.search(info)
    if skew and isinstance(auth, OAuth1Auth) and 'clock' not in tried:
        tried.add('clock')
        auth.correct_clock(int(skew[1]), int(skew[2]))
        pywikibot.warning(f'Clock differs from {site} by {int(skew[2]) - int(skew[1])} s;'
                          ' signing with the wiki\'s time from now on. Fix the clock (NTP).')
        return True
    renew = getattr(auth, 'renew_after_rejection', None)
    if renew is not None and 'renew' not in tried:
        tried.add('renew')
        if renew():
            return True
    raise authorization_error(_rejection_message(site, match, info))


_LIKELY_CAUSES = (
    ('Invalid signature', 'the consumer secret or access secret is wrong, or the wiki'
     ' computes signatures for another URL (http/https, host name or proxy)'),
    ('Invalid consumer', 'the consumer key is wrong, or the consumer is not approved,'
     ' disabled, or registered for another wiki'),
    ('No approved grant', 'the access token is wrong or was revoked, or belongs to'
     ' another consumer'),
    ('Expired timestamp', 'this computer\'s clock is off by more than 5 minutes'),
    ('Nonce already used', 'a request was replayed (a proxy retrying it?)'),
    ('Invalid access token', 'the bearer token expired, was revoked or was damaged;'
     ' for an authorization-code grant run pwb-oauth authorize for this site again'),
)


WRONG_WIKI = 'mwoauth-invalid-authorization-wrong-wiki'


def _wrong_wiki_message(site: Any, match: Match[AnyCredential] | None, auth: Any,
                        info: str) -> str:
    """The consumer is registered for one wiki and this is another: say which and what to do."""
    text = _rejection_message(site, match, info)
    grant = getattr(auth, 'grant', None) or getattr(getattr(auth, 'source', None), 'grant', None)
    record_wiki = None
    if grant is not None and grant.client_id:
        try:
            found = resolver.store().find(grant)
        except OAuthExtError:
            found = None
        record_wiki = found[1].get('authorized_on') if found else None
    registered = (f'registered for {record_wiki} only' if record_wiki
                  else 'registered for a single wiki')
    host = split_url(site_url(site))[0]
    return (f'{text}\nThe consumer is {registered}, not for {site} ({host}). Register a'
            ' consumer for all wikis ("All projects on this site" on'
            ' Special:OAuthConsumerRegistration), or add an authenticate entry for'
            f" '{host}' with a consumer registered for this wiki.")


def _rejection_message(site: Any, match: Match[AnyCredential] | None, info: str) -> str:
    causes = [cause for marker, cause in _LIKELY_CAUSES if marker in info]
    where = ('no entry' if match is None
             else f'authenticate[{match.key.original!r}]: {match.reason}')
    public_id = match.value.public_id() if match is not None else ''
    who = f'; consumer key {public_id}...' if public_id else ''
    text = f'OAuth authentication on {site} was refused ({where}{who}): {info}'
    if causes:
        text += '\nLikely cause: ' + '; or '.join(causes) + '.'
    return text
