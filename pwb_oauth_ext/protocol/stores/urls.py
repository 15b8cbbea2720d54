"""What a database store URL says, and what differs between the databases it can name.

A URL is split as SQLAlchemy splits it: the password runs to the *last* ``@``,
so one holding ``/``, ``#`` or ``?`` is still the password, and nothing here ever
shows a URL as it was written: only as ``StoreURL.masked()`` renders it.
"""
from __future__ import annotations

import os
import re
from contextlib import suppress
from typing import Any, Optional
from urllib.parse import parse_qsl, quote, unquote, urlencode

from pwb_oauth_ext.config.file_modes import others_may_access
from pwb_oauth_ext.errors import ConfigError, TokenStoreError

DEFAULT_LEASE = 120.0
#: Query parameters read by this store, not passed to the driver.
_OWN_PARAMETERS = ('lease',)

#: SQLAlchemy's URL pattern (sqlalchemy.engine.url._parse_url), the password greedy:
#: it ends at the last ``@``.
_URL = re.compile(r"""
    (?P<scheme>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>.*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    \Z""", re.X | re.S)


class Database:
    """What differs between the databases a store URL can name; one subclass each."""

    #: SQLAlchemy's dialect name, also the scheme a URL is shown with.
    name = ''
    #: The pwb_oauth_ext extra that installs SQLAlchemy and the driver.
    extra: Optional[str] = None
    #: False for a database in a local file (a path instead of host and database).
    networked = True

    def default_driver(self) -> str:
        raise NotImplementedError

    def before_engine(self, url: StoreURL) -> None:
        """Whatever must exist before the engine is created."""

    def connect_args(self, lock_wait: float) -> dict[str, Any]:
        return {'connect_timeout': 10}

    def prepare(self, engine: Any) -> None:
        """Engine-wide settings (event listeners)."""

    def start(self, conn: Any, lock_wait: float, lease: float) -> None:
        """Bound the lock wait and the lease of the transaction ``conn`` begins."""


class PostgreSQL(Database):
    name = 'postgresql'
    extra = 'postgresql'

    def default_driver(self) -> str:
        import importlib.util
        return 'psycopg' if importlib.util.find_spec('psycopg') else 'psycopg2'

    def start(self, conn: Any, lock_wait: float, lease: float) -> None:
        # Idle in a transaction longer than the lease: the server ends the session
        # (and so the lock) of a holder that hangs.
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_wait * 1000)}ms'")
        conn.exec_driver_sql('SET LOCAL idle_in_transaction_session_timeout ='
                             f" '{int(lease * 1000)}ms'")


class MySQL(Database):
    """MySQL and MariaDB."""

    name = 'mysql'
    extra = 'mysql'

    def default_driver(self) -> str:
        return 'pymysql'

    def start(self, conn: Any, lock_wait: float, lease: float) -> None:
        conn.exec_driver_sql(f'SET SESSION innodb_lock_wait_timeout = {max(1, int(lock_wait))}')
        conn.exec_driver_sql(f'SET SESSION wait_timeout = {max(1, int(lease))}')


class SQLite(Database):
    """One host only: a file, locked by SQLite itself (``BEGIN IMMEDIATE``)."""

    name = 'sqlite'
    networked = False

    def before_engine(self, url: StoreURL) -> None:
        _create_private_file(url.path)

    def connect_args(self, lock_wait: float) -> dict[str, Any]:
        return {'timeout': lock_wait}

    def prepare(self, engine: Any) -> None:
        """Every transaction takes the write lock at BEGIN (one writer at a time)."""
        from sqlalchemy import event

        @event.listens_for(engine, 'connect')
        def _no_implicit_begin(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, 'begin')
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql('BEGIN IMMEDIATE')


#: URL schemes and the database each names.
_DATABASES: dict[str, Database] = {
    'postgresql': PostgreSQL(), 'postgres': PostgreSQL(), 'mysql': MySQL(), 'mariadb': MySQL(),
    'sqlite': SQLite()}


def _create_private_file(path: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o700, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    if others_may_access(os.stat(path).st_mode):
        raise TokenStoreError(
            f'The token store {path} can be accessed by other users; it holds OAuth'
            f' secrets, so it is not used. Fix it with: chmod 600 {path}')


class StoreURL:
    """A parsed store URL: what to connect to, and how to show it without the password."""

    def __init__(self, url: str, password: Optional[str] = None,
                 setting: str = 'token_store') -> None:
        self.setting = setting
        scheme_text = url.partition('://')[0] if '://' in url else ''
        scheme, _, driver = scheme_text.lower().partition('+')
        if scheme not in _DATABASES:
            shown = repr(scheme) if re.fullmatch(r'[a-z0-9+]{1,20}', scheme) else 'this URL'
            raise ConfigError(
                f'{setting}: {shown} is not a supported token store; use a file path,'
                ' postgresql://USER@HOST:PORT/DATABASE, mysql://USER@HOST:PORT/DATABASE'
                ' or sqlite:///PATH')
        self.database = _DATABASES[scheme]
        self.driver = driver
        self.username: Optional[str] = None
        self.password = password
        self.host: Optional[str] = None
        self.port: Optional[int] = None
        self.query: list[tuple[str, str]] = []
        self.lease = DEFAULT_LEASE
        rest = url.partition('://')[2]
        if not self.database.networked:
            path, _, query = rest.partition('?')
            self._read_query(query)
            if not path.startswith('/') or not path.lstrip('/'):
                raise ConfigError(f'{setting}: a SQLite store is sqlite:///PATH'
                                  ' (three slashes, then the file)')
            path = path[1:]
            self.path = os.path.expanduser(path) if path.startswith('~') else path
            return
        match = _URL.match(url)
        if match is None:
            raise ConfigError(f'{setting}: the {scheme} URL cannot be read; write it as'
                              f' {scheme}://USER:PASSWORD@HOST:PORT/DATABASE')
        parts = match.groupdict()
        self.username = unquote(parts['username']) if parts['username'] is not None else None
        if password is None and parts['password'] is not None:
            self.password = unquote(parts['password'])
        self.host = parts['ipv6host'] or parts['ipv4host'] or None
        self._read_query(parts['query'] or '')
        database = unquote(parts['database'] or '')
        self.path = '/' + database
        if parts['port']:
            if not parts['port'].isdigit() or not 0 < int(parts['port']) < 65536:
                raise ConfigError(f'{setting}: the port of {self.masked()} is not a number'
                                  ' from 1 to 65535')
            self.port = int(parts['port'])
        if not self.host or not database.strip('/'):
            raise ConfigError(f'{setting}: {self.masked()} needs a host and a database:'
                              f' {scheme}://USER@HOST:PORT/DATABASE')

    def _read_query(self, text: str) -> None:
        query = parse_qsl(text, keep_blank_values=True)
        own = {name: value for name, value in query if name in _OWN_PARAMETERS}
        self.query = [(name, value) for name, value in query if name not in _OWN_PARAMETERS]
        try:
            self.lease = float(own.get('lease', DEFAULT_LEASE))
        except ValueError:
            self.lease = -1.0
        if not 1 <= self.lease <= 86400:
            raise ConfigError(f'{self.setting}: lease= must be a number of seconds from 1'
                              ' to 86400')

    def masked(self) -> str:
        """The URL with its password as *** and without its query (never the URL as written)."""
        return self._render(mask=True)

    def _render(self, mask: bool) -> str:
        scheme = self.database.name
        if not self.database.networked:
            return f'{scheme}:///{self.path}'
        auth = ''
        if self.username is not None:
            auth = quote(self.username, safe='')
            if self.password is not None:
                auth += ':***' if mask else ':' + quote(self.password, safe='')
            auth += '@'
        host = f'[{self.host}]' if self.host and ':' in self.host else (self.host or '')
        port = f':{self.port}' if self.port else ''
        query = f'?{urlencode(self.query)}' if self.query and not mask else ''
        return f'{scheme}://{auth}{host}{port}{self.path}{query}'

    def sqlalchemy_url(self) -> Any:
        """The URL for SQLAlchemy, with the driver this package installs."""
        from sqlalchemy.engine import URL
        if not self.database.networked:
            return URL.create(self.database.name, database=self.path)
        driver = self.driver or self.database.default_driver()
        query: dict[str, Any] = {}
        for name, value in self.query:
            query.setdefault(name, value)
        return URL.create(f'{self.database.name}+{driver}', username=self.username,
                          password=self.password, host=self.host, port=self.port,
                          database=self.path.lstrip('/'), query=query)
