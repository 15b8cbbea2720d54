"""What the commands use of the integration: this module, and nothing else of the package.

The commands never touch the patches, the resolver's caches or the request
context directly; whatever they need of them is here.
"""
from __future__ import annotations

from pwb_oauth_ext.integration.context import no_auth, pywikibot_transport
from pwb_oauth_ext.integration.install import (
    handle_global_args,
    install,
    installed,
    is_expected_failure,
    site_without_login,
)
from pwb_oauth_ext.integration.resolver import resolver
from pwb_oauth_ext.integration.sites import site_url

__all__ = [
    'handle_global_args', 'install', 'installed', 'is_expected_failure', 'no_auth',
    'pywikibot_transport', 'resolver', 'site_url', 'site_without_login',
]
