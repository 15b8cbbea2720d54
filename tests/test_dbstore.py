"""A token store on a real database, shared by bots that share nothing else.

PostgreSQL and MariaDB run once per test session on 127.0.0.1 with their own data
directories in a temp dir (``pwb_oauth_ext.testwiki.databases``); a test skips only
when the server binaries are not installed (``.ci/install-databases`` installs them).
Fleets are real Pywikibot processes, each with its own PYWIKIBOT_DIR.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from conftest import PYWIKIBOT_PYTHON, result_of, save_page_bot, serve_database

from pwb_oauth_ext.commands.store import migrate
from pwb_oauth_ext.errors import ConfigError, TokenStoreError
from pwb_oauth_ext.protocol.store import GrantKey, TokenStore, open_store
from pwb_oauth_ext.protocol.stores.database import DatabaseStore
from pwb_oauth_ext.protocol.tokens import BearerTokenSource, TokenSet
from pwb_oauth_ext.testwiki import databases
from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment
from pwb_oauth_ext.testwiki.server import RunningWiki

USER = 'BotUser'
CALLBACK = 'http://127.0.0.1:9/callback'

SAVE = save_page_bot('fleet test')


@pytest.fixture(scope='session')
def postgres() -> Iterator[databases.PostgresServer]:
    yield from serve_database(databases.PostgresServer)


@pytest.fixture(scope='session')
def mariadb() -> Iterator[databases.MariaDBServer]:
    yield from serve_database(databases.MariaDBServer)


@pytest.fixture(params=['postgresql', 'mariadb'])
def server(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue('postgres' if request.param == 'postgresql' else 'mariadb')


@pytest.fixture(params=['sqlite', 'postgresql', 'mariadb'])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == 'sqlite':
        return f'sqlite:///{tmp_path}/tokens.sqlite'
    name = 'postgres' if request.param == 'postgresql' else 'mariadb'
    return request.getfixturevalue(name).new_database()


# -- the store itself ------------------------------------------------------------------------

def test_a_database_store_keeps_the_file_store_promises(store_url: str) -> None:
    store = DatabaseStore(store_url)
    key = GrantKey('Meta.Example.org', 'cid', 'BotA')
    store.put(key, {'access_token': 'a'})
    store.put(key._replace(account='Bota'), {'access_token': 'b'})   # case matters
    store.put(key._replace(account=None), {'access_token': 'unnamed'})
    assert store.get(GrantKey('meta.example.org', 'cid', 'BotA')) == {'access_token': 'a'}
    assert store.find(GrantKey('meta.example.org', 'cid', 'Bota'))[1] == {'access_token': 'b'}
    assert store.find(GrantKey('meta.example.org', 'cid', 'Other'))[1]['access_token'] \
        == 'unnamed'
    with store.transaction() as tx:
        assert tx.adopt(GrantKey('meta.example.org', 'cid', None), 'Other') == \
            GrantKey('meta.example.org', 'cid', 'Other')
    assert [k.account for k, _ in store.grants_of('meta.example.org', 'cid')] == \
        ['BotA', 'Bota', 'Other']
    assert store.delete(key) and not store.delete(key)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put(key, {'access_token': 'AT-rolled-back'})
        raise RuntimeError
    assert store.get(key) is None
    # Another process (a new store object) reads the same grants.
    assert sorted(k.account for k, _ in DatabaseStore(store_url).entries()) == ['Bota', 'Other']


def test_the_schema_is_versioned_and_a_newer_one_is_refused(store_url: str) -> None:
    import sqlalchemy as sa
    DatabaseStore(store_url).put(GrantKey('w', 'c', 'a'), {'access_token': 'AT-x'})
    store = DatabaseStore(store_url)
    engine = sa.create_engine(store.url.sqlalchemy_url())
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT value FROM pwb_oauth_meta WHERE"
                                    " name = 'schema_version'")).scalar() == '1'
        conn.execute(sa.text("UPDATE pwb_oauth_meta SET value = '7'"))
    engine.dispose()
    with pytest.raises(TokenStoreError, match='schema version 7; this version of'
                                              ' pwb_oauth_ext reads version 1'):
        store.get(GrantKey('w', 'c', 'a'))


def test_no_message_shows_the_password(server: Any) -> None:
    good = server.new_database()
    wrong = good.replace(server.password, 'Wrong-Secret-9')
    store = DatabaseStore(wrong)
    assert 'Wrong-Secret-9' not in repr(store) and ':***@' in store.describe()
    with pytest.raises(TokenStoreError) as info:
        store.get(GrantKey('w', 'c', 'a'))
    assert 'Wrong-Secret-9' not in str(info.value) and store.describe() in str(info.value)
    # The password apart from the URL, as a secret reference.
    os.environ['PWB_OAUTH_TEST_STORE_PASSWORD'] = server.password
    try:
        from pwb_oauth_ext import env
        bare = server.url(good.rsplit('/', 1)[1], password=False)
        separate = open_store(bare, password=env('PWB_OAUTH_TEST_STORE_PASSWORD'))
        separate.put(GrantKey('w', 'c', 'a'), {'access_token': 'AT-x'})
        assert server.password not in separate.describe()
    finally:
        del os.environ['PWB_OAUTH_TEST_STORE_PASSWORD']


def test_bad_store_settings_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="token_store: 'redis' is not a supported token"):
        DatabaseStore('redis://cache:6379/0')
    with pytest.raises(ConfigError, match='needs a host and a database') as info:
        DatabaseStore('postgresql://bot:S3cret@/')
    assert 'S3cret' not in str(info.value)
    with pytest.raises(ConfigError, match='lease= must be'):
        DatabaseStore('mysql://bot@db/tokens?lease=0')
    from pwb_oauth_ext import env
    with pytest.raises(ConfigError, match=r"enable\(token_store=env\('PWB_OAUTH_UNSET_9'\)\)"
                                          ' gives nothing'):
        open_store(env('PWB_OAUTH_UNSET_9'))
    assert isinstance(open_store(tmp_path / 'tokens.json'), TokenStore)


def test_importing_the_package_imports_no_database_code() -> None:
    code = ('import sys, pwb_oauth_ext as o; o.enable(token_store="postgresql://u@h/d");'
            ' print(sorted(m for m in ("sqlalchemy", "psycopg", "psycopg2", "pymysql")'
            ' if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == '[]'


def test_a_refresh_waits_for_an_unreachable_database_and_says_so(postgres: Any) -> None:
    url = postgres.new_database()
    key = GrantKey('wiki.example', 'cid', USER)
    DatabaseStore(url).put(key, TokenSet('AT-1', 'RT-1', 1000.0).to_record())
    warnings: list[str] = []
    bot_clock = [500.0]
    clock = [0.0]
    restarted = []

    def sleep(seconds: float) -> None:   # the database comes back after a few tries
        clock[0] += seconds
        if clock[0] > 3 and not restarted:
            postgres.start()
            restarted.append(clock[0])

    store = DatabaseStore(url, warn=warnings.append, sleep=sleep, now=lambda: clock[0])
    source = BearerTokenSource(store=store, key=key,
                               obtain=lambda current: TokenSet('AT-2', 'RT-2', 9e9),
                               now=lambda: bot_clock[0])
    assert source.token() == 'AT-1'
    postgres.stop()
    try:
        assert source.token() == 'AT-1'   # in memory: no database needed
        with pytest.raises(TokenStoreError, match='cannot be reached'):
            store.get(key)   # a read does not wait
        bot_clock[0] = 2000.0
        assert source.token() == 'AT-2'
    finally:
        if postgres.proc is None:
            postgres.start()
    assert restarted and 'cannot be reached' in warnings[0]
    assert 'a token refresh waits for it' in warnings[0] and 'reachable again' in warnings[1]
    assert postgres.password not in ' '.join(warnings)
    assert store.get(key)['refresh_token'] == 'RT-2'

    gone = DatabaseStore(url, warn=warnings.append, sleep=sleep, now=lambda: clock[0],
                         outage_wait=10)
    postgres.stop()
    restarted.append('no restart')
    try:
        with pytest.raises(TokenStoreError, match='could not be reached for 10 s'):
            gone.put(key, {'access_token': 'never'})
    finally:
        postgres.start()


def test_a_lock_held_by_a_dead_connection_is_released(server: Any) -> None:
    """The refresh lock is a row lock: a process that dies loses it with its connection."""
    url = server.new_database()
    key = GrantKey('wiki.example', 'cid', USER)
    DatabaseStore(url).put(key, {'access_token': 'AT-1'})
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time\nfrom pwb_oauth_ext.protocol.stores.database'
         ' import DatabaseStore\nfrom pwb_oauth_ext.protocol.store import GrantKey\n'
         'with DatabaseStore(sys.argv[1]).transaction() as tx:\n'
         '    tx.get(GrantKey("wiki.example", "cid", "BotUser"))\n'
         '    print("locked", flush=True)\n    time.sleep(600)\n', url],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == 'locked'
    done = threading.Event()

    def waiter() -> None:
        DatabaseStore(url).put(key, {'access_token': 'AT-2'})
        done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not done.wait(2), 'the row lock did not hold'
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    thread.join(60)
    assert done.is_set()
    assert DatabaseStore(url).get(key) == {'access_token': 'AT-2'}


HUNG_HOLDER = """
import sys, time
from pwb_oauth_ext.protocol.stores.database import DatabaseStore
from pwb_oauth_ext.errors import TokenStoreError
from pwb_oauth_ext.protocol.store import GrantKey
key = GrantKey('wiki.example', 'cid', 'BotUser')
try:
    with DatabaseStore(sys.argv[1]).transaction() as tx:
        tx.get(key)
        print('locked', flush=True)
        time.sleep(8)      # hung past its lease (talking to a wiki that never answers)
        tx.put(key, {'access_token': 'AT-hung'})
except TokenStoreError as exc:
    print('ERROR', exc, flush=True)
"""


def test_a_hung_refresh_holds_the_lock_at_most_its_lease(server: Any) -> None:
    url = server.new_database() + '?lease=2'
    key = GrantKey('wiki.example', 'cid', USER)
    DatabaseStore(url).put(key, {'access_token': 'AT-1'})
    holder = subprocess.Popen([sys.executable, '-c', HUNG_HOLDER, url], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == 'locked'
    DatabaseStore(url).put(key, {'access_token': 'AT-2'})   # waits for the lease, not 8 s
    assert holder.poll() is None, 'the lock was not held by the hung process'
    out, _ = holder.communicate(timeout=60)
    assert out.startswith('ERROR The token store') and server.password not in out
    assert DatabaseStore(url).get(key) == {'access_token': 'AT-2'}


def test_migrate_copies_every_grant_both_ways_idempotently(tmp_path: Path,
                                                           postgres: Any) -> None:
    path = tmp_path / 'tokens.json'
    source = TokenStore(path)
    grants = {GrantKey('meta.wikimedia.org', 'cid', f'Bot{n}'): {'access_token': f'AT-{n}',
                                                               'obtained_at': 100.0 + n}
              for n in range(5)}
    grants[GrantKey('wiki.example', 'ck', None)] = {'access_token': 'unnamed'}
    for key, record in grants.items():
        source.put(key, record)
    target = DatabaseStore(postgres.new_database())
    assert migrate(source, target) == {'copied': 6, 'unchanged': 0, 'newer': 0}
    assert dict(target.entries()) == grants
    assert migrate(source, target) == {'copied': 0, 'unchanged': 6, 'newer': 0}
    # A grant the fleet refreshed in the database since is not overwritten by the old file.
    bot0 = GrantKey('meta.wikimedia.org', 'cid', 'Bot0')
    target.put(bot0, {'access_token': 'AT-new', 'obtained_at': 999.0})
    assert migrate(source, target) == {'copied': 0, 'unchanged': 5, 'newer': 1}
    back = TokenStore(tmp_path / 'back.json')
    assert migrate(target, back)['copied'] == 6
    assert dict(back.entries()) == {**grants, bot0: {'access_token': 'AT-new',
                                                     'obtained_at': 999.0}}


def test_store_migrate_moves_a_bot_to_the_database_and_check_names_it(
        wiki: RunningWiki, postgres: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    client = wiki.app.oauth2.register_client(USER, confidential=True, redirect_uri=CALLBACK)
    tokens = authorization_code_grant(wiki, client, USER, redirect_uri=CALLBACK)
    entry = (f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
             f' client_secret={client.client_secret!r})')
    pwb_dir = pwb_dir_factory([entry])
    key = GrantKey(wiki.host, client.client_id, USER)
    TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(key, tokens.to_record())
    url = postgres.new_database()
    masked = url.replace(postgres.password, '***')
    cli = ('-m', 'pwb_oauth_ext.commands.main')
    for copied in (1, 0):   # again: nothing copied twice
        result = run_pwb(None, pwb_dir, *cli, 'store', 'migrate', '--to', url)
        assert result.returncode == 0, result.stderr
        assert f'-> {masked}: {copied} copied, {1 - copied} already there' in result.stdout
        assert postgres.password not in result.stdout + result.stderr
    assert DatabaseStore(url).get(key) == tokens.to_record()

    # The bot now uses the database: the file is not read (it is gone), check names the store.
    (pwb_dir / 'pwb-oauth-tokens.json').unlink()
    with (pwb_dir / 'user-config.py').open('a') as config:
        config.write(f"_oauth.enable(token_store={url!r})\n")
    result = run_pwb(None, pwb_dir, *cli, 'check')
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'token store: {masked}' in result.stdout.splitlines()
    assert postgres.password not in result.stdout + result.stderr
    result = run_pwb(SAVE, pwb_dir, 'Migrated bot', 'from the database')
    assert result.stdout.strip().endswith(f'RESULT "{USER}"'), result.stderr

    # And back to a file.
    back = pwb_dir / 'back.json'
    result = run_pwb(None, pwb_dir, *cli, 'store', 'migrate', '--to', str(back))
    assert result.returncode == 0, result.stderr
    assert TokenStore(back).get(key) == DatabaseStore(url).get(key)


# -- fleets of real Pywikibot processes ----------------------------------------------------

def fleet_grant(wiki: RunningWiki, url: str) -> tuple[Any, GrantKey]:
    """An authorization-code grant of BotUser stored in the database, already expired."""
    client = wiki.app.oauth2.register_client(USER, confidential=True, redirect_uri=CALLBACK)
    tokens = authorization_code_grant(wiki, client, USER, redirect_uri=CALLBACK)
    key = GrantKey(wiki.host, client.client_id, USER)
    record = tokens.to_record()
    record['expires_at'] = time.time() - 3600
    DatabaseStore(url).put(key, record)
    return client, key


def fleet_dirs(pwb_dir_factory: Any, client: Any, wiki: RunningWiki, count: int) -> list[Path]:
    entry = (f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
             f' client_secret={client.client_secret!r})')
    return [pwb_dir_factory(["_oauth.enable(token_store=_oauth.env('PWB_OAUTH_STORE'))",
                             entry]) for _ in range(count)]


def start_bot(pwb_dir: Path, url: str, title: str, text: str,
              code: str = SAVE) -> subprocess.Popen:
    env = {**pywikibot_environment(pwb_dir), 'PWB_OAUTH_STORE': url}
    return subprocess.Popen([PYWIKIBOT_PYTHON, '-c', code, title, text], cwd=str(pwb_dir),
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding='utf-8')


@pytest.fixture(params=['sqlite', 'postgresql', 'mariadb'])
def fleet_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, URL) of a new store: SQLite too, whose one-writer lock is BEGIN IMMEDIATE."""
    if request.param == 'sqlite':
        return 'sqlite', f'sqlite:///{tmp_path}/fleet.sqlite'
    server = request.getfixturevalue('postgres' if request.param == 'postgresql'
                                     else 'mariadb')
    return server.kind, server.new_database()


def test_16_bots_sharing_only_the_database_refresh_once_and_all_save(
        wiki: RunningWiki, fleet_store: tuple[str, str], pwb_dir_factory: Any) -> None:
    kind, url = fleet_store
    client, key = fleet_grant(wiki, url)
    dirs = fleet_dirs(pwb_dir_factory, client, wiki, 16)
    before = wiki.app.oauth2.token_requests['refresh_token']
    bots = [start_bot(pwb_dir, url, f'Fleet {kind} {n}', f'bot {n}')
            for n, pwb_dir in enumerate(dirs)]
    assert [result_of(bot) for bot in bots] == [USER] * 16
    assert wiki.app.oauth2.token_requests['refresh_token'] == before + 1
    assert wiki.wiki.pages[f'Fleet {kind} 15'].revisions[-1].user == USER
    assert DatabaseStore(url).get(key)['expires_at'] > time.time()


class HeldRefresh:
    """Holds the wiki's answer to the next refresh (after the rotation) until released."""

    def __init__(self, wiki: RunningWiki) -> None:
        self.provider = wiki.app.oauth2
        self.original = self.provider.rest.access_token
        self.rotated = threading.Event()
        self.release = threading.Event()
        self.holding = True

    def __call__(self, req: Any) -> Any:
        response = self.original(req)
        if self.holding and req.form.get('grant_type') == 'refresh_token':
            self.holding = False
            self.rotated.set()
            self.release.wait(120)
        return response

    def __enter__(self) -> HeldRefresh:
        self.provider.rest.access_token = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.provider.rest.access_token = self.original


def lock_waiters(server: Any, url: str) -> int:
    import sqlalchemy as sa
    query = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
             if server.kind == 'postgresql' else
             "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'")
    engine = sa.create_engine(DatabaseStore(url).url.sqlalchemy_url())
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(query)).scalar())
    finally:
        engine.dispose()


def test_kill_9_of_the_bot_refreshing_leaves_the_others_working_and_the_grant_alive(
        wiki: RunningWiki, server: Any, pwb_dir_factory: Any) -> None:
    """The holder dies after the wiki rotated the grant, before it committed the new pair.

    Its connection drops, the server rolls back and frees the row lock; the next bot
    refreshes with the old refresh token, which the wiki's rotation grace still takes.
    """
    provider = wiki.app.oauth2
    url = server.new_database()
    client, key = fleet_grant(wiki, url)
    dirs = fleet_dirs(pwb_dir_factory, client, wiki, 6)
    before = provider.token_requests['refresh_token']
    old_grace, provider.refresh_grace_seconds = provider.refresh_grace_seconds, 300.0
    try:
        with HeldRefresh(wiki) as held:
            holder = start_bot(dirs[0], url, 'Killed bot', 'never saved')
            assert held.rotated.wait(120), 'the first bot never refreshed'
            others = [start_bot(pwb_dir, url, f'Survivor {server.kind} {n}', f'bot {n}')
                      for n, pwb_dir in enumerate(dirs[1:])]
            deadline = time.monotonic() + 120
            while lock_waiters(server, url) < len(others) and time.monotonic() < deadline:
                time.sleep(0.2)
            holder.send_signal(signal.SIGKILL)
            holder.communicate(timeout=60)
        assert [result_of(bot) for bot in others] == [USER] * len(others)
        assert provider.token_requests['refresh_token'] == before + 2
    finally:
        provider.refresh_grace_seconds = old_grace
    assert 'Killed bot' not in wiki.wiki.pages
    # The grant is alive: it refreshes again (its token expired once more).
    with DatabaseStore(url).transaction() as tx:
        record = tx.get(key)
        record['expires_at'] = time.time() - 3600
        tx.put(key, record)
    assert result_of(start_bot(dirs[0], url, 'After the kill', 'ok')) == USER
    assert provider.token_requests['refresh_token'] == before + 3


def processes_with_open(pids: list[int], path: Path) -> int:
    """How many of ``pids`` have ``path`` open (Linux /proc): a bot inside a transaction."""
    count = 0
    for pid in pids:
        with suppress(OSError):
            fds = Path(f'/proc/{pid}/fd')
            if any(os.path.realpath(fd) == str(path) for fd in fds.iterdir()):
                count += 1
    return count


@pytest.mark.skipif(not Path('/proc/self/fd').is_dir(), reason='needs /proc')
def test_bots_on_sqlite_wait_for_the_one_refreshing_instead_of_refreshing_too(
        wiki: RunningWiki, pwb_dir_factory: Any, tmp_path: Path) -> None:
    """The first bot's refresh is held by the wiki while five more bots want the grant.

    SQLite has no row locks: every transaction takes the write lock at BEGIN (BEGIN
    IMMEDIATE), so the five wait with the store open. With a deferred BEGIN they would
    read the expired grant and send refresh requests of their own (the loser then ends
    in "database is locked" or a dead grant).
    """
    provider = wiki.app.oauth2
    path = tmp_path / 'fleet.sqlite'
    url = f'sqlite:///{path}'
    client, _key = fleet_grant(wiki, url)
    dirs = fleet_dirs(pwb_dir_factory, client, wiki, 6)
    before = provider.token_requests['refresh_token']
    with HeldRefresh(wiki) as held:
        holder = start_bot(dirs[0], url, 'SQLite holder', 'first')
        assert held.rotated.wait(120), 'the first bot never refreshed'
        others = [start_bot(pwb_dir, url, f'SQLite waiter {n}', f'bot {n}')
                  for n, pwb_dir in enumerate(dirs[1:])]
        pids = [bot.pid for bot in others]
        deadline = time.monotonic() + 120
        while (processes_with_open(pids, path) < len(others)
               and provider.token_requests['refresh_token'] == before + 1
               and time.monotonic() < deadline):
            time.sleep(0.2)
        waiting = processes_with_open(pids, path)
    assert [result_of(bot) for bot in [holder, *others]] == [USER] * 6
    assert provider.token_requests['refresh_token'] == before + 1
    assert waiting == len(others)


OUTAGE = '''
import json, sys, time
import pywikibot
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, sys.argv[1])
for step in ('first', 'database down', 'token expired'):
    if step != 'first':
        sys.stdin.readline()
    page.text = step
    page.save(summary=step)
    print('SAVED ' + step, flush=True)
    if step == 'database down':
        time.sleep(float(sys.argv[2]))   # the token's renewal margin passes
print('RESULT ' + json.dumps(site.user()), flush=True)
'''


def test_a_bot_keeps_editing_while_the_database_is_down_and_refreshes_after(
        wiki: RunningWiki, postgres: Any, pwb_dir_factory: Any) -> None:
    provider = wiki.app.oauth2
    url = postgres.new_database()
    client, _ = fleet_grant(wiki, url)
    [pwb_dir] = fleet_dirs(pwb_dir_factory, client, wiki, 1)
    ttl, provider.access_token_ttl = provider.access_token_ttl, 24.0
    try:
        # Renewed 12 s before expiry (half the lifetime): sleeping 13 s makes it due.
        bot = start_bot(pwb_dir, url, 'Outage', '13', code=OUTAGE)
        assert bot.stdout is not None and bot.stdin is not None and bot.stderr is not None
        assert bot.stdout.readline().strip() == 'SAVED first'
        postgres.stop()
        try:
            bot.stdin.write('go\n')
            bot.stdin.flush()
            assert bot.stdout.readline().strip() == 'SAVED database down'
            refreshes = provider.token_requests['refresh_token']
            bot.stdin.write('go\n')
            bot.stdin.flush()
            warned = ''
            for line in bot.stderr:
                warned += line
                if 'a token refresh waits for it' in line:
                    break
            assert 'cannot be reached' in warned, warned
            assert provider.token_requests['refresh_token'] == refreshes
        finally:
            if postgres.proc is None:
                postgres.start()
        assert bot.stdout.readline().strip() == 'SAVED token expired'
        assert bot.stdout.readline().strip() == f'RESULT "{USER}"'
        bot.communicate(timeout=60)
    finally:
        provider.access_token_ttl = ttl
    assert provider.token_requests['refresh_token'] == refreshes + 1
    assert [rev.text for rev in wiki.wiki.pages['Outage'].revisions][-3:] == [
        'first', 'database down', 'token expired']
    assert postgres.password not in warned
