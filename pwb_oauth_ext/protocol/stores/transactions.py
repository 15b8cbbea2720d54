"""What every store's transaction does alike, and the journal's completion into a store.

A refresh answer is written first to the store's journal (a small private
file, see ``GrantStore.journal``), then to the store itself. ``store_newest``
writes a record unless the store holds a newer one (``records.freshness``:
newest wins, never "stored first"); ``complete_pending`` moves what a
process left in the journal (its store write failed, or it was killed)
into the store.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from pwb_oauth_ext.protocol.stores.records import (
    GrantKey,
    KeyArgs,
    choose_grant,
    freshness,
    grant_key,
)


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

    @contextmanager
    def keepalive(self) -> Iterator[None]:
        """Around a token request made inside the transaction: the lock must not lapse."""
        yield

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

    def put_newest(self, key: GrantKey, record: dict) -> bool:
        """Store ``record`` unless the stored one is newer; True if it is stored now."""
        there = self.get(key)
        if there is not None and freshness(there) > freshness(record):
            return False
        self.put(key, record)
        return True


class GrantStore:
    """What every token store does alike: each write is a transaction of its own."""

    #: Seconds a failed write of a refreshed pair is retried for.
    outage_wait: float = 30.0

    def transaction(self) -> Any:
        raise NotImplementedError

    @property
    def journal(self) -> Optional[Any]:
        """The private file a refreshed pair is written to before the store, or None."""
        return None

    def warn(self, message: str) -> None:
        import logging
        logging.getLogger('pwb_oauth_ext.store').warning(message)

    def put(self, key: KeyArgs, *args: Any) -> None:
        """Store the record for the key (``put(key, record)``)."""
        with self.transaction() as tx:
            tx.put(key, *args)

    def delete(self, key: KeyArgs, client_id: str | None = None,
               account: str | None = None) -> bool:
        """Remove the record for the key; True if there was one."""
        with self.transaction() as tx:
            return tx.delete(key, client_id, account)

    def pending(self, key: GrantKey | None = None) -> list[tuple[GrantKey, dict]]:
        """What the journal holds (for ``key`` only, when given); unreadable: nothing."""
        journal = self.journal
        if journal is None:
            return []
        from pwb_oauth_ext.errors import TokenStoreError
        try:
            entries = journal.entries()
        except TokenStoreError as exc:
            self.warn(str(exc))
            return []
        return [(k, r) for k, r in entries if key is None or k == grant_key(key)]

    def store_newest(self, key: GrantKey, record: dict) -> bool:
        """Write ``record`` unless the store has a newer one, then clear it from the journal.

        Raises the store's error when the write fails; True if the record is stored now.
        """
        with self.transaction() as tx:
            stored = tx.put_newest(key, record)
        self.forget_pending(key, record)
        return stored

    def forget_pending(self, key: GrantKey, record: dict) -> None:
        """The store holds ``record`` (or newer): it leaves the journal."""
        journal = self.journal
        if journal is None:
            return
        from pwb_oauth_ext.errors import TokenStoreError
        try:
            with journal.transaction() as tx:
                there = tx.get(key)
                if there is not None and freshness(there) <= freshness(record):
                    tx.delete(key)
        except TokenStoreError as exc:
            self.warn(str(exc))

    def keep_pending(self, key: GrantKey, record: dict) -> bool:
        """Write a fresh pair to the journal (fsync'd); False (with a warning) if it fails."""
        journal = self.journal
        if journal is None:
            return False
        try:
            with journal.transaction() as tx:
                tx.put_newest(key, record)
            return True
        except Exception as exc:   # whatever it is, the refresh goes on without the journal
            self.warn(f'{exc} (the refreshed token could not be kept in the journal)')
            return False

    def complete_pending(self) -> int:
        """Move every journal entry into the store (newest wins); how many were moved."""
        moved = 0
        for key, record in self.pending():
            self.store_newest(key, record)
            moved += 1
        return moved
