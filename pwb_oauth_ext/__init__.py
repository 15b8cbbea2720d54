"""OAuth 1.0a and OAuth 2.0 for Pywikibot, enabled from user-config.py.

    import pwb_oauth_ext as _oauth
    _oauth.enable()
    authenticate['en.wikipedia.org'] = _oauth.OAuth2(access_token=_oauth.env('WP_TOKEN'))

Importing this package is cheap and imports no Pywikibot, requests-oauthlib,
oauthlib or jwt: user-config.py runs on every Pywikibot start, while
Pywikibot itself is only half imported.
"""
from __future__ import annotations

import os

from pwb_oauth_ext.config.credentials import OAuth1, OAuth2
from pwb_oauth_ext.config.references import env, file, keyring
from pwb_oauth_ext.errors import ConfigError, OAuthExtError, OAuthFlowError, TokenStoreError

# Annotations only: importing typing would double this package's import
# time in a bare interpreter (user-config.py imports it on every start).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = '0.1.0'
__all__ = [
    'ConfigError', 'OAuth1', 'OAuth2', 'OAuthAuthorizationError', 'OAuthExtError',
    'OAuthFlowError', 'OAuthIdentityError', 'TokenStoreError', 'disable', 'enable',
    'env', 'explain', 'file', 'keyring',
]


def enable(*, token_store: str | os.PathLike[str] | Any = None,
           token_store_password: str | Any = None,
           password_login: bool | None = None,
           accept_pywikibot: str | None = None) -> None:
    """Make Pywikibot use this package for every ``authenticate`` entry.

    Safe to call from user-config.py (the patch waits until Pywikibot's site
    module is imported) and idempotent. ``token_store`` overrides the default
    token file ``<Pywikibot base dir>/pwb-oauth-tokens.json``: another file,
    or a database URL (``postgresql://``, ``mysql://``, ``sqlite:///``) for a
    fleet of bots on several hosts; either it or ``token_store_password``
    may be a secret reference (``env()``, ``file()``, ``keyring()``).
    ``password_login=False`` is for OAuth-only operators: Pywikibot never
    logs in with a password (nor asks for one); a wiki without an OAuth entry
    then ends the run with one line naming the nearest key.
    ``accept_pywikibot='12.0.0'`` accepts that Pywikibot release outside the
    tested range (silencing its warning; so does ``PWB_OAUTH_ACCEPT_PYWIKIBOT``).
    A Pywikibot whose internals differ from what the plugin patches is never
    patched: one line says which, and OAuth1(...)/OAuth2(...) entries stop the run.
    """
    from pwb_oauth_ext.config.references import SecretRef
    from pwb_oauth_ext.config.settings import Settings
    from pwb_oauth_ext.integration import hook as _hook
    if token_store is None or isinstance(token_store, SecretRef):
        store = token_store
    elif isinstance(token_store, str) and '://' in token_store:
        from pwb_oauth_ext.protocol.stores.urls import StoreURL
        StoreURL(token_store)   # a bad URL fails here, naming the setting
        store = token_store
    else:
        store = os.path.expanduser(os.fspath(token_store))
    if password_login is not None and not isinstance(password_login, bool):
        raise ConfigError(f'enable(password_login={password_login!r}): give True or False')
    _hook.arm(Settings(store, token_store_password, password_login,
                        accept_pywikibot=accept_pywikibot))


def disable() -> None:
    """Restore Pywikibot's own behaviour."""
    import sys

    from pwb_oauth_ext.integration import hook as _hook
    _hook.disarm()
    adapter = sys.modules.get(f'{__name__}.integration.install')
    if adapter is not None:
        adapter.uninstall()


def explain(url: str, user: str | None = None, entries: Any = None, *,
            site: Any = None) -> Any:
    """Which ``authenticate`` key applies to ``url`` (and account ``user``), and why.

    ``entries`` defaults to Pywikibot's ``config.authenticate``. ``site`` is
    the wiki the request is for, as the runtime sees it: a Pywikibot site, its
    URL or ``host[:port]``; ``False`` for a request without a site (site-less
    ``http.fetch``: SPARQL, external links); None, the default, for the wiki at
    ``url`` itself. A ``*`` key applies only to the wiki's own host and port.
    No network.
    """
    from pwb_oauth_ext.network.hosts import NO_WIKI, HostTable, split_url
    if entries is None:
        from pywikibot import config
        entries = config.authenticate
    if site is None:
        wiki = None
    elif site is False:
        wiki = NO_WIKI
    elif isinstance(site, str):
        wiki = split_url(site if '//' in site else f'http://{site}/')
    else:
        from pwb_oauth_ext.integration.sites import site_url
        wiki = split_url(site_url(site))
    return HostTable(entries).explain(url, user, wiki)


def __getattr__(name: str) -> Any:
    # Pywikibot-facing exceptions need pywikibot: import them only when asked for.
    if name in ('OAuthAuthorizationError', 'OAuthIdentityError'):
        from pwb_oauth_ext.integration import errors as exceptions
        return getattr(exceptions, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
