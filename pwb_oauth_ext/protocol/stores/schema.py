"""The database store's tables: created on first use, their schema version checked."""
from __future__ import annotations

from contextlib import suppress
from typing import Any

from pwb_oauth_ext.errors import TokenStoreError

SCHEMA_VERSION = 1


class DatabaseSchema:
    """The three tables of a database store (a mixin of ``DatabaseStore``)."""

    _tables: Any = None
    _schema_ready = False

    def _sqlalchemy(self) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _error(self, exc: BaseException, what: str) -> TokenStoreError:
        raise NotImplementedError

    def _table_defs(self) -> Any:
        if self._tables is not None:
            return self._tables
        sa = self._sqlalchemy()
        from sqlalchemy.dialects import mysql

        def name(length: int) -> Any:
            # Case-sensitive in MariaDB/MySQL too: 'BotA' and 'Bota' are two accounts.
            return sa.String(length).with_variant(
                mysql.VARCHAR(length, charset='utf8mb4', collation='utf8mb4_bin'), 'mysql')

        options = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4'}
        metadata = sa.MetaData()
        meta = sa.Table('pwb_oauth_meta', metadata,
                        sa.Column('name', name(64), primary_key=True),
                        sa.Column('value', name(255), nullable=False), **options)
        scopes = sa.Table('pwb_oauth_scopes', metadata,
                          sa.Column('central_wiki', name(255), primary_key=True),
                          sa.Column('client_id', name(128), primary_key=True), **options)
        grants = sa.Table('pwb_oauth_grants', metadata,
                          sa.Column('central_wiki', name(255), primary_key=True),
                          sa.Column('client_id', name(128), primary_key=True),
                          sa.Column('account', name(255), primary_key=True),
                          sa.Column('record', sa.Text, nullable=False),
                          sa.Column('updated_at', sa.Float, nullable=False), **options)
        self._tables = (metadata, meta, scopes, grants)
        return self._tables

    def _ensure_schema(self, conn: Any) -> None:
        """Create the tables on first use; refuse a schema version this release cannot read."""
        if self._schema_ready:
            return
        sa = self._sqlalchemy()
        metadata, meta, _, _ = self._table_defs()
        try:
            version = self._schema_version(conn)
            if version is None:
                try:
                    metadata.create_all(conn, checkfirst=True)
                    conn.commit()
                except Exception:
                    # Another process created them at the same moment: fine if they exist now.
                    conn.rollback()
                    if not sa.inspect(conn).has_table('pwb_oauth_meta'):
                        raise
                    conn.rollback()
                try:
                    conn.execute(meta.insert().values(name='schema_version',
                                                      value=str(SCHEMA_VERSION)))
                    conn.commit()
                except sa.exc.IntegrityError:
                    conn.rollback()   # written by another process meanwhile
                version = self._schema_version(conn)
        except Exception as exc:
            with suppress(Exception):
                conn.rollback()
            raise self._error(exc, 'cannot create or read its tables') from None
        if version != SCHEMA_VERSION:
            raise TokenStoreError(
                f'The token store {self.describe()} has schema version {version!r}; this'
                f' version of pwb_oauth_ext reads version {SCHEMA_VERSION}. It was left as'
                ' it is: upgrade pwb_oauth_ext.')
        self._schema_ready = True

    def _schema_version(self, conn: Any) -> int | None:
        sa = self._sqlalchemy()
        _, meta, _, _ = self._table_defs()
        try:
            if not sa.inspect(conn).has_table('pwb_oauth_meta'):
                return None
            value = conn.execute(sa.select(meta.c.value).where(
                meta.c.name == 'schema_version')).scalar()
        finally:
            conn.rollback()
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return -1
