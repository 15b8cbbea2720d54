"""A token store on PostgreSQL, MariaDB/MySQL or SQLite, shared by bots on many hosts.

The file store's lock serialises one host only (and ``flock`` over NFS is
not to be trusted), so a fleet keeps its grants in a database. The promises
are the file store's: a refresh runs inside a transaction that holds a row
lock on the grant's scope (its central wiki and client: ``SELECT ... FOR
UPDATE``; SQLite: ``BEGIN IMMEDIATE``), the rotated pair is committed before
the transaction ends, and the others wait for the lock, then read the
rotated grant instead of refreshing again.

A process that dies releases its lock: the server rolls the transaction back
when the connection drops. One that hangs holds it for at most the *lease*:
the server ends a session idle inside a transaction after ``lease`` seconds
(PostgreSQL ``idle_in_transaction_session_timeout``, MariaDB/MySQL
``wait_timeout``), and a waiter gives up after ``lease + 30`` seconds.

The database is read when a bot first needs a grant and written when the
grant is renewed, never per request: each operation opens a connection and
closes it (no pool to go stale, few connections for a shared server).
SQLAlchemy Core and the drivers are imported only when such a store is used.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Callable, Optional

from pwb_oauth_ext.errors import ConfigError, TokenStoreError, shown_id
from pwb_oauth_ext.protocol.stores.records import (
    GrantKey,
    KeyArgs,
    grant_key,
    key_and_record,
    validate_record,
)
from pwb_oauth_ext.protocol.stores.schema import SCHEMA_VERSION, DatabaseSchema
from pwb_oauth_ext.protocol.stores.transactions import GrantStore, GrantTransaction
from pwb_oauth_ext.protocol.stores.urls import DEFAULT_LEASE, StoreURL

__all__ = ['DEFAULT_LEASE', 'SCHEMA_VERSION', 'DatabaseStore', 'DatabaseTransaction', 'StoreURL']

#: How long a refresh waits for an unreachable database before it gives up.
DEFAULT_OUTAGE_WAIT = 300.0
_WAIT_BEYOND_LEASE = 30.0
#: account None is stored as '' (MediaWiki has no user with an empty name).
_UNNAMED = ''
#: The journal's file name in the directory ``open_store`` is given (Pywikibot's).
JOURNAL_NAME = 'pwb-oauth-pending.json'
#: A token request keeps its transaction alive for at most this long.
_KEEPALIVE_LIMIT = 600.0

log = logging.getLogger(__name__)


class DatabaseTransaction(GrantTransaction):
    """A store transaction on one connection; a grant scope is locked at first touch.

    The scope of a key is its central wiki and client: everything the grant
    choice (``find``) looks at. Its lock row is held until the transaction
    ends, so a second process touching that scope waits here.
    """

    def __init__(self, store: DatabaseStore, conn: Any) -> None:
        self._store = store
        self._conn = conn
        self._scopes: dict[tuple[str, str], dict[GrantKey, dict]] = {}
        self.changed = False

    def _scope(self, key: GrantKey) -> dict[GrantKey, dict]:
        scope = (key.central_wiki, key.client_id)
        rows = self._scopes.get(scope)
        if rows is None:
            self._store._lock_scope(self._conn, scope)
            rows = self._scopes[scope] = self._store._select_scope(self._conn, scope)
        return rows

    def get(self, key: KeyArgs, client_id: str | None = None,
            account: str | None = None) -> dict | None:
        key = grant_key(key, client_id, account)
        record = self._scope(key).get(key)
        return json.loads(json.dumps(record)) if record is not None else None

    def put(self, key: KeyArgs, *args: Any) -> None:
        key, record = key_and_record(key, args)
        rows = self._scope(key)
        if rows.get(key) == record:
            return
        self._store._write_row(self._conn, key, record, exists=key in rows)
        rows[key] = json.loads(json.dumps(record))
        self.changed = True

    def delete(self, key: KeyArgs, client_id: str | None = None,
               account: str | None = None) -> bool:
        key = grant_key(key, client_id, account)
        rows = self._scope(key)
        if key not in rows:
            return False
        self._store._delete_row(self._conn, key)
        del rows[key]
        self.changed = True
        return True

    def entries(self) -> list[tuple[GrantKey, dict]]:
        return self._store._select_all(self._conn)

    @contextmanager
    def keepalive(self) -> Iterator[None]:
        """While a token request is in flight, the transaction is not idle.

        The server ends a session idle in a transaction after the lease (that
        frees the lock of a hung holder); a wiki slower than the lease must not
        end this one, whose refresh is still coming. A statement every third of
        the lease, from a thread, for as long as the request runs (at most
        10 minutes); the connection is this transaction's, and the caller does
        not touch it meanwhile.
        """
        stop = threading.Event()
        interval = max(0.2, min(self._store.lease / 3, 20.0))

        def beat() -> None:
            deadline = time.monotonic() + _KEEPALIVE_LIMIT
            while not stop.wait(interval) and time.monotonic() < deadline:
                try:
                    self._conn.exec_driver_sql('SELECT 1').close()
                except Exception:   # the write after the request says what is wrong
                    return

        thread = threading.Thread(target=beat, name='pwb-oauth-keepalive', daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def grants_of(self, central_wiki: str, client_id: str) -> list[tuple[GrantKey, dict]]:
        rows = self._scope(grant_key(central_wiki, client_id, None))
        return [(key, json.loads(json.dumps(record))) for key, record in sorted(
            rows.items(), key=lambda kv: kv[0].account or '')]

    def reread(self) -> None:
        """Read the locked scopes again (a writer may have bypassed the lock)."""
        for scope in list(self._scopes):
            self._scopes[scope] = self._store._select_scope(self._conn, scope)

    def __repr__(self) -> str:
        return f'<DatabaseTransaction on {self._store.describe()}>'


class DatabaseStore(DatabaseSchema, GrantStore):
    """Grants in three tables of a database; the interface of ``TokenStore``.

    ``warn`` tells the operator that a refresh waits for an unreachable
    database (the adapter passes Pywikibot's warning); ``sleep`` and ``now``
    are injectable for tests.
    """

    def __init__(self, url: str, *, password: Optional[str] = None,
                 setting: str = 'token_store', outage_wait: float = DEFAULT_OUTAGE_WAIT,
                 warn: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], float] = time.monotonic,
                 journal_dir: Optional[Path] = None) -> None:
        self.url = StoreURL(url, password, setting)
        self._journal: Any = None
        if journal_dir is not None:
            from pwb_oauth_ext.protocol.stores.file import TokenStore
            self._journal = TokenStore(Path(journal_dir) / JOURNAL_NAME, journal=False)
        self.lease = self.url.lease
        self.lock_wait = self.lease + _WAIT_BEYOND_LEASE
        self.outage_wait = outage_wait
        self._warn = warn or log.warning
        self._sleep = sleep
        self._now = now
        self._engine: Any = None
        self._tables: Any = None
        self._schema_ready = False

    @property
    def journal(self) -> Any:
        """``pwb-oauth-pending.json`` in the directory given (Pywikibot's), or None."""
        return self._journal

    def warn(self, message: str) -> None:
        self._warn(message)

    def describe(self) -> str:
        """The store's URL with the password masked."""
        return self.url.masked()

    def __repr__(self) -> str:
        return f'DatabaseStore({self.describe()!r})'

    # --- the TokenStore interface ------------------------------------------

    def get(self, key: KeyArgs, client_id: str | None = None,
            account: str | None = None) -> dict | None:
        with self.transaction(wait=False) as tx:
            return tx.get(key, client_id, account)

    def find(self, key: GrantKey) -> tuple[GrantKey, dict] | None:
        with self.transaction(wait=False) as tx:
            return tx.find(key)

    def grants_of(self, central_wiki: str, client_id: str) -> list[tuple[GrantKey, dict]]:
        with self.transaction(wait=False) as tx:
            return tx.grants_of(central_wiki, client_id)

    def entries(self) -> list[tuple[GrantKey, dict]]:
        with self.transaction(wait=False) as tx:
            return tx.entries()

    @contextmanager
    def transaction(self, wait: bool = True) -> Iterator[DatabaseTransaction]:
        """One database transaction; committed on a clean exit, rolled back on an exception.

        With ``wait`` (every write: a refresh must store the rotated pair), an
        unreachable database is waited for, with a warning, up to
        ``outage_wait`` seconds; reads fail at once.
        """
        conn = self._connect(wait)
        try:
            try:
                trans = conn.begin()
                self._start(conn)
            except Exception as exc:
                raise self._error(exc, 'cannot start a transaction') from None
            try:
                yield DatabaseTransaction(self, conn)
            except BaseException:
                with suppress(Exception):
                    trans.rollback()
                raise
            try:
                trans.commit()
            except Exception as exc:
                raise self._error(exc, 'did not store the change (commit failed)') from None
        finally:
            with suppress(Exception):
                conn.close()

    # --- connections -------------------------------------------------------

    def _sqlalchemy(self) -> Any:
        try:
            import sqlalchemy
        except ImportError:
            raise self._missing_driver() from None
        return sqlalchemy

    def _missing_driver(self) -> ConfigError:
        extra = self.url.database.extra
        package = f'pwb_oauth_ext[{extra}]' if extra else 'SQLAlchemy'
        return ConfigError(f'{self.url.setting} {self.describe()} needs SQLAlchemy and the'
                           f' database driver: pip install "{package}"')

    def _get_engine(self) -> Any:
        if self._engine is not None:
            return self._engine
        sqlalchemy = self._sqlalchemy()
        from sqlalchemy.pool import NullPool
        database = self.url.database
        database.before_engine(self.url)
        try:
            engine = sqlalchemy.create_engine(self.url.sqlalchemy_url(), poolclass=NullPool,
                                              connect_args=database.connect_args(self.lock_wait))
        except ImportError:
            raise self._missing_driver() from None
        except Exception as exc:
            raise self._error(exc, 'cannot be used') from None
        database.prepare(engine)
        self._engine = engine
        return engine

    def _connect(self, wait: bool) -> Any:
        """A new connection, the schema checked; waits out an outage when ``wait``."""
        engine = self._get_engine()
        deadline = None
        delay = 1.0
        while True:
            try:
                conn = engine.connect()
            except Exception as exc:
                if not wait or not self._unreachable(exc):
                    raise self._error(exc, 'cannot be reached') from None
                now = self._now()
                if deadline is None:
                    deadline = now + self.outage_wait
                    self._warn(
                        f'The token store {self.describe()} cannot be reached'
                        f' ({self._reason(exc)}); a token refresh waits for it (up to'
                        f' {self.outage_wait:.0f} s). Bots with a valid token keep working.')
                if now >= deadline:
                    raise TokenStoreError(
                        f'The token store {self.describe()} could not be reached for'
                        f' {self.outage_wait:.0f} s ({self._reason(exc)}); the token was'
                        ' not refreshed. Start the database, then run the bot again.') \
                        from None
                self._sleep(min(delay, max(deadline - now, 0.0)))
                delay = min(delay * 2, 15.0)
                continue
            if deadline is not None:
                self._warn(f'The token store {self.describe()} is reachable again.')
            try:
                self._ensure_schema(conn)
            except BaseException:
                with suppress(Exception):
                    conn.close()
                raise
            return conn

    @staticmethod
    def _unreachable(exc: Exception) -> bool:
        from sqlalchemy import exc as sa_exc
        return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))

    def _start(self, conn: Any) -> None:
        """Bound the lock wait and the lease of this transaction."""
        self.url.database.start(conn, self.lock_wait, self.lease)

    # --- rows ----------------------------------------------------------------

    def _lock_scope(self, conn: Any, scope: tuple[str, str]) -> None:
        """Hold the scope's lock row until the transaction ends (created when missing)."""
        sa = self._sqlalchemy()
        _, _, scopes, _ = self._table_defs()
        where = sa.and_(scopes.c.central_wiki == scope[0], scopes.c.client_id == scope[1])
        select = sa.select(scopes.c.client_id).where(where).with_for_update()
        try:
            if conn.execute(select).first() is None:
                try:
                    with conn.begin_nested():
                        conn.execute(scopes.insert().values(central_wiki=scope[0],
                                                            client_id=scope[1]))
                except sa.exc.IntegrityError:
                    pass   # another process inserted it first; its lock is waited for below
                conn.execute(select).first()
        except Exception as exc:
            if self._lock_timed_out(exc):
                raise TokenStoreError(
                    f'The token store {self.describe()}: another process has held the lock'
                    f' of the grants of client {shown_id(scope[1])} on {scope[0]} for more than'
                    f' {self.lock_wait:.0f} s. It should have been released after the lease'
                    f' ({self.lease:.0f} s); check the database for a stuck session.') \
                    from None
            raise self._error(exc, 'cannot lock a grant') from None

    @staticmethod
    def _lock_timed_out(exc: Exception) -> bool:
        text = str(getattr(exc, 'orig', exc)).lower()
        return ('lock timeout' in text or 'lock wait timeout' in text
                or 'database is locked' in text)

    def _key_of(self, row: Any) -> GrantKey:
        return GrantKey(row.central_wiki, row.client_id, row.account or None)

    def _select_scope(self, conn: Any, scope: tuple[str, str]) -> dict[GrantKey, dict]:
        sa = self._sqlalchemy()
        grants = self._table_defs()[3]
        try:
            rows = conn.execute(sa.select(grants).where(sa.and_(
                grants.c.central_wiki == scope[0], grants.c.client_id == scope[1]))).all()
        except Exception as exc:
            raise self._error(exc, 'cannot be read') from None
        return {self._key_of(row): self._record_of(row) for row in rows}

    def _select_all(self, conn: Any) -> list[tuple[GrantKey, dict]]:
        sa = self._sqlalchemy()
        grants = self._table_defs()[3]
        try:
            rows = conn.execute(sa.select(grants).order_by(
                grants.c.central_wiki, grants.c.client_id, grants.c.account)).all()
        except Exception as exc:
            raise self._error(exc, 'cannot be read') from None
        return [(self._key_of(row), self._record_of(row)) for row in rows]

    def _record_of(self, row: Any) -> dict:
        try:
            record = json.loads(row.record)
        except ValueError:
            record = None
        problem = validate_record(record) if isinstance(record, dict) else 'not an object'
        if problem is not None:
            raise TokenStoreError(
                f'The token store {self.describe()} holds a damaged grant'
                f' ({row.account or "unnamed"} on {row.central_wiki}: {problem}); delete that'
                ' row and authorize again.')
        return record

    def _write_row(self, conn: Any, key: GrantKey, record: dict, exists: bool) -> None:
        sa = self._sqlalchemy()
        grants = self._table_defs()[3]
        values = {'record': json.dumps(record, sort_keys=True), 'updated_at': time.time()}
        account = key.account or _UNNAMED
        try:
            if exists:
                conn.execute(grants.update().where(sa.and_(
                    grants.c.central_wiki == key.central_wiki,
                    grants.c.client_id == key.client_id,
                    grants.c.account == account)).values(**values))
            else:
                conn.execute(grants.insert().values(central_wiki=key.central_wiki,
                                                    client_id=key.client_id,
                                                    account=account, **values))
        except Exception as exc:
            raise self._error(exc, 'cannot be written') from None

    def _delete_row(self, conn: Any, key: GrantKey) -> None:
        sa = self._sqlalchemy()
        grants = self._table_defs()[3]
        try:
            conn.execute(grants.delete().where(sa.and_(
                grants.c.central_wiki == key.central_wiki, grants.c.client_id == key.client_id,
                grants.c.account == (key.account or _UNNAMED))))
        except Exception as exc:
            raise self._error(exc, 'cannot be written') from None

    # --- errors --------------------------------------------------------------

    def _reason(self, exc: BaseException) -> str:
        """The driver's first line, never the statement or its parameters, never the password."""
        original = getattr(exc, 'orig', None) or exc
        text = (str(original).strip().splitlines() or [type(original).__name__])[0]
        if self.url.password:
            text = text.replace(self.url.password, '***')
        return text[:300]

    def _error(self, exc: BaseException, what: str) -> TokenStoreError:
        if isinstance(exc, (TokenStoreError, ConfigError)):
            return exc  # type: ignore[return-value]
        return TokenStoreError(f'The token store {self.describe()} {what}: {self._reason(exc)}')
