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
import json
import math
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple, Optional, Union

from pwb_oauth_ext.config.file_modes import others_may_access
from pwb_oauth_ext.errors import GrantChoiceError, TokenStoreError

#: File name used when the caller passes a directory.
DEFAULT_FILENAME = 'pwb-oauth-tokens.json'

#: Version 1 (releases before grants) keyed records by the wiki host; it is
#: read as it is (the host is the central wiki) and rewritten as version 2.
_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
_FILE_MODE = 0o600
#: Seconds a process waits for another one's lock on the store before it gives up.
LOCK_TIMEOUT = 120.0


class GrantKey(NamedTuple):
    """Where a grant is stored: the central wiki, the consumer/client, the account.

    ``account`` is None only for a grant whose owner the wiki has not named
    yet (a client-credentials token before its first use, or a record of the
    old format that lacked one); it is adopted once the wiki says who it is.
    """

    central_wiki: str
    client_id: str
    account: Optional[str]

    def describe(self) -> str:
        """'BotUser@meta.wikimedia.org, client abcdef...' (no secret: ids are public)."""
        who = self.account or 'account not yet known'
        return f'{who} on {self.central_wiki}, client {self.client_id[:6]}...'


#: Older call sites pass the three parts instead of a GrantKey.
KeyArgs = Union[GrantKey, str]

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


def _entry_name(item: dict, wiki_field: str) -> str:
    """An entry as error messages name it (wiki, client id shortened, account)."""
    account = item.get('account')
    return (f"{item.get(wiki_field)}, client {str(item.get('client_id'))[:6]}...,"
            f" account {account if account is not None else 'unset'}")


def _is_text(value: object) -> bool:
    """A non-empty one-line string: what a stored secret or token must be."""
    return (isinstance(value, str) and bool(value)
            and not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in value))


def _is_time(value: object) -> bool:
    return (value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                              and math.isfinite(value)))


def validate_record(record: object) -> str | None:
    """What is wrong with a token store record, or None when it is usable.

    The one place that knows a record's shape: an OAuth 1.0a access pair, or an
    OAuth 2.0 token set (RFC 6750 token characters, numeric times; a record
    without ``protocol`` is one). Messages name the field, never its value.
    """
    from pwb_oauth_ext.protocol.oauth2 import is_b64token

    if not isinstance(record, dict):
        return 'the record is not an object'
    protocol = record.get('protocol', 'oauth2')  # as TokenSet.from_record reads it
    if protocol == 'oauth1':
        for name in ('access_token', 'access_secret'):
            if not _is_text(record.get(name)):
                return f'{name} is missing or not a one-line string'
        identity = record.get('identity')
        if identity is not None and not isinstance(identity, str):
            return 'identity is not a string'
        return None
    if protocol == 'oauth2':
        if not is_b64token(record.get('access_token')):
            return 'access_token is missing or not a token (RFC 6750 characters)'
        refresh_token = record.get('refresh_token')
        if refresh_token is not None and not is_b64token(refresh_token):
            return 'refresh_token is not a token (RFC 6750 characters)'
        for name in ('expires_at', 'obtained_at'):
            if not _is_time(record.get(name)):
                return f'{name} is not a number'
        token_type = record.get('token_type')
        if token_type is not None and (not isinstance(token_type, str)
                                       or token_type.lower() != 'bearer'):
            return 'token_type is not Bearer'
        return None
    return 'protocol is not "oauth1" or "oauth2"'


def grant_key(key: KeyArgs, client_id: str | None = None,
              account: str | None = None) -> GrantKey:
    """A normalised GrantKey from a GrantKey or its three parts.

    Hosts are case-insensitive; client ids and account names are not.
    """
    if isinstance(key, GrantKey):
        central_wiki, client_id, account = key
    else:
        central_wiki = key
    if not central_wiki or not client_id:
        raise ValueError('central_wiki and client_id must be non-empty')
    return GrantKey(central_wiki.lower(), client_id, account)


def choose_grant(key: GrantKey, grants: list[tuple[GrantKey, dict]]
                 ) -> tuple[GrantKey, dict] | None:
    """The grant a site uses among ``grants`` of its consumer and central wiki.

    With an account: its grant, or an unnamed one (adopted once the wiki
    names its owner). Without: the single grant there is; several accounts
    raise GrantChoiceError listing them. Every store decides by this one rule.
    """
    if key.account is not None:
        for found in grants:
            if found[0].account == key.account:
                return found
        unnamed = [found for found in grants if found[0].account is None]
        return unnamed[0] if unnamed else None
    if len(grants) <= 1:
        return grants[0] if grants else None
    accounts = [found[0].account or '(not yet known)' for found in grants]
    raise GrantChoiceError(key.central_wiki, key.client_id, accounts)


def key_and_record(key: KeyArgs, args: tuple[Any, ...]) -> tuple[GrantKey, dict]:
    """``put(key, record)``'s arguments: a normalised key and a record a read would accept."""
    *parts, record = args
    if not isinstance(record, dict):
        raise TypeError('a token store record must be a dict')
    problem = validate_record(record)
    if problem is not None:  # never write what a read would refuse
        raise ValueError(f'not a valid token store record: {problem}')
    return grant_key(key, *parts), record


class GrantTransaction:
    """What every store's transaction does alike, on its own get/put/delete/grants_of."""

    def get(self, key: KeyArgs, client_id: str | None = None,
            account: str | None = None) -> dict | None:
        raise NotImplementedError

    def put(self, key: KeyArgs, *args: Any) -> None:
        raise NotImplementedError

    def delete(self, key: KeyArgs, client_id: str | None = None,
               account: str | None = None) -> bool:
        raise NotImplementedError

    def grants_of(self, central_wiki: str, client_id: str) -> list[tuple[GrantKey, dict]]:
        raise NotImplementedError

    def find(self, key: GrantKey) -> tuple[GrantKey, dict] | None:
        """The grant a site uses (``choose_grant``)."""
        key = grant_key(key)
        return choose_grant(key, self.grants_of(key.central_wiki, key.client_id))

    def adopt(self, key: GrantKey, account: str) -> GrantKey:
        """Name the owner of an unnamed grant; the key it is stored under now.

        A grant already stored under that name is kept; the unnamed one goes.
        """
        key = grant_key(key)
        if key.account is not None:
            return key
        named = key._replace(account=account)
        record = self.get(key)
        if record is not None:
            self.delete(key)
            if self.get(named) is None:
                self.put(named, record)
        return named


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


class GrantStore:
    """What every token store does alike: each write is a transaction of its own."""

    def transaction(self) -> Any:
        raise NotImplementedError

    def put(self, key: KeyArgs, *args: Any) -> None:
        """Store the record for the key (``put(key, record)``)."""
        with self.transaction() as tx:
            tx.put(key, *args)

    def delete(self, key: KeyArgs, client_id: str | None = None,
               account: str | None = None) -> bool:
        """Remove the record for the key; True if there was one."""
        with self.transaction() as tx:
            return tx.delete(key, client_id, account)


class TokenStore(GrantStore):
    """One JSON file holding OAuth grants keyed by (host, client id, account).

    Each call reads the file fresh, so several processes can share it;
    ``transaction()`` is the way to read and then write without a race.
    """

    def __init__(self, path: str | os.PathLike, *,
                 lock_timeout: float = LOCK_TIMEOUT) -> None:
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
        """``os.open`` that never follows a symlink; every failure is a TokenStoreError."""
        flags |= getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
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
                raise self._corrupt(f'the entry for {_entry_name(item, wiki_field)}: {problem}')
            account = item.get('account')
            identity = item['record'].get('identity')
            if version == 1 and account is None and isinstance(identity, str) and identity:
                # Stored by `authorize` without -user: the verified identity is its owner.
                account = identity
            entries[grant_key(item[wiki_field], item['client_id'], account)] = item['record']
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


def open_store(location: Any, *, password: Any = None, warn: Any = None) -> Any:
    """The token store for the ``token_store`` setting: a database URL, else a file.

    ``location`` (and ``password``) may be secret references; they are
    resolved here, at first use. A database store is kept per URL for the
    process, so its schema is checked once.
    """
    location = _resolved_setting(location, 'token_store')
    if password is not None:
        password = _resolved_setting(password, 'token_store_password')
    if not isinstance(location, str) or '://' not in location:
        return TokenStore(location)
    from pwb_oauth_ext.protocol.database_store import DatabaseStore
    cache_key = (location, password)
    with _path_locks_guard:
        store = _database_stores.get(cache_key)
        if store is None:
            store = _database_stores[cache_key] = DatabaseStore(location, password=password,
                                                                warn=warn)
    return store


_database_stores: dict[tuple[str, Any], Any] = {}


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
