"""Opening the token store a setting names, and the stores' public names.

The stores themselves are in ``protocol.stores``: ``file`` (a JSON file),
``database`` (PostgreSQL, MariaDB/MySQL, SQLite), and what they share,
``records`` and ``transactions`` (with the journal a refreshed pair is kept in
before the store is written). This module only picks one for a setting.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

from pwb_oauth_ext.protocol.stores.file import (
    DEFAULT_FILENAME,
    LOCK_TIMEOUT,
    StoreTransaction,
    TokenStore,
)
from pwb_oauth_ext.protocol.stores.records import (
    GrantKey,
    KeyArgs,
    choose_grant,
    freshness,
    grant_key,
    key_and_record,
    validate_record,
)
from pwb_oauth_ext.protocol.stores.transactions import GrantStore, GrantTransaction

__all__ = [
    'DEFAULT_FILENAME', 'LOCK_TIMEOUT', 'GrantKey', 'GrantStore', 'GrantTransaction', 'KeyArgs',
    'StoreTransaction', 'TokenStore', 'choose_grant', 'describe_store', 'freshness',
    'grant_key', 'key_and_record', 'open_store', 'validate_record',
]

_database_stores: dict[tuple[str, Any, Any], Any] = {}
_guard = threading.Lock()


def open_store(location: Any, *, password: Any = None, warn: Any = None,
               journal_dir: Optional[Path] = None) -> Any:
    """The token store for the ``token_store`` setting: a database URL, else a file.

    ``location`` (and ``password``) may be secret references; they are
    resolved here, at first use. A database store is kept per URL for the
    process, so its schema is checked once. A file store keeps its journal
    beside the file; a database store in ``journal_dir`` (Pywikibot's base
    directory), none without it.
    """
    location = _resolved_setting(location, 'token_store')
    if password is not None:
        password = _resolved_setting(password, 'token_store_password')
    if not isinstance(location, str) or '://' not in location:
        return TokenStore(location, warn=warn)
    from pwb_oauth_ext.protocol.stores.database import DatabaseStore
    cache_key = (location, password, str(journal_dir) if journal_dir else None)
    with _guard:
        store = _database_stores.get(cache_key)
        if store is None:
            store = _database_stores[cache_key] = DatabaseStore(location, password=password,
                                                                warn=warn,
                                                                journal_dir=journal_dir)
    return store


def _resolved_setting(value: Any, setting: str) -> Any:
    from pwb_oauth_ext.config.references import SecretRef
    from pwb_oauth_ext.errors import ConfigError
    if not isinstance(value, SecretRef):
        return value
    try:
        text = value.fetch()
    except ConfigError as exc:
        raise ConfigError(f'enable({setting}=...): {exc}') from None
    if text is None or not text.strip():
        raise ConfigError(f'enable({setting}={value.describe()}) gives nothing'
                          f' ({value.missing_hint()})')
    return text.strip()


def describe_store(store: Any) -> str:
    """Where the grants are: the file's path or the database URL, password masked."""
    describe = getattr(store, 'describe', None)
    return describe() if callable(describe) else str(store.path)
