"""The refresh fault matrix: a fault injected while a real Pywikibot process refreshes.

One scenario per fault, run by ``tests/test_refresh_durability.py`` and by the
benchmark's fleet section alike (``run_fault``). The wiki's answer to the
refresh is computed (the old pair is revoked, no grace) and, before it is sent,
the fault is injected: the store's connections are killed, the database stops
for a while, the wiki waits longer than the store's lease, the bot's file size
limit drops below the store file's size, or the database is frozen and the bot
is killed with SIGKILL once it holds the answer. Then, without anyone
authorizing again, ``bots`` processes save at once (the fresh pair must be
stored), the grant is expired and they save once more (it must still refresh).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment
from pwb_oauth_ext.testwiki.server import RunningWiki

USER = 'BotUser'
CALLBACK = 'http://127.0.0.1:9/callback'
#: Faults and whether they need a database server (else the file store is used).
FAULTS = {
    'connection killed': True,
    'database down': True,
    'wiki slower than the lease': True,
    'file write fails': False,
    'SIGKILL after the answer': True,
}
#: The matrix: each fault, on the servers it runs against (None: the file store).
MATRIX = [
    ('connection killed', 'postgresql'),
    ('connection killed', 'mariadb'),
    ('database down', 'postgresql'),
    ('wiki slower than the lease', 'postgresql'),
    ('wiki slower than the lease', 'mariadb'),
    ('file write fails', None),
    ('SIGKILL after the answer', 'postgresql'),
]
#: The matrix table's columns (``matrix_row``).
MATRIX_HEADERS = ['fault', 'store', 'grants lost', 'refreshes / rotations',
                  'saves ok / attempted']
#: Seconds the database stays down in the ``database down`` fault.
OUTAGE = 20.0
#: The lease of the ``wiki slower than the lease`` fault, and how long the wiki waits.
LEASE, SLOW = 2, 5.0
RESULT = 'RESULT '
SAVE = '''
import json, sys
import pywikibot
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, sys.argv[1])
page.text = sys.argv[2]
page.save(summary='fault matrix')
print('RESULT ' + json.dumps(site.user()), flush=True)
'''
#: make_dir(lines after ``import pwb_oauth_ext as _oauth``) -> a Pywikibot dir for the wiki.
MakeDir = Callable[[list], Path]


class AfterRefresh:
    """Runs ``action`` once, after the wiki answered a refresh and before it sends it."""

    def __init__(self, wiki: RunningWiki, action: Callable[[], None]) -> None:
        self.provider = wiki.app.oauth2
        self.original = self.provider.rest.access_token
        self.action = action
        self.done = threading.Event()

    def __call__(self, req: Any) -> Any:
        response = self.original(req)
        if not self.done.is_set() and req.form.get('grant_type') == 'refresh_token':
            try:
                self.action()
            finally:
                self.done.set()
        return response

    def __enter__(self) -> AfterRefresh:
        self.provider.rest.access_token = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.provider.rest.access_token = self.original


def _engine(url: str) -> Any:
    import sqlalchemy as sa

    from pwb_oauth_ext.protocol.stores.urls import StoreURL
    return sa.create_engine(StoreURL(url.partition('?')[0]).sqlalchemy_url())


def other_sessions(url: str) -> list[int]:
    """The server process ids of the other sessions on the store's PostgreSQL database."""
    import sqlalchemy as sa
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return [int(pid) for pid in conn.execute(sa.text(
                'SELECT pid FROM pg_stat_activity WHERE datname = current_database()'
                ' AND pid <> pg_backend_pid()')).scalars()]
    finally:
        engine.dispose()


def kill_connections(server: Any, url: str) -> None:
    """End every other session on the store's database, as a failover would."""
    import sqlalchemy as sa
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if server.kind == 'postgresql':
                conn.execute(sa.text('SELECT pg_terminate_backend(pid) FROM pg_stat_activity'
                                     ' WHERE datname = current_database()'
                                     ' AND pid <> pg_backend_pid()'))
            else:
                ids = conn.execute(sa.text(
                    'SELECT id FROM information_schema.processlist WHERE db = DATABASE()'
                    ' AND id <> CONNECTION_ID()')).scalars().all()
                for session in ids:
                    conn.execute(sa.text(f'KILL CONNECTION {int(session)}'))
            conn.commit()
    finally:
        engine.dispose()


class Store:
    """The scenario's token store: its setting for user-config, and direct access."""

    def __init__(self, setting: str) -> None:
        from pwb_oauth_ext.protocol.store import open_store
        self.setting = setting
        self.store = open_store(setting)

    def expire(self, key: Any) -> None:
        with self.store.transaction() as tx:
            record = tx.get(key)
            record['expires_at'] = time.time() - 3600
            tx.put(key, record)


def _start(python: str, pwb_dir: Path, setting: str, title: str) -> subprocess.Popen:
    env = {**pywikibot_environment(pwb_dir), 'PWB_OAUTH_STORE': setting}
    return subprocess.Popen([python, '-c', SAVE, title, 'saved'], cwd=str(pwb_dir), env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding='utf-8')


def _saved(bot: subprocess.Popen, timeout: float = 300) -> tuple[bool, str]:
    out, err = bot.communicate(timeout=timeout)
    ok = any(line == RESULT + json.dumps(USER) for line in out.splitlines())
    return ok, err


def run_fault(fault: str, wiki: RunningWiki, *, make_dir: MakeDir, workdir: Path,
              server: Any = None, python: str = sys.executable, bots: int = 3) -> dict:
    """Run one fault's scenario; what happened: grants lost, refreshes, saves, errors."""
    provider = wiki.app.oauth2
    client = provider.register_client(USER, confidential=True, redirect_uri=CALLBACK)
    tokens = authorization_code_grant(wiki, client, USER, redirect_uri=CALLBACK)
    from pwb_oauth_ext.protocol.store import GrantKey
    key = GrantKey(wiki.host, client.client_id, USER)
    slug = fault.split()[0].lower()
    if FAULTS[fault]:
        setting = server.new_database(slug)
        if fault == 'wiki slower than the lease':
            setting += f'?lease={LEASE}'
    else:
        setting = str(workdir / f'tokens-{slug}-{time.monotonic_ns()}.json')
    store = Store(setting)
    if fault == 'file write fails':   # a store larger than the file size limit set below
        for n in range(40):
            store.store.put(GrantKey('other.example', f'client-{n}', 'Someone'),
                            {'access_token': 'AT-' + 'x' * 200, 'refresh_token': 'RT-x'})
    store.store.put(key, tokens.to_record())
    entry = (f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
             f' client_secret={client.client_secret!r})')
    dirs = [make_dir(["_oauth.enable(token_store=_oauth.env('PWB_OAUTH_STORE'))", entry])
            for _ in range(bots)]
    grace, provider.refresh_grace_seconds = provider.refresh_grace_seconds, 0.0
    saves = attempts = 0
    errors: list[str] = []
    before = provider.token_requests['refresh_token']
    try:
        if fault == 'file write fails':   # warm up: the API cache is written before the limit
            ok, err = _saved(_start(python, dirs[0], setting, f'Fault {slug} warm-up'))
            saves, attempts = saves + ok, attempts + 1
        store.expire(key)
        ok, err = _faulted(fault, wiki, server, store, python, dirs[0], slug)
        saves, attempts = saves + ok, attempts + (fault != 'SIGKILL after the answer')
        if err:
            errors.append(err)
        lost = False
        for round_number in (1, 2):
            if round_number == 2:
                store.expire(key)
            running = [_start(python, d, setting, f'Fault {slug} round {round_number} {n}')
                       for n, d in enumerate(dirs)]
            for bot in running:
                ok, err = _saved(bot)
                saves, attempts = saves + ok, attempts + 1
                if not ok:
                    lost = lost or 'can no longer be renewed' in err
                    errors.append(err[-2000:])
    finally:
        provider.refresh_grace_seconds = grace
        if server is not None and server.proc is None:
            server.start()
    kind = {'mysql': 'mariadb'}.get(server.kind, server.kind) if FAULTS[fault] else 'file'
    return {'fault': fault, 'store': kind,
            'grants_lost': int(lost), 'refreshes': provider.token_requests['refresh_token']
            - before, 'rotations': 2, 'saves': saves, 'attempts': attempts, 'errors': errors}


def _faulted(fault: str, wiki: RunningWiki, server: Any, store: Store, python: str,
             pwb_dir: Path, slug: str) -> tuple[bool, str]:
    """The refreshing bot's run with the fault; (saved, its stderr)."""
    holder: list[subprocess.Popen] = []
    restart: list[threading.Timer] = []
    frozen: list[int] = []

    def action() -> None:
        if fault == 'connection killed':
            kill_connections(server, store.setting)
        elif fault == 'database down':
            server.stop()
            timer = threading.Timer(OUTAGE, server.start)
            timer.start()
            restart.append(timer)
        elif fault == 'wiki slower than the lease':
            time.sleep(SLOW)
        elif fault == 'file write fails':
            import resource
            while not holder:
                time.sleep(0.01)
            resource.prlimit(holder[0].pid, resource.RLIMIT_FSIZE, (4096, 4096))
        else:   # freeze the bot's database session: it holds the answer, cannot store it
            for pid in other_sessions(store.setting):
                os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)

    with AfterRefresh(wiki, action) as hook:
        bot = _start(python, pwb_dir, store.setting, f'Fault {slug}')
        holder.append(bot)
        if fault != 'SIGKILL after the answer':
            result = _saved(bot)
            for timer in restart:
                timer.join()
            return result
        try:
            hook.done.wait(120)
            assert frozen, 'the refreshing bot had no database session to freeze'
            journal = pwb_dir / 'pwb-oauth-pending.json'
            deadline = time.monotonic() + 20
            while not journal.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)
            bot.send_signal(signal.SIGKILL)
            bot.communicate(timeout=60)
        finally:
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)
    # The next process in that directory, or `pwb-oauth store flush`, stores the pair.
    env = {**pywikibot_environment(pwb_dir), 'PWB_OAUTH_STORE': store.setting}
    flush = subprocess.run([python, '-m', 'pwb_oauth_ext.commands.main', 'store', 'flush'],
                           cwd=str(pwb_dir), env=env, capture_output=True, text=True,
                           timeout=300)
    return False, flush.stdout + flush.stderr


def matrix_row(result: dict) -> list:
    """(fault, store, grants lost, refreshes / rotations, saves ok / attempted)."""
    return [result['fault'], result['store'], result['grants_lost'],
            f"{result['refreshes']} / {result['rotations']}",
            f"{result['saves']} / {result['attempts']}"]
