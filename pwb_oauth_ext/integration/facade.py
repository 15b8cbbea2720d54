"""What the commands use of the integration: this module, and nothing else of the package.

The commands never touch the patches, the resolver's caches or the request
context directly; whatever they need of them is here.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from pwb_oauth_ext.integration.context import no_auth
from pwb_oauth_ext.integration.install import (
    handle_global_args,
    install,
    installed,
    integration,
    is_expected_failure,
    site_without_login,
)
from pwb_oauth_ext.integration.sites import site_url
from pwb_oauth_ext.integration.transport import (
    fetch_without_auth,
    post_without_auth,
    pywikibot_transport,
)

if TYPE_CHECKING:
    from pwb_oauth_ext.protocol.grants import CentralWiki
    from pwb_oauth_ext.protocol.store import GrantKey

__all__ = [
    'SiteAddress', 'StoredGrant', 'configured_account', 'configured_sites', 'default_site',
    'fetch_without_auth', 'handle_global_args', 'install', 'installed', 'integration',
    'is_expected_failure', 'is_identity_mismatch', 'is_network_failure', 'load_pywikibot',
    'logged_in_site', 'no_auth', 'page', 'post_without_auth', 'pywikibot_transport',
    'report_file_modes_myself', 'report_without_retries', 'site_address', 'site_get',
    'site_url', 'site_without_login', 'socket_timeout', 'stored_grant', 'user_config_path',
    'uses_proxy',
]


def is_identity_mismatch(exc: BaseException) -> bool:
    """True when a login failed because the token belongs to another account."""
    from pwb_oauth_ext.integration.errors import OAuthIdentityError
    return isinstance(exc, OAuthIdentityError) and exc.is_mismatch


def user_config_path() -> Path:
    """The user-config.py Pywikibot reads (it need not exist)."""
    from pywikibot import config
    return Path(config.base_dir) / 'user-config.py'


def __getattr__(name: str) -> Any:
    # ``facade.resolver``: the integration's resolver (the integration is
    # created on first use, so this is never a stale copy).
    if name == 'resolver':
        return integration().resolver
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


# --- what the commands need of Pywikibot ------------------------------------------
# The commands import no Pywikibot module: every use they make of it is one of these.

class SiteAddress(NamedTuple):
    """Where a site's API is, and whether its family checks TLS certificates there."""

    api_url: str
    verify_ssl: bool


class StoredGrant(NamedTuple):
    """The grant an entry uses: its central wiki, its store key, the stored (key, record)."""

    central: CentralWiki
    key: GrantKey
    found: tuple[GrantKey, dict] | None


def load_pywikibot() -> None:
    """Import Pywikibot, which reads user-config.py from PYWIKIBOT_DIR (once per process)."""
    import pywikibot  # noqa: F401


def default_site() -> tuple[str, str]:
    """The configured (or -family:/-lang:) site as (family, code)."""
    from pywikibot import config
    return config.family, config.mylang


def configured_sites() -> list[tuple[str, str]]:
    """Every (family, code) that ``config.usernames`` names (not its '*' defaults)."""
    from pywikibot import config
    return [(family, code) for family, codes in config.usernames.items()
            for code in codes if code != '*']


def configured_account(family: str, code: str) -> str | None:
    """``usernames[family][code]``, else ``usernames[family]['*']``, else None."""
    from pywikibot import config
    names = config.usernames.get(family, {})
    return names.get(code) or names.get('*')


def report_file_modes_myself() -> None:
    """The caller reports files others can read (``check``): no warning of its own too."""
    integration().resolver.warn_readable_config = False


def report_without_retries() -> None:
    """No retry loop on a wiki that does not answer: a report says so at once."""
    from pywikibot import config
    config.max_retries = 0


def socket_timeout() -> Any:
    """``config.socket_timeout``: seconds, or (connect, read)."""
    from pywikibot import config
    return config.socket_timeout


def site_address(family: str, code: str) -> SiteAddress:
    """The API URL of FAMILY:CODE from its family file; no network. Raises for an unknown site."""
    from pywikibot.family import Family
    family_obj = Family.load(family)
    return SiteAddress(family_obj.base_url(code, family_obj.apipath(code)),
                       family_obj.verify_SSL_certificate(code))


def logged_in_site(family: str, code: str, user: str | None) -> Any:
    """``pywikibot.Site`` for the account, logged in (with OAuth: one userinfo request)."""
    import pywikibot
    site = pywikibot.Site(code, family, user=user)
    site.login()
    return site


def is_network_failure(exc: BaseException) -> bool:
    """Pywikibot's ways of saying the wiki did not answer (after its retries), not our refusals."""
    import requests
    from pywikibot import exceptions
    retries_exhausted = getattr(exceptions, 'ApiTimeoutError', None) or exceptions.TimeoutError
    return (isinstance(exc, (retries_exhausted, exceptions.ServerError, ConnectionError,
                             requests.RequestException))   # ApiTimeoutError: 11.x, before: 10.x
            and not is_expected_failure(exc))


def uses_proxy(url: str) -> bool:
    """True when requests to ``url`` go through a proxy (Pywikibot's session or the env)."""
    import requests
    from pywikibot.comms import http
    return bool(http.session.proxies or requests.utils.get_environ_proxies(url))


def site_get(site: Any, uri: str) -> Any:
    """GET ``uri`` on the site with its own credentials; redirects off (it carries them)."""
    from pywikibot.comms import http
    return http.request(site, uri=uri, method='GET', allow_redirects=False)


def page(site: Any, title: str) -> Any:
    """``pywikibot.Page(site, title)``."""
    import pywikibot
    return pywikibot.Page(site, title)


def stored_grant(site: Any, account: str | None) -> StoredGrant | None:
    """The stored grant the site's entry uses for the account (the runtime's lookup).

    None when the entry uses none (owner-only tokens, basic auth) or no entry
    applies; ``found`` is None when nothing is stored. The store may raise
    (unreadable, or GrantChoiceError when several accounts and none chosen).
    """
    resolver = integration().resolver
    url = site_url(site)
    match = resolver.match(url, account)
    grant = resolver.grant_in_use(match, account, url, site) if match is not None else None
    if grant is None:
        return None
    return StoredGrant(grant[0], grant[1], resolver.store().find(grant[1]))

