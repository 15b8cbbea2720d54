"""The journal and the newest-wins rule of a refresh, in one process (issue 20 item 1)."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pwb_oauth_ext.errors import TokenStoreError
from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
from pwb_oauth_ext.protocol.tokens import BearerTokenSource, TokenSet

KEY = GrantKey('wiki.example', 'cid', 'Bot')


class Wiki:
    """Rotates on every refresh: only the newest refresh token works."""

    def __init__(self) -> None:
        self.live = 'RT-0'
        self.refreshes = 0

    def obtain(self, current: TokenSet | None) -> TokenSet:
        assert current is not None and current.refresh_token == self.live, 'revoked pair'
        self.refreshes += 1
        self.live = f'RT-{self.refreshes}'
        return TokenSet(f'AT-{self.refreshes}', self.live, 9e9, obtained_at=float(self.refreshes))


def failing_writes(store: TokenStore, count: int) -> list[int]:
    """The store's next ``count`` writes fail as a full disk would."""
    failures = [count]
    write = store._write

    def broken(entries: Any) -> None:
        if failures[0] > 0:
            failures[0] -= 1
            raise TokenStoreError(f'The token store {store.path} cannot be written:'
                                  ' No space left on device')
        write(entries)
    store._write = broken   # type: ignore[method-assign]
    return failures


def test_a_failed_write_keeps_the_pair_in_the_journal_and_stores_it_later(
        tmp_path: Path) -> None:
    path = tmp_path / 'tokens.json'
    TokenStore(path).put(KEY, TokenSet('AT-0', 'RT-0', 1.0).to_record())
    wiki = Wiki()
    store = TokenStore(path, outage_wait=0.5)
    warnings: list[str] = []
    store._warn = warnings.append
    failing_writes(store, 100)
    source = BearerTokenSource(store=store, key=KEY, obtain=wiki.obtain)
    assert source.token() == 'AT-1'   # the write failed; the fresh pair is used
    journal = Path(str(path) + '.pending')
    assert stat.S_IMODE(os.stat(journal).st_mode) == 0o600
    assert TokenStore(journal).get(KEY)['refresh_token'] == 'RT-1'
    assert TokenStore(path).get(KEY)['refresh_token'] == 'RT-0'
    assert source.finish(5) is False   # it kept failing for the outage wait
    assert any('could not be stored' in w and str(journal) in w for w in warnings)
    # The next process: the journal's pair is newer than the stored one; it is stored.
    later = BearerTokenSource(store=TokenStore(path), key=KEY, obtain=wiki.obtain)
    assert later.token() == 'AT-1'
    assert TokenStore(path).get(KEY)['refresh_token'] == 'RT-1'
    assert TokenStore(journal).get(KEY) is None
    assert wiki.refreshes == 1


def test_the_retry_stores_the_pair_once_the_store_works_again(tmp_path: Path) -> None:
    path = tmp_path / 'tokens.json'
    TokenStore(path).put(KEY, TokenSet('AT-0', 'RT-0', 1.0).to_record())
    wiki = Wiki()
    store = TokenStore(path, outage_wait=30)
    store._warn = lambda message: None
    failing_writes(store, 2)
    source = BearerTokenSource(store=store, key=KEY, obtain=wiki.obtain)
    assert source.token() == 'AT-1'
    assert source.finish(20) is True
    assert TokenStore(path).get(KEY)['refresh_token'] == 'RT-1'
    assert TokenStore(path).get(KEY)['generation'] == 1
    assert not TokenStore(Path(str(path) + '.pending')).entries()


def test_after_a_rejection_the_newest_pair_is_renewed_not_the_stored_one(
        tmp_path: Path) -> None:
    path = tmp_path / 'tokens.json'
    TokenStore(path).put(KEY, TokenSet('AT-0', 'RT-0', 1.0).to_record())
    wiki = Wiki()
    store = TokenStore(path, journal=False, outage_wait=0.2)
    store._warn = lambda message: None
    failing_writes(store, 100)
    source = BearerTokenSource(store=store, key=KEY, obtain=wiki.obtain)
    assert source.token() == 'AT-1'   # stored: still the revoked RT-0 pair
    source.finish(5)
    # The wiki refuses AT-1: the stored AT-0 differs from it but is older (revoked).
    assert source.renew_after_rejection('AT-1')
    assert source.token() == 'AT-2' and wiki.refreshes == 2


@pytest.mark.parametrize('name', ['symlink', 'fifo'])
def test_a_journal_that_is_not_a_file_of_ours_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / 'tokens.json'
    TokenStore(path).put(KEY, TokenSet('AT-0', 'RT-0', 1.0).to_record())
    journal = Path(str(path) + '.pending')
    if name == 'symlink':
        journal.symlink_to(tmp_path / 'elsewhere.json')
    else:
        os.mkfifo(journal, 0o600)
    wiki = Wiki()
    store = TokenStore(path)
    warnings: list[str] = []
    store._warn = warnings.append
    source = BearerTokenSource(store=store, key=KEY, obtain=wiki.obtain)
    assert source.token() == 'AT-1'   # the store itself still takes the pair
    assert TokenStore(path).get(KEY)['refresh_token'] == 'RT-1'
    assert any('symbolic link' in w or 'not a regular file' in w for w in warnings)
    assert not (tmp_path / 'elsewhere.json').exists()
