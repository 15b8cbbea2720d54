"""A private JSON file of OAuth grants, safe for threads and for processes.

OAuth 2.0 refresh tokens rotate on every use (the old one dies at once), so
two bots refreshing the same grant at the same time would lock each other
out. Every read-modify-write therefore runs under a process-wide thread lock
and an OS file lock, and the file is replaced atomically: a crash leaves the
old file or the new one, never half of each.
"""
from __future__ import annotations

import copy
import json
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Optional

from .errors import TokenStoreError

#: File name used when the caller passes a directory.
DEFAULT_FILENAME = 'pwb-oauth-tokens.json'

_FORMAT_VERSION = 1
_FILE_MODE = 0o600

StoreKey = tuple[str, str, Optional[str]]

# One lock per store file (by absolute path) for the whole process, so two
# TokenStore objects on the same file serialise too.
_path_locks: dict[str, threading.RLock] = {}
_path_locks_guard = threading.Lock()


def _thread_lock_for(path: Path) -> threading.RLock:
    key = os.path.normcase(os.path.abspath(str(path)))
    with _path_locks_guard:
        lock = _path_locks.get(key)
        if lock is None:
            lock = _path_locks[key] = threading.RLock()
        return lock


def _normalise_key(host: str, client_id: str, account: str | None) -> StoreKey:
    """Hosts are case-insensitive; client ids and account names are not."""
    if not host or not client_id:
        raise ValueError('host and client_id must be non-empty')
    return (host.lower(), client_id, account)


class StoreTransaction:
    """The store's content while a transaction holds both locks."""

    def __init__(self, entries: dict[StoreKey, dict]) -> None:
        self._entries = entries
        self.changed = False

    def get(self, host: str, client_id: str, account: str | None) -> dict | None:
        """A copy of the record, or None."""
        record = self._entries.get(_normalise_key(host, client_id, account))
        return copy.deepcopy(record) if record is not None else None

    def put(self, host: str, client_id: str, account: str | None, record: dict) -> None:
        """Set the record; written when the transaction ends."""
        if not isinstance(record, dict):
            raise TypeError('a token store record must be a dict')
        key = _normalise_key(host, client_id, account)
        record = copy.deepcopy(record)
        if self._entries.get(key) != record:
            self._entries[key] = record
            self.changed = True

    def delete(self, host: str, client_id: str, account: str | None) -> bool:
        """Remove the record; True if there was one."""
        key = _normalise_key(host, client_id, account)
        if key in self._entries:
            del self._entries[key]
            self.changed = True
            return True
        return False

    def entries(self) -> list[tuple[StoreKey, dict]]:
        """All (key, record copy) pairs."""
        return [(key, copy.deepcopy(rec)) for key, rec in self._entries.items()]

    def __repr__(self) -> str:
        return f'<StoreTransaction of {len(self._entries)} entries>'


class TokenStore:
    """One JSON file holding OAuth grants keyed by (host, client id, account).

    Each call reads the file fresh, so several processes can share it;
    ``transaction()`` is the way to read and then write without a race.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if path.is_dir():
            path = path / DEFAULT_FILENAME
        self.path = path
        self._lock_path = Path(str(path) + '.lock')
        self._thread_lock = _thread_lock_for(path)

    def __repr__(self) -> str:
        return f'TokenStore({str(self.path)!r})'

    # --- public API ------------------------------------------------------

    def get(self, host: str, client_id: str, account: str | None) -> dict | None:
        """The record for the key, read fresh from the file, or None."""
        with self._thread_lock:
            # Writers replace the file atomically, so no file lock is needed here.
            return StoreTransaction(self._read()).get(host, client_id, account)

    def put(self, host: str, client_id: str, account: str | None, record: dict) -> None:
        """Store the record for the key."""
        with self.transaction() as tx:
            tx.put(host, client_id, account, record)

    def delete(self, host: str, client_id: str, account: str | None) -> bool:
        """Remove the record for the key; True if there was one."""
        with self.transaction() as tx:
            return tx.delete(host, client_id, account)

    def entries(self) -> list[tuple[StoreKey, dict]]:
        """All (key, record) pairs in the file."""
        with self._thread_lock:
            return StoreTransaction(self._read()).entries()

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """Hold the thread and file locks across a read-modify-write.

        The file is read fresh on entry and written once on a clean exit if
        anything changed; on an exception nothing is written.
        """
        with self._thread_lock, self._file_lock():
            tx = StoreTransaction(self._read())
            yield tx
            if tx.changed:
                self._write(tx._entries)

    # --- file handling ---------------------------------------------------

    def _file_lock(self) -> Any:
        from filelock import FileLock

        self._ensure_parent()
        self._create_private(self._lock_path)
        # mode: filelock chmods the lock file it opens; keep it private.
        return FileLock(str(self._lock_path), mode=_FILE_MODE)

    def _ensure_parent(self) -> None:
        parent = self.path.parent
        if not parent.exists():
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    @staticmethod
    def _create_private(path: Path) -> None:
        """Create an empty file with mode 0600 unless it exists."""
        try:
            fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            return
        os.close(fd)

    def _check_permissions(self, fd: int) -> None:
        if os.name == 'nt':
            return  # POSIX modes mean little on Windows; rely on the profile ACLs.
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            raise TokenStoreError(
                f'The token store {self.path} can be accessed by other users '
                f'(mode {mode:04o}); it holds OAuth secrets, so it is not used. '
                f'Fix it with: chmod 600 {self.path}')

    def _read(self) -> dict[StoreKey, dict]:
        try:
            fd = os.open(str(self.path), os.O_RDONLY)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise TokenStoreError(
                f'The token store {self.path} cannot be read: {exc.strerror}') from None
        try:
            self._check_permissions(fd)
            with os.fdopen(fd, 'rb', closefd=False) as handle:
                raw = handle.read()
        finally:
            os.close(fd)
        return self._parse(raw)

    def _corrupt(self, why: str) -> TokenStoreError:
        return TokenStoreError(
            f'The token store {self.path} is damaged ({why}) and was left as it is. '
            f'Move it aside (e.g. mv {self.path} {self.path}.broken), then run '
            f'"pwb-oauth authorize" again for the grants it held.')

    def _parse(self, raw: bytes) -> dict[StoreKey, dict]:
        try:
            data = json.loads(raw.decode('utf-8'))
        except UnicodeDecodeError:
            raise self._corrupt('not UTF-8 text') from None
        except ValueError as exc:
            # json's message gives a position only, never the content.
            raise self._corrupt(f'invalid JSON: {exc}') from None
        if not isinstance(data, dict) or not isinstance(data.get('entries'), list):
            raise self._corrupt('unexpected structure')
        if data.get('version') != _FORMAT_VERSION:
            raise TokenStoreError(
                f'The token store {self.path} has format version {data.get("version")!r}, '
                f'this version of pwb_oauth_ext reads version {_FORMAT_VERSION}; '
                f'it was left as it is.')
        entries: dict[StoreKey, dict] = {}
        for item in data['entries']:
            if not (isinstance(item, dict) and isinstance(item.get('host'), str)
                    and isinstance(item.get('client_id'), str)
                    and (item.get('account') is None or isinstance(item.get('account'), str))
                    and isinstance(item.get('record'), dict)):
                raise self._corrupt('an entry lacks host, client_id, account or record')
            entries[(item['host'], item['client_id'], item.get('account'))] = item['record']
        return entries

    def _write(self, entries: dict[StoreKey, dict]) -> None:
        self._ensure_parent()
        data = {
            'version': _FORMAT_VERSION,
            'entries': [
                {'host': host, 'client_id': client_id, 'account': account, 'record': record}
                for (host, client_id, account), record in sorted(
                    entries.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ''))
            ],
        }
        payload = json.dumps(data, indent=1, sort_keys=True).encode('utf-8')
        # mkstemp creates the file with mode 0600 in the same directory, so
        # os.replace is an atomic rename on the same file system.
        fd, tmp_name = tempfile.mkstemp(
            dir=str(self.path.parent), prefix=f'.{self.path.name}.', suffix='.tmp')
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, str(self.path))
        except BaseException as exc:
            with suppress(OSError):
                os.unlink(tmp_name)
            if isinstance(exc, OSError):
                raise TokenStoreError(
                    f'The token store {self.path} cannot be written: {exc.strerror}') from None
            raise
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        if os.name == 'nt':
            return
        try:
            dir_fd = os.open(str(self.path.parent), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)
