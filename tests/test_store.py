"""TokenStore: private, atomic, corruption-safe, and race-free across threads and processes."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pwb_oauth_ext.errors import TokenStoreError
from pwb_oauth_ext.protocol.store import DEFAULT_FILENAME, TokenStore

REPO_ROOT = Path(__file__).resolve().parent.parent
POSIX_ONLY = pytest.mark.skipif(os.name == 'nt', reason='POSIX file modes')

RECORD = {'protocol': 'oauth2', 'access_token': 'AT-secret-1', 'refresh_token': 'RT-secret-1',
          'expires_at': 2000.0, 'token_type': 'Bearer', 'obtained_at': 1000.0}
#: A valid record with a counter beside it (records may carry extra fields).
COUNTER = {'protocol': 'oauth2', 'access_token': 'AT-counter', 'n': 0}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / 'tokens.json')


def test_round_trip_and_keys(store: TokenStore) -> None:
    store.put('test.wikipedia.org', 'cid', None, RECORD)
    store.put('test.wikipedia.org', 'cid', 'OtherBot', {'protocol': 'oauth1', 'access_token': 'a',
                                                        'access_secret': 's', 'identity': None})
    assert store.get('test.wikipedia.org', 'cid', None) == RECORD
    # Host names are case-insensitive; client ids and accounts are not.
    assert store.get('TEST.Wikipedia.org', 'cid', None) == RECORD
    assert store.get('test.wikipedia.org', 'CID', None) is None
    assert store.get('test.wikipedia.org', 'cid', 'OtherBot')['protocol'] == 'oauth1'
    assert {key for key, _ in store.entries()} == {
        ('test.wikipedia.org', 'cid', None), ('test.wikipedia.org', 'cid', 'OtherBot')}
    assert store.delete('test.wikipedia.org', 'cid', 'OtherBot') is True
    assert store.delete('test.wikipedia.org', 'cid', 'OtherBot') is False
    # A second store object on the same file sees the same data.
    assert TokenStore(store.path).get('test.wikipedia.org', 'cid', None) == RECORD


def test_records_returned_are_copies(store: TokenStore) -> None:
    store.put('h', 'c', None, RECORD)
    got = store.get('h', 'c', None)
    got['access_token'] = 'changed'
    assert store.get('h', 'c', None)['access_token'] == 'AT-secret-1'


def test_directory_path_uses_default_file_name(tmp_path: Path) -> None:
    assert TokenStore(tmp_path).path == tmp_path / DEFAULT_FILENAME


def test_repr_shows_the_path_only(store: TokenStore) -> None:
    store.put('h', 'c', None, RECORD)
    assert repr(store) == f'TokenStore({str(store.path)!r})'
    assert 'secret' not in repr(store)


@POSIX_ONLY
def test_file_and_lock_file_are_created_private(store: TokenStore) -> None:
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        store.put('h', 'c', None, RECORD)
    finally:
        os.umask(old_umask)
    assert mode_of(store.path) == 0o600
    assert mode_of(Path(str(store.path) + '.lock')) == 0o600


@POSIX_ONLY
def test_group_readable_file_is_refused_with_the_chmod_fix(store: TokenStore) -> None:
    store.put('h', 'c', None, RECORD)
    os.chmod(store.path, 0o640)
    with pytest.raises(TokenStoreError) as info:
        store.get('h', 'c', None)
    message = str(info.value)
    assert f'chmod 600 {store.path}' in message
    assert 'AT-secret' not in message
    with pytest.raises(TokenStoreError):
        store.put('h', 'c', None, RECORD)
    # The fix given in the message works.
    subprocess.run(['chmod', '600', str(store.path)], check=True)
    assert store.get('h', 'c', None) == RECORD


def test_write_replaces_the_file_atomically(store: TokenStore) -> None:
    store.put('h', 'c', None, RECORD)
    inode_before = store.path.stat().st_ino
    store.put('h', 'c', None, dict(RECORD, access_token='AT-secret-2'))
    assert store.path.stat().st_ino != inode_before  # a new file was renamed over it
    leftovers = [p.name for p in store.path.parent.iterdir()
                 if p.name not in ('tokens.json', 'tokens.json.lock')]
    assert leftovers == []


def test_failed_write_leaves_the_old_file(store: TokenStore, monkeypatch) -> None:
    store.put('h', 'c', None, RECORD)
    before = store.path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'replace', broken_replace)
    with pytest.raises(TokenStoreError, match='cannot be written: No space left'):
        store.put('h', 'c', None, dict(RECORD, access_token='AT-secret-2'))
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert sorted(p.name for p in store.path.parent.iterdir()) == [
        'tokens.json', 'tokens.json.lock']


@pytest.mark.parametrize('content', [
    b'{"version": 1, "entries": [{"host": "h", "client_id": "c", "record": {"access_token": "AT-se',
    b'',
    b'[1, 2, 3]',
    b'\xff\xfe not utf-8',
])
def test_corrupt_file_is_never_overwritten(store: TokenStore, content: bytes) -> None:
    store.path.write_bytes(content)
    os.chmod(store.path, 0o600)
    for action in (lambda: store.get('h', 'c', None),
                   lambda: store.put('h', 'c', None, RECORD),
                   lambda: store.delete('h', 'c', None),
                   store.entries):
        with pytest.raises(TokenStoreError) as info:
            action()
        message = str(info.value)
        assert str(store.path) in message
        assert 'Move it aside' in message
        assert 'AT-se' not in message
    assert store.path.read_bytes() == content


def test_unknown_format_version_is_left_alone(store: TokenStore) -> None:
    content = json.dumps({'version': 99, 'entries': []}).encode()
    store.path.write_bytes(content)
    os.chmod(store.path, 0o600)
    with pytest.raises(TokenStoreError, match='format version 99'):
        store.put('h', 'c', None, RECORD)
    assert store.path.read_bytes() == content


def test_exception_inside_transaction_writes_nothing(store: TokenStore) -> None:
    store.put('h', 'c', None, RECORD)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put('h', 'c', None, dict(RECORD, access_token='AT-secret-2'))
        raise RuntimeError('obtain failed')
    assert store.get('h', 'c', None) == RECORD


def test_unchanged_transaction_does_not_rewrite(store: TokenStore) -> None:
    store.put('h', 'c', None, RECORD)
    inode = store.path.stat().st_ino
    with store.transaction() as tx:
        tx.put('h', 'c', None, tx.get('h', 'c', None))
    assert store.path.stat().st_ino == inode


def test_threads_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / 'tokens.json'
    TokenStore(path).put('h', 'c', None, COUNTER)
    n_threads, n_rounds = 12, 40

    def worker() -> None:
        store = TokenStore(path)  # separate objects on the same file
        for _ in range(n_rounds):
            with store.transaction() as tx:
                record = tx.get('h', 'c', None)
                record['n'] += 1
                tx.put('h', 'c', None, record)

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert TokenStore(path).get('h', 'c', None)['n'] == n_threads * n_rounds


PROCESS_WORKER = textwrap.dedent('''
    import os, sys, time
    from pwb_oauth_ext.protocol.store import TokenStore
    path, go, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    while not os.path.exists(go):
        time.sleep(0.005)
    store = TokenStore(path)
    for _ in range(rounds):
        with store.transaction() as tx:
            record = tx.get('h', 'c', None)
            record['n'] += 1
            tx.put('h', 'c', None, record)
''')


def test_processes_lose_no_update(tmp_path: Path) -> None:
    path = tmp_path / 'tokens.json'
    go = tmp_path / 'go'
    TokenStore(path).put('h', 'c', None, COUNTER)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    n_procs, n_rounds = 6, 25
    procs = [subprocess.Popen([sys.executable, '-c', PROCESS_WORKER, str(path), str(go),
                               str(n_rounds)], env=env) for _ in range(n_procs)]
    go.touch()
    assert [proc.wait(timeout=120) for proc in procs] == [0] * n_procs
    assert TokenStore(path).get('h', 'c', None)['n'] == n_procs * n_rounds


LOCK_HOLDER = textwrap.dedent('''
    import fcntl, sys, time
    from pathlib import Path
    with open(sys.argv[1], 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        Path(sys.argv[2]).touch()
        time.sleep(60)
''')


@pytest.mark.skipif(os.name == 'nt', reason='flock is POSIX')
def test_a_lock_held_too_long_is_an_error_naming_the_lock_file(tmp_path: Path) -> None:
    """A hung bot holding the lock must not hang every other bot without a word."""
    store = TokenStore(tmp_path / 'tokens.json', lock_timeout=0.5)
    store.put('h', 'c', None, RECORD)
    locked = tmp_path / 'locked'
    holder = subprocess.Popen([sys.executable, '-c', LOCK_HOLDER,
                               str(store._lock_path), str(locked)])
    try:
        for _ in range(500):
            if locked.exists():
                break
            assert holder.poll() is None, 'the lock holder died'
            threading.Event().wait(0.02)
        assert locked.exists()
        with pytest.raises(TokenStoreError) as caught:
            store.put('h', 'c', None, COUNTER)
        message = str(caught.value)
        assert 'stayed locked by another process for 0.5 s' in message
        assert f'fuser {store._lock_path}' in message
        assert 'AT-secret' not in message
        assert store.get('h', 'c', None) == RECORD  # nothing written
    finally:
        holder.kill()
        holder.wait()
    store.put('h', 'c', None, COUNTER)  # the lock is free again once the holder is gone
    assert store.get('h', 'c', None) == COUNTER
