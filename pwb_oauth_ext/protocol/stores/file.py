"""A private JSON file of OAuth grants, safe for threads and for processes.

A grant is stored under a ``GrantKey``: the central wiki that issued it
(``host[:port]``), the consumer key or client id, and the account the wiki
says the grant belongs to. Every wiki of a farm that trusts that central
wiki uses the same grant, so a farm needs one authorization, one token and
one refresh per expiry, not one per wiki.

OAuth 2.0 refresh tokens rotate on every use (the old one dies at once), so
two bots refreshing the same grant at the same time would lock each other
out. Every read-modify-write therefore runs under a process-wide thread lock
and an OS file lock, and the file is replaced atomically: a crash leaves the
old file or the new one, never half of each.
"""
from __future__ import annotations

import copy
import errno
import ipaddress
import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Callable

from pwb_oauth_ext.config.file_modes import others_may_access
from pwb_oauth_ext.errors import TokenStoreError
from pwb_oauth_ext.protocol.stores.records import (
    GrantKey,
    KeyArgs,
    entry_name,
    grant_key,
    key_and_record,
    validate_record,
)
from pwb_oauth_ext.protocol.stores.transactions import GrantStore, GrantTransaction

#: File name used when the caller passes a directory.
DEFAULT_FILENAME = 'pwb-oauth-tokens.json'
#: The journal beside a store file: ``pwb-oauth-tokens.json.pending``.
JOURNAL_SUFFIX = '.pending'

#: Version 1 (releases before grants) keyed records by the wiki host; it is
#: read as it is (the host is the central wiki) and rewritten as version 2.
_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_FILE_MODE = 0o600
#: Seconds a process waits for another one's lock on the store before it gives up.
LOCK_TIMEOUT = 120.0


# One lock per store file (by absolute path) for the whole process, so two
# TokenStore objects on the same file serialise too.
_path_locks: dict[str, threading.RLock] = {}
_path_locks_guard = threading.Lock()


def _thread_lock_for(path: Path) -> threading.RLock:
    key = _path_key(path)
    with _path_locks_guard:
        lock = _path_locks.get(key)
        if lock is None:
            lock = _path_locks[key] = threading.RLock()
        return lock


def _path_key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(str(path)))


# Lock files this process holds, by path key, with their nesting depth. Only the
# thread holding the path's thread lock reads or changes its entry.
_held_file_locks: dict[str, int] = {}


def _version_1_host(host: str) -> str:
    """A version-1 wiki key as version 2 names it: an IPv6 address in brackets.

    Version 1 wrote ``host:port`` without brackets, so a wiki at ``[::1]:8080`` was
    stored as ``::1:8080``: a last group of digits after a valid address is the port.
    """
    if host.startswith('[') or host.count(':') < 2:
        return host
    head, _, port = host.rpartition(':')
    if port.isdigit() and 0 < int(port) < 65536 and _is_ipv6(head):
        return f'[{head}]:{int(port)}'
    return f'[{host}]' if _is_ipv6(host) else host


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


class StoreTransaction(GrantTransaction):
    """The store's content while a transaction holds both locks."""

    def __init__(self, entries: dict[GrantKey, dict],
                 reread: Any = None, upgrade: bool = False) -> None:
        self._entries = entries
        self._reread = reread
        #: True when the file must be rewritten even if nothing changed (old format).
        self.changed = upgrade

    def get(self, key: KeyArgs, client_id: str | None = None,
            account: str | None = None) -> dict | None:
        """A copy of the record, or None."""
        record = self._entries.get(grant_key(key, client_id, account))
        return copy.deepcopy(record) if record is not None else None

    def put(self, key: KeyArgs, *args: Any) -> None:
        """Set the record (``put(key, record)``); written when the transaction ends."""
        normalised, record = key_and_record(key, args)
        record = copy.deepcopy(record)
        if self._entries.get(normalised) != record:
            self._entries[normalised] = record
            self.changed = True

    def delete(self, key: KeyArgs, client_id: str | None = None,
               account: str | None = None) -> bool:
        """Remove the record; True if there was one."""
        normalised = grant_key(key, client_id, account)
        if normalised in self._entries:
            del self._entries[normalised]
            self.changed = True
            return True
        return False

    def entries(self) -> list[tuple[GrantKey, dict]]:
        """All (key, record copy) pairs."""
        return [(key, copy.deepcopy(rec)) for key, rec in self._entries.items()]

    def grants_of(self, central_wiki: str, client_id: str) -> list[tuple[GrantKey, dict]]:
        """Every grant of one consumer on one central wiki (any account)."""
        central_wiki = central_wiki.lower()
        return [(key, copy.deepcopy(rec)) for key, rec in sorted(
                    self._entries.items(), key=lambda kv: kv[0].account or '')
                if key.central_wiki == central_wiki and key.client_id == client_id]

    def reread(self) -> None:
        """Read the file again (still under the locks): a writer may have bypassed them."""
        if self._reread is not None:
            self._entries = self._reread()

    def __repr__(self) -> str:
        return f'<StoreTransaction of {len(self._entries)} entries>'


class TokenStore(GrantStore):
    """One JSON file holding OAuth grants keyed by (host, client id, account).

    Each call reads the file fresh, so several processes can share it;
    ``transaction()`` is the way to read and then write without a race.
    """

    def __init__(self, path: str | os.PathLike, *,
                 lock_timeout: float = LOCK_TIMEOUT, journal: bool = True,
                 outage_wait: float = 10.0,
                 warn: Callable[[str], None] | None = None) -> None:
        path = Path(path)
        try:
            is_dir = path.is_dir()
        except OSError:  # unreadable parent: the first read or write says so, by name
            is_dir = False
        if is_dir:
            path = path / DEFAULT_FILENAME
        self.path = path
        self._lock_path = Path(str(path) + '.lock')
        self._thread_lock = _thread_lock_for(path)
        self.lock_timeout = lock_timeout
        self.outage_wait = outage_wait
        self._journal: TokenStore | None = None
        if journal:
            self._journal = TokenStore(str(path) + JOURNAL_SUFFIX, lock_timeout=lock_timeout,
                                       journal=False)
        self._warn = warn

    @property
    def journal(self) -> TokenStore | None:
        """``FILE.pending``: refreshed pairs not yet in the store (same safety rules)."""
        return self._journal

    def warn(self, message: str) -> None:
        if self._warn is not None:
            self._warn(message)
        else:
            super().warn(message)

    def __repr__(self) -> str:
        return f'TokenStore({str(self.path)!r})'

    # --- public API ------------------------------------------------------

    def get(self, key: KeyArgs, client_id: str | None = None,
            account: str | None = None) -> dict | None:
        """The record for the key, read fresh from the file, or None."""
        return self._snapshot().get(key, client_id, account)

    def find(self, key: GrantKey) -> tuple[GrantKey, dict] | None:
        """``StoreTransaction.find`` on the file as it is now."""
        return self._snapshot().find(key)

    def grants_of(self, central_wiki: str, client_id: str) -> list[tuple[GrantKey, dict]]:
        """Every grant of one consumer on one central wiki."""
        return self._snapshot().grants_of(central_wiki, client_id)

    def entries(self) -> list[tuple[GrantKey, dict]]:
        """All (key, record) pairs in the file."""
        return self._snapshot().entries()

    def _snapshot(self) -> StoreTransaction:
        with self._thread_lock:
            # Writers replace the file atomically, so no file lock is needed here.
            return StoreTransaction(self._read()[0])

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """Hold the thread and file locks across a read-modify-write.

        The file is read fresh on entry and written once on a clean exit if
        anything changed; on an exception nothing is written.
        """
        with self._thread_lock, self._file_lock():
            entries, old_format = self._read()
            # An old-format file is rewritten as version 2 on the first write
            # transaction, even one that changes nothing (nothing is dropped).
            tx = StoreTransaction(entries, reread=lambda: self._read()[0],
                                  upgrade=old_format)
            yield tx
            if tx.changed:
                self._write(tx._entries)

    # --- file handling ---------------------------------------------------

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """The lock file, held across a transaction (between processes).

        On POSIX it is opened without following symlinks and locked with
        ``flock`` (as filelock does, so older versions interoperate); a
        symlink or a lock file of another user is refused.
        """
        self._ensure_parent()
        if os.name == 'nt':
            from filelock import FileLock

            self._create_private(self._lock_path)
            with FileLock(str(self._lock_path), mode=_FILE_MODE):
                yield
            return
        import fcntl

        key = _path_key(self.path)
        if _held_file_locks.get(key):  # this thread already holds it (nested transaction)
            _held_file_locks[key] += 1
            try:
                yield
            finally:
                _held_file_locks[key] -= 1
            return
        fd = self._open_safely(self._lock_path, os.O_RDWR | os.O_CREAT, 'lock file')
        try:
            self._check_owner(fd, self._lock_path, 'lock file')
            self._wait_for_flock(fd, fcntl)
            _held_file_locks[key] = 1
            try:
                yield
            finally:
                del _held_file_locks[key]
        finally:
            os.close(fd)  # releases the flock

    def _wait_for_flock(self, fd: int, fcntl: Any) -> None:
        """``flock`` the lock file, waiting at most ``lock_timeout`` seconds.

        The holder is renewing a grant (one token request); a lock held far
        longer belongs to a hung process, and waiting for it forever would
        hang every bot sharing the store without a word.
        """
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                raise self._os_error(exc, self._lock_path, 'lock file', 'locked') from None
            if time.monotonic() >= deadline:
                raise TokenStoreError(
                    f'The token store {self.path} stayed locked by another process for'
                    f' {self.lock_timeout:g} s (lock file {self._lock_path}). A bot may be'
                    f' hung while renewing a token: find it with "fuser {self._lock_path}"'
                    ' and end it, then run again.')
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _ensure_parent(self) -> None:
        parent = self.path.parent
        try:
            if not parent.exists():
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise self._os_error(exc, parent, 'directory', 'created') from None

    def _create_private(self, path: Path) -> None:
        """Create an empty file with mode 0600 unless it exists."""
        try:
            fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        except FileExistsError:
            return
        except OSError as exc:
            raise self._os_error(exc, path, 'lock file', 'created') from None
        os.close(fd)

    def _os_error(self, exc: OSError, path: Path, what: str, verb: str) -> TokenStoreError:
        """An OSError on the store, its lock or directory, as a TokenStoreError with the fix."""
        return TokenStoreError(
            f'The token store {what} {path} cannot be {verb}: {exc.strerror or exc}. Check'
            f' that the directory exists and belongs to you, or choose another file with'
            f' enable(token_store=...).')

    def _open_safely(self, path: Path, flags: int, what: str) -> int:
        """``os.open`` that never follows a symlink nor blocks; failures are TokenStoreErrors.

        ``O_NONBLOCK``: a FIFO (or a device) at the path would block the open until a
        writer came; it is opened at once and refused as not a regular file.
        """
        flags |= (getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
                  | getattr(os, 'O_NONBLOCK', 0))
        try:
            return os.open(str(path), flags, _FILE_MODE)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(path):
                raise TokenStoreError(
                    f'The token store {what} {path} is a symbolic link; it is not followed'
                    f' (it could point anywhere). Remove it (rm {path}); a store or lock'
                    ' file of its own is created when needed.') from None
            raise self._os_error(exc, path, what, 'opened') from None

    def _check_owner(self, fd: int, path: Path, what: str) -> None:
        """Refuse what is not a regular file of ours, as ssh refuses others' key files."""
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TokenStoreError(f'The token store {what} {path} is not a regular file;'
                                  ' move it aside.')
        if hasattr(os, 'geteuid') and info.st_uid != os.geteuid():
            raise TokenStoreError(
                f'The token store {what} {path} belongs to another user (uid {info.st_uid});'
                ' it is not trusted. Move it aside and authorize again, or fix the owner'
                f' with: chown {os.geteuid()} {path}')

    def _check_permissions(self, fd: int) -> None:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if others_may_access(mode):
            raise TokenStoreError(
                f'The token store {self.path} can be accessed by other users '
                f'(mode {mode:04o}); it holds OAuth secrets, so it is not used. '
                f'Fix it with: chmod 600 {self.path}')

    def _read(self) -> tuple[dict[GrantKey, dict], bool]:
        """The entries, and whether the file is in an older format."""
        try:
            fd = self._open_safely(self.path, os.O_RDONLY, 'file')
        except FileNotFoundError:
            return {}, False
        try:
            if os.name != 'nt':
                self._check_owner(fd, self.path, 'file')
            self._check_permissions(fd)
            try:
                with os.fdopen(fd, 'rb', closefd=False) as handle:
                    raw = handle.read()
            except OSError as exc:
                raise self._os_error(exc, self.path, 'file', 'read') from None
        finally:
            os.close(fd)
        return self._parse(raw)

    def _corrupt(self, why: str) -> TokenStoreError:
        return TokenStoreError(
            f'The token store {self.path} is damaged ({why}) and was left as it is. '
            f'Move it aside (e.g. mv {self.path} {self.path}.broken), then run '
            f'"pwb-oauth authorize" again for the grants it held.')

    def _parse(self, raw: bytes) -> tuple[dict[GrantKey, dict], bool]:
        try:
            data = json.loads(raw.decode('utf-8'))
        except UnicodeDecodeError:
            raise self._corrupt('not UTF-8 text') from None
        except RecursionError:
            raise self._corrupt('JSON nested too deeply') from None
        except ValueError as exc:
            # json's message gives a position only, never the content.
            raise self._corrupt(f'invalid JSON: {exc}') from None
        if not isinstance(data, dict) or not isinstance(data.get('entries'), list):
            raise self._corrupt('unexpected structure')
        version = data.get('version')
        if version not in _READABLE_VERSIONS:
            raise TokenStoreError(
                f'The token store {self.path} has format version {version!r}, '
                f'this version of pwb_oauth_ext reads versions 1 and {_FORMAT_VERSION}; '
                f'it was left as it is.')
        # Version 1 named the wiki 'host': for a grant it is the central wiki.
        wiki_field = 'central_wiki' if version == 2 else 'host'
        entries: dict[GrantKey, dict] = {}
        for item in data['entries']:
            if not (isinstance(item, dict) and isinstance(item.get(wiki_field), str)
                    and item[wiki_field] and isinstance(item.get('client_id'), str)
                    and item['client_id']
                    and (item.get('account') is None or isinstance(item.get('account'), str))
                    and isinstance(item.get('record'), dict)):
                raise self._corrupt(f'an entry lacks {wiki_field}, client_id, account or record')
            problem = validate_record(item['record'])
            if problem is not None:
                raise self._corrupt(f'the entry for {entry_name(item, wiki_field)}: {problem}')
            account = item.get('account')
            identity = item['record'].get('identity')
            if version == 1 and account is None and isinstance(identity, str) and identity:
                # Stored by `authorize` without -user: the verified identity is its owner.
                account = identity
            wiki = item[wiki_field] if version == 2 else _version_1_host(item[wiki_field])
            entries[grant_key(wiki, item['client_id'], account)] = item['record']
        return entries, version != _FORMAT_VERSION

    def _write(self, entries: dict[GrantKey, dict]) -> None:
        self._ensure_parent()
        data = {
            'version': _FORMAT_VERSION,
            'entries': [
                {'central_wiki': central_wiki, 'client_id': client_id, 'account': account,
                 'record': record}
                for (central_wiki, client_id, account), record in sorted(
                    entries.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ''))
            ],
        }
        payload = json.dumps(data, indent=1, sort_keys=True).encode('utf-8')
        # mkstemp creates the file with mode 0600 in the same directory, so
        # os.replace is an atomic rename on the same file system.
        try:
            fd, tmp_name = tempfile.mkstemp(
                dir=str(self.path.parent), prefix=f'.{self.path.name}.', suffix='.tmp')
        except OSError as exc:
            raise self._os_error(exc, self.path, 'file', 'written') from None
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
