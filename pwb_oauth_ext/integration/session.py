"""``SessionAuth``: installed as ``http.session.auth``, it picks the credential for each request."""
from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from pwb_oauth_ext.config.credentials import (
    OAuth1,
)
from pwb_oauth_ext.errors import ConfigError, OAuthExtError
from pwb_oauth_ext.integration.context import auth_off, site_in_flight
from pwb_oauth_ext.integration.sites import LOGGED_OUT, site_url
from pwb_oauth_ext.network.hosts import NO_WIKI, split_url

if TYPE_CHECKING:
    from pwb_oauth_ext.integration.resolver import Resolver


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
    through ``site_in_flight`` (set by the patched ``http.request``), and so can
    choose the ``User@host`` entry of the site's account. Requests to a host
    without a matching entry get nothing; a catch-all ``*`` entry applies only
    to the host and port of the site in flight (the host table's rule).
    """

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    def __call__(self, request: Any) -> Any:
        if auth_off.get():
            return request
        site = site_in_flight.get()
        account = None
        resolver = self.resolver
        # request.url is the prepared URL; split_url reads it with urllib3's parser,
        # so the entry is chosen for the host the connection really goes to.
        try:
            wiki = NO_WIKI
            if site is not None:
                if getattr(site, LOGGED_OUT, False):
                    return request
                account = site.username()
                if resolver.table().has_catch_all:
                    wiki = split_url(site_url(site))
            if logged_out_sites and _is_logged_out_host(site, request.url):
                return request
            match = resolver.match(request.url, account, wiki)
        except OAuthExtError as exc:
            # First: a ConfigError is a ValueError too. A table that cannot be built
            # stops every request, with a site or without, never sends it anonymously.
            raise _credential_error(str(exc), exc) from None
        except ValueError:
            return request  # no host we could match: requests refuses to send it anyway
        if match is None:
            return request
        try:
            return resolver.auth_for(match, account, request.url, site)(request)
        except OAuthExtError as exc:
            raise _credential_error(_entry_message(exc, match.key.original, site),
                                    exc) from None

    def __repr__(self) -> str:
        return 'SessionAuth(config.authenticate via pwb_oauth_ext)'


def _entry_message(exc: OAuthExtError, config_key: str, site: Any) -> str:
    """The error's text for the operator: the site's usernames entry, and the key once."""
    text = exc.message(usernames_key(site)) if site is not None else str(exc)
    return text if exc.config_key is not None else f'authenticate[{config_key!r}]: {text}'


def usernames_key(site: Any) -> str:
    """``usernames['family']['code']``: the user-config.py entry naming a site's user."""
    return f'usernames[{site.family.name!r}][{site.code!r}]'


#: Sites logged out with ``site.logout()`` (weakly held): nothing of ours goes to
#: their host and port, with a site or without, until ``site.login()``.
logged_out_sites: list[weakref.ref] = []


logged_out_lock = threading.Lock()


def _is_logged_out_host(site: Any, url: str) -> bool:
    """True when ``url`` goes to a wiki logged out in this process.

    A logged-in site on the same host (another account) still gets its own
    credentials; anything else, site-less ``http.fetch`` included, gets none.
    """
    target = split_url(url)
    if site is not None and split_url(site_url(site)) == target:
        return False
    blocked = False
    with logged_out_lock:
        alive = []
        for ref in logged_out_sites:
            logged_out = ref()
            if logged_out is None or not getattr(logged_out, LOGGED_OUT, False):
                continue  # gone, or logged in again
            alive.append(ref)
            if split_url(site_url(logged_out)) == target:
                blocked = True
        logged_out_sites[:] = alive
    return blocked


def configured_authentication(uri: str, upstream: Any, resolver: Resolver) -> Any:
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
