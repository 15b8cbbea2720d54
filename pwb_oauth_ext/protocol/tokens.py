"""A grant's tokens (``TokenSet``) and the source that keeps them valid (``BearerTokenSource``).

A refresh rotates the pair: the wiki revokes the old one as it answers, so the
answer is the grant from then on. ``BearerTokenSource`` therefore

* holds the store's lock across the refresh (one refresh per rotation among all
  processes sharing the store), and keeps that lock from lapsing while its own
  token request is in flight (``keepalive``: a database's lease);
* writes the fresh pair to the store's journal (a private file, fsync'd) before
  anything else can fail, then to the store;
* when that write fails (a dropped connection, a database down, a full disk),
  keeps using the fresh pair and retries the write in the background for the
  store's outage wait; the journal keeps the pair for the next process (or
  ``pwb-oauth store flush``) if this one dies;
* takes the newest pair there is (``records.freshness``): stored, journaled or in
  memory, never "stored first".
"""
from __future__ import annotations

import atexit
import dataclasses
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Callable, Optional

from pwb_oauth_ext.errors import OAuthFlowError, ReauthorizationRequired
from pwb_oauth_ext.protocol.stores.records import GrantKey, freshness

Clock = Callable[[], float]
#: Seconds ``finish`` waits by default for a pair not stored yet.
EXIT_WAIT = 10.0


@dataclass(frozen=True, repr=False)
class TokenSet:
    """An access token with its refresh token and expiry (absolute, Unix seconds)."""

    access_token: str
    refresh_token: Optional[str]
    expires_at: Optional[float]
    token_type: str = 'Bearer'
    obtained_at: Optional[float] = None
    #: How many refreshes led to this pair (newest wins between two copies of a grant).
    generation: int = 0

    def __repr__(self) -> str:
        return (f'TokenSet(token_type={self.token_type!r}, expires_at={self.expires_at!r}, '
                f'refresh_token={"present" if self.refresh_token else "none"})')

    __str__ = __repr__

    def expired(self, now: float, margin: float = 60.0) -> bool:
        """True when the token is expired or expires within ``margin`` seconds."""
        return self.expires_at is not None and now + margin >= self.expires_at

    def to_record(self) -> dict:
        """The token store record."""
        return {
            'protocol': 'oauth2',
            'access_token': self.access_token,
            'refresh_token': self.refresh_token,
            'expires_at': self.expires_at,
            'token_type': self.token_type,
            'obtained_at': self.obtained_at,
            **({'generation': self.generation} if self.generation else {}),
        }

    @classmethod
    def from_record(cls, record: dict) -> TokenSet:
        """Rebuild from a token store record."""
        if record.get('protocol', 'oauth2') != 'oauth2' or not record.get('access_token'):
            raise ValueError('not an OAuth 2.0 token record')
        expires_at = record.get('expires_at')
        obtained_at = record.get('obtained_at')
        return cls(
            access_token=record['access_token'],
            refresh_token=record.get('refresh_token') or None,
            expires_at=float(expires_at) if expires_at is not None else None,
            token_type=record.get('token_type') or 'Bearer',
            obtained_at=float(obtained_at) if obtained_at is not None else None,
            generation=record['generation'] if type(record.get('generation')) is int else 0,
        )

    @classmethod
    def from_token_response(cls, params: dict, now: float) -> TokenSet:
        """From a checked token endpoint answer (``parse_token_answer``), anchoring
        expires_in to our clock."""
        expires_in = params.get('expires_in')
        return cls(
            access_token=params['access_token'],
            refresh_token=params.get('refresh_token') or None,
            expires_at=now + expires_in if expires_in is not None else None,
            token_type='Bearer',
            obtained_at=now,
        )


# --- a renewing token source ---------------------------------------------------

def newest(*candidates: Optional[TokenSet]) -> Optional[TokenSet]:
    """The newest of the pairs given (``records.freshness``); the first of equals."""
    best: Optional[TokenSet] = None
    for tokens in candidates:
        if tokens is not None and (best is None or _fresh(tokens) > _fresh(best)):
            best = tokens
    return best


def _fresh(tokens: TokenSet) -> tuple[int, float]:
    return freshness(tokens.to_record())


class BearerTokenSource:
    """Gives a valid access token for one stored grant, renewing it when needed.

    Thread- and process-safe: renewals run inside the token store
    transaction, re-read the store first (another process may have renewed
    already) and keep the new pair (journal, then store) before anyone uses
    it, because the old refresh token is dead the moment the wiki answers.
    ``key`` names the grant; with ``account`` None the one grant stored for
    that consumer is used (``find``), and ``adopt_account`` names it once known.
    """

    def __init__(self, *, store: Any | None, key: GrantKey | tuple,
                 obtain: Callable[[Optional[TokenSet]], TokenSet] | None,
                 initial: TokenSet | None = None, now: Clock = time.time,
                 margin: float = 60.0) -> None:
        self._store = store
        self._key = GrantKey(*key)
        #: The key the grant is stored under, once found or written.
        self._grant: GrantKey | None = None
        self._obtain = obtain
        self._current = initial
        self._loaded = store is None
        self._now = now
        self._margin = margin
        self._lock = threading.RLock()
        #: A fresh pair the store has not taken yet, and the thread retrying it.
        self._unstored: Optional[TokenSet] = None
        self._writer: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        central, client_id, account = self.grant
        return f'<BearerTokenSource {central} client={client_id} account={account!r}>'

    @property
    def grant(self) -> GrantKey:
        """The grant in use: its stored key once known, else the key asked for."""
        return self._grant or self._key

    def _stored(self, tx: Any = None) -> TokenSet | None:
        """The newest of the stored pair and one the journal holds for this grant."""
        source = tx or self._store
        found = source.find(self._grant or self._key)
        pending = self._pending(found[0] if found else self.grant)
        if found is None:
            return pending
        self._grant = found[0]
        try:
            stored = TokenSet.from_record(found[1])
        except (ValueError, TypeError, KeyError):
            stored = None
        return newest(stored, pending)

    def _pending(self, key: GrantKey) -> TokenSet | None:
        pending = getattr(self._store, 'pending', None)
        if pending is None:
            return None
        for _, record in pending(key):
            try:
                return TokenSet.from_record(record)
            except (ValueError, TypeError, KeyError):
                return None
        return None

    def _usable(self, tokens: TokenSet | None) -> bool:
        """Valid for a while yet; the margin is at most half the token's lifetime,
        so short-lived tokens are not renewed on every request."""
        if tokens is None:
            return False
        margin = self._margin
        if tokens.expires_at is not None and tokens.obtained_at is not None:
            margin = min(margin, (tokens.expires_at - tokens.obtained_at) / 2)
        return not tokens.expired(self._now(), margin)

    def token(self) -> str:
        """The current valid access token, renewed first if it is (nearly) expired."""
        with self._lock:
            if not self._loaded:
                self._current = newest(self._stored(), self._current)
                self._loaded = True
                self._complete_pending()
            current = self._current
            if current is not None and (self._obtain is None or self._usable(current)):
                return current.access_token
            if self._obtain is None:
                raise OAuthFlowError('No OAuth 2.0 access token is available.')
            return self._renew(lambda fresh: self._usable(fresh)).access_token

    def renew_after_rejection(self, rejected: str) -> bool:
        """The wiki rejected ``rejected``: switch to a newer token; False if none can be had."""
        with self._lock:
            current = self._current
            if current is not None and current.access_token != rejected:
                return True  # another thread already moved on
            if self._obtain is None and self._store is None:
                return False
            if self._obtain is None:
                stored = newest(self._stored(), current)
                if stored is not None and stored.access_token != rejected:
                    self._current = stored
                    return True
                return False
            self._renew(lambda fresh: fresh.access_token != rejected)
            return True

    def adopt_account(self, account: str) -> GrantKey:
        """The wiki named the grant's owner: store an unnamed grant under that account."""
        with self._lock:
            key = self.grant
            if self._store is None or key.account is not None:
                self._grant = key if key.account is not None else key._replace(account=account)
                return self._grant
            with self._store.transaction() as tx:
                self._grant = tx.adopt(key, account)
            return self._grant

    def _renew(self, good_enough: Callable[[TokenSet], bool]) -> TokenSet:
        assert self._obtain is not None
        if self._store is None:
            self._current = self._obtain(self._current)
            return self._current
        fresh: Optional[TokenSet] = None
        kept = False
        try:
            with self._store.transaction() as tx:
                found = newest(self._stored(tx), self._current)
                if found is not None and found is not self._current and good_enough(found):
                    self._current = found
                    return found
                base = found
                try:
                    fresh, kept = self._obtain_and_keep(tx, base)
                except ReauthorizationRequired:
                    # Another process may have rotated the grant without our lock
                    # (another store path, a copied file): retry once with what is
                    # stored now before declaring the grant dead.
                    tx.reread()
                    again = self._stored(tx)
                    if again is None or base is None \
                            or again.refresh_token == base.refresh_token:
                        raise
                    if good_enough(again):
                        self._current = again
                        return again
                    base = again
                    fresh, kept = self._obtain_and_keep(tx, base)
                record = fresh.to_record()
                tx.put_newest(self.grant, record)
        except Exception as exc:
            if fresh is None:
                raise
            self._store_later(fresh, exc, kept)
            return fresh
        self._store.forget_pending(self._grant, record)
        return fresh

    def _obtain_and_keep(self, tx: Any, base: Optional[TokenSet]) -> tuple[TokenSet, bool]:
        """The token request, and the fresh pair in memory and in the journal at once.

        The old refresh token is dead on the wiki from the answer on; the journal is
        written before the transaction's connection is touched again (a database that
        hangs now cannot keep the pair from the disk).
        """
        assert self._obtain is not None
        with tx.keepalive():
            fresh = self._obtain(base)
            fresh = dataclasses.replace(fresh, generation=(base.generation if base else 0) + 1)
            self._current = fresh
            self._grant = self.grant
            kept = self._store.keep_pending(self._grant, fresh.to_record())
        return fresh, kept

    # --- a fresh pair the store did not take -----------------------------------------

    def _complete_pending(self) -> None:
        """A pair journaled by an earlier process (or this one) goes into the store now."""
        complete = getattr(self._store, 'complete_pending', None)
        if complete is None or self._writer is not None:
            return
        try:
            complete()
        except Exception as exc:   # the store is down: the pair stays journaled
            self._store.warn(f'A refreshed OAuth 2.0 token kept in the journal could not be'
                             f' stored yet ({_first_line(exc)}); it is used meanwhile.')

    def _store_later(self, fresh: TokenSet, exc: Exception, kept: bool) -> None:
        """Retry the write of ``fresh`` in the background for the store's outage wait."""
        journal = getattr(self._store, 'journal', None)
        where = (f'it is kept in {journal.path} until then' if kept and journal is not None
                 else 'it is kept in memory only until then: do not stop this bot')
        self._store.warn(f'The refreshed OAuth 2.0 token of {self.grant.describe()} could not'
                         f' be stored ({_first_line(exc)}); the bot goes on with it and the'
                         f' write is retried; {where}.')
        self._unstored = fresh
        if self._writer is not None and self._writer.is_alive():
            return
        self._writer = threading.Thread(target=self._write_unstored, daemon=True,
                                        name='pwb-oauth-store-retry')
        self._writer.start()
        _unfinished.add(self)

    def _write_unstored(self) -> None:
        deadline = time.monotonic() + max(getattr(self._store, 'outage_wait', 30.0), 1.0)
        delay = 0.2
        while True:
            fresh = self._unstored
            if fresh is None:
                break
            try:
                self._store.store_newest(self.grant, fresh.to_record())
            except Exception as exc:
                if time.monotonic() >= deadline:
                    self._store.warn(
                        f'The refreshed OAuth 2.0 token of {self.grant.describe()} still'
                        f' cannot be stored ({_first_line(exc)}); the next run stores it'
                        ' from the journal (or: pwb-oauth store flush).')
                    break
                time.sleep(min(delay, max(deadline - time.monotonic(), 0.05)))
                delay = min(delay * 2, 5.0)
                continue
            if self._unstored is fresh:
                self._unstored = None
            self._store.warn(f'The refreshed OAuth 2.0 token of {self.grant.describe()}'
                             ' is stored now.')
        _unfinished.discard(self)
        self._writer = None

    def finish(self, timeout: float = EXIT_WAIT) -> bool:
        """Wait (at most ``timeout`` s) for a pending write; True if nothing is pending."""
        writer = self._writer
        if writer is not None:
            writer.join(timeout)
        return self._unstored is None


#: Sources with a write still retrying; the process waits a little for them at exit.
_unfinished: set[BearerTokenSource] = set()


@atexit.register
def _finish_writes() -> None:
    """At exit, a pair the store has not taken yet is waited for (each retry is bounded)."""
    for source in list(_unfinished):
        if source._writer is None:
            continue
        wait = getattr(source._store, 'outage_wait', EXIT_WAIT)
        with suppress(Exception):
            source._store.warn(f'Waiting (up to {wait:.0f} s) for the token store to take the'
                               ' refreshed OAuth 2.0 token; interrupted, it stays in the'
                               ' journal for the next run.')
        source.finish(wait)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


__all__ = ['BearerTokenSource', 'TokenSet', 'newest']
