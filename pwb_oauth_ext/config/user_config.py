"""Is user-config.py a secret that others can read?

Pywikibot refuses a user-config.py that others can *write*, but says nothing
when they can *read* it, and ``authenticate`` entries are often pasted in as
plain strings. These helpers find that case so the adapter can warn once.
Stdlib only and free of Pywikibot: they judge a path and a mapping, nothing else.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pwb_oauth_ext.config.credentials import Credential
from pwb_oauth_ext.config.file_modes import OTHERS_READ, others_may_access
from pwb_oauth_ext.config.references import SecretRef


def readable_by_others(path: str | os.PathLike[str]) -> bool:
    """True when a user other than the owner may read ``path`` (POSIX modes).

    False for a missing file and on Windows, where modes do not tell (the
    profile ACLs do).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return others_may_access(mode, OTHERS_READ)


def _is_inline(value: Any) -> bool:
    """A secret written into the file itself (not a reference, not absent)."""
    return isinstance(value, str) and bool(value) and not isinstance(value, SecretRef)


def _secret_fields(value: Any) -> list[Any]:
    """The secret parts of one ``authenticate`` value; public parts are left out.

    OAuth 1.0a consumer keys and access tokens travel in clear in every
    request header, and an OAuth 2.0 client id is public: only the consumer
    secret, access secret, bearer token, client secret and basic-auth
    password count.
    """
    if isinstance(value, Credential):
        return value.grant_type.secrets_of(value)
    if isinstance(value, (tuple, list)):
        if len(value) == 4:
            return [value[1], value[3]]
        if len(value) == 2:
            return [value[1]]
    return []


def inline_secret_keys(entries: Mapping[Any, Any]) -> list[str]:
    """Config keys whose value holds a secret as a plain string, in entry order.

    Malformed entries are skipped: reading them is the config parser's job,
    and its error names them.
    """
    return [str(key) for key, value in entries.items()
            if any(_is_inline(part) for part in _secret_fields(value))]


def user_config_warning(path: str | os.PathLike[str],
                        entries: Mapping[Any, Any]) -> str | None:
    """The once-only warning text, or None when there is nothing to warn about."""
    keys = inline_secret_keys(entries)
    if not keys or not readable_by_others(path):
        return None
    where = ', '.join(f'authenticate[{key!r}]' for key in keys)
    return (f'user-config.py holds secrets for {where} and can be read by other users:'
            f' chmod 600 {os.fspath(path)}, or use _oauth.env()/file()/keyring()')


__all__ = ['inline_secret_keys', 'readable_by_others', 'user_config_warning']
