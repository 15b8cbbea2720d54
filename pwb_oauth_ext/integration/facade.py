"""What the commands use of the integration: this module, and nothing else of the package.

The commands never touch the patches, the resolver's caches or the request
context directly; whatever they need of them is here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pwb_oauth_ext.integration.context import no_auth, pywikibot_transport
from pwb_oauth_ext.integration.install import (
    handle_global_args,
    install,
    installed,
    integration,
    is_expected_failure,
    site_without_login,
)
from pwb_oauth_ext.integration.sites import site_url

__all__ = [
    'handle_global_args', 'install', 'installed', 'integration', 'is_expected_failure',
    'is_identity_mismatch',
    'no_auth', 'pywikibot_transport', 'site_url', 'site_without_login', 'user_config_path',
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
