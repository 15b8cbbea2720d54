"""What every benchmark shares: statistics, the table, the report, Pywikibot child runs.

Each benchmark module has ``run(bench: Bench) -> Report``; the runner (benchmarks/run.py)
numbers, prints and stores the reports. Pywikibot runs in subprocesses, each with its own
PYWIKIBOT_DIR, because it reads its configuration once per process.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.pywikibot_env import (
    pywikibot_environment,
    run_pywikibot,
    write_pywikibot_dir,
)
from pwb_oauth_ext.testwiki.server import RunningWiki

ACCOUNT = 'BotUser'
ENABLE_LINES = ('import pwb_oauth_ext as _oauth', '_oauth.enable()')
#: Where enable() keeps tokens by default: in the PYWIKIBOT_DIR.
STORE_FILE = 'pwb-oauth-tokens.json'
CALLBACK = 'http://127.0.0.1:9/oauth2/callback'
#: No read throttle (Pywikibot's minthrottle is 0.1 s): it would sleep between requests and
#: hide what is measured. put_throttle = 0 comes from write_pywikibot_dir.
EXTRA_CONFIG = ('minthrottle = 0',)


# --- statistics -------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float('nan')


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank): a tail that a few outliers cannot hide."""
    if not values:
        return float('nan')
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(0.95 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


def ratio(value: float, base: float) -> float:
    return value / base if base else float('nan')


def met(ok: bool) -> str:
    return 'met' if ok else 'NOT met'


def yes_no(value: bool | None) -> str:
    return '-' if value is None else ('yes' if value else 'NO')


# --- what a benchmark returns -----------------------------------------------------------

class Table:
    """Columns padded to their widest cell."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = [str(h) for h in headers]
        self.rows: list[list[str]] = []

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        widths = [max(len(row[i]) for row in [self.headers, *self.rows])
                  for i in range(len(self.headers))]
        lines = ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in [self.headers, ['-' * w for w in widths], *self.rows]]
        return '\n'.join(lines)


@dataclass
class Report:
    """One benchmark's outcome: a titled table with its note, and the numbers for the JSON."""

    title: str
    table: Table | None
    note: str
    results: dict[str, Any] = field(default_factory=dict)

    def render(self, number: int) -> str:
        title = f'{number}. {self.title}'
        parts = [title, '=' * min(len(title), 100)]
        if self.table is not None:
            parts.append(self.table.render())
        if self.note:
            parts.append(self.note)
        return '\n'.join(parts)


# --- children ---------------------------------------------------------------------------

def check(result: subprocess.CompletedProcess[str], what: str) -> str:
    """The child's stdout; its stderr tail in the error when it failed."""
    if result.returncode != 0:
        raise RuntimeError(f'{what} failed (exit {result.returncode}):\n'
                           f'{result.stderr[-3000:]}')
    return result.stdout


def last_json_line(out: str) -> Any:
    """What a child printed last, as JSON (Pywikibot may print warnings before it)."""
    return json.loads(out.strip().splitlines()[-1])


def wall_times(argv: Sequence[str], runs: int, *, env: dict[str, str],
               cwd: str | None = None) -> list[float]:
    """Seconds per run of ``argv``, from start to exit."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


#: ``count`` timed API requests after ``warmup`` untimed ones; prints the seconds as JSON.
LATENCY_CHILD = textwrap.dedent('''
    import json, sys, time
    import pywikibot
    from pywikibot.data import api
    count, warmup, login = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1'
    site = pywikibot.Site()
    if login:
        site.login()
    params = {'action': 'query', 'meta': 'userinfo'}
    times = []
    clock = time.perf_counter
    for i in range(warmup + count):
        started = clock()
        api.Request(site=site, parameters=dict(params)).submit()
        times.append(clock() - started)
    print(json.dumps(times[warmup:]))
''')


def request_times(directory: Path, count: int, *, warmup: int = 20, login: bool = True,
                  what: str) -> list[float]:
    """Seconds per API request of one LATENCY_CHILD run in ``directory``."""
    out = check(run_pywikibot(['-c', LATENCY_CHILD, str(count), str(warmup),
                               '1' if login else '0'], directory), what)
    return [float(value) for value in last_json_line(out)]


#: Site() and one Page.save(): what a bot does that must refresh an expired token.
SAVE_CHILD = textwrap.dedent('''
    import sys
    import pywikibot
    site = pywikibot.Site()
    page = pywikibot.Page(site, sys.argv[1])
    page.text = 'Saved by a benchmark: ' + sys.argv[1]
    page.save(summary='benchmark')
    print('saved')
''')


def save_once(directory: Path, title: str) -> None:
    """One SAVE_CHILD run, e.g. to fill the apicache before the timed runs."""
    check(run_pywikibot(['-c', SAVE_CHILD, title], directory), f'save {title!r}')


def save_at_once(wiki: RunningWiki, dirs: Sequence[Path], processes: int,
                 label: str) -> dict[str, Any]:
    """``processes`` SAVE_CHILDs started together over ``dirs``: saves, refreshes, time."""
    token_requests = wiki.app.oauth2.token_requests
    refreshes_before = token_requests['refresh_token']
    edits_before = len(wiki.app.requests_for('edit'))
    started = time.perf_counter()
    children = [subprocess.Popen([sys.executable, '-c', SAVE_CHILD, f'{label} {n}'],
                                 cwd=str(dirs[n % len(dirs)]),
                                 env=pywikibot_environment(dirs[n % len(dirs)]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for n in range(processes)]
    outputs = [child.communicate(timeout=900) for child in children]
    elapsed = time.perf_counter() - started
    saved = sum(1 for child, (out, _) in zip(children, outputs)
                if child.returncode == 0 and 'saved' in out)
    failures = [err[-500:] for child, (_, err) in zip(children, outputs) if child.returncode]
    return {'processes': processes, 'directories': len(dirs), 'saved': saved,
            'refresh_requests': token_requests['refresh_token'] - refreshes_before,
            'edit_requests': len(wiki.app.requests_for('edit')) - edits_before,
            'wall_s': elapsed, 'failures': failures[:2]}


def refresh_cells(row: dict[str, Any]) -> list[str]:
    """A save_at_once row's refresh requests against the target of 1, saves and time."""
    return [str(row['refresh_requests']), f"1: {met(row['refresh_requests'] == 1)}",
            f"{row['saved']}/{row['processes']}", f"{row['wall_s']:.2f} s"]


def expire(store: Any, key: Any) -> None:
    """Make the stored access token an hour old, so the next use must refresh it."""
    with store.transaction() as tx:
        record = tx.get(key)
        if record is None:
            raise RuntimeError(f'no stored grant to expire: {key}')
        tx.put(key, dict(record, expires_at=time.time() - 3600))


# --- Pywikibot directories for each way of logging in -----------------------------------

class Logins:
    """The credentials registered at one wiki, and a Pywikibot dir for each way to log in."""

    def __init__(self, wiki: RunningWiki, workdir: Path) -> None:
        self.wiki = wiki
        self.workdir = workdir
        app = wiki.app
        self.oauth1 = app.register_oauth1_consumer(ACCOUNT, owner_only=True)
        self.owner_only = app.oauth2.register_client(ACCOUNT, owner_only=True)
        self.client_credentials = app.oauth2.register_client(ACCOUNT, owner_only=True)
        self._count = 0

    def oauth1_tuple(self) -> tuple[str, str, str, str]:
        consumer = self.oauth1
        return (consumer.consumer_key, consumer.consumer_secret, consumer.access_token,
                consumer.access_secret)

    def oauth1_tuple_line(self, host: str | None = None) -> str:
        """Plain Pywikibot's OAuth 1.0a entry (a 4-tuple) for ``host``, the wiki's by default."""
        return f'authenticate[{host or self.wiki.host!r}] = {self.oauth1_tuple()!r}'

    def lines(self, mode: str) -> tuple[list[str], str | None]:
        """(authenticate lines incl. the plugin's enable, username) for a mode."""
        host = self.wiki.host
        if mode == 'anonymous':
            return [], None
        if mode == 'plain-oauth1':
            return [self.oauth1_tuple_line()], ACCOUNT
        if mode == 'plugin-oauth1':
            return [*ENABLE_LINES, self.oauth1_tuple_line()], ACCOUNT
        if mode == 'plugin-oauth2-owner-only':
            token = self.owner_only.owner_only_token
            return [*ENABLE_LINES,
                    f'authenticate[{host!r}] = _oauth.OAuth2(access_token={token!r})'], ACCOUNT
        if mode == 'plugin-oauth2-client-credentials':
            client = self.client_credentials
            return [*ENABLE_LINES,
                    f'authenticate[{host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
                    f' client_secret={client.client_secret!r}, grant="client_credentials")'
                    ], ACCOUNT
        raise ValueError(mode)

    def new_path(self, label: str) -> Path:
        """A fresh, numbered path in the work dir (so no two sections share an apicache)."""
        self._count += 1
        return self.workdir / f'{self._count:02d}-{label}'

    def directory(self, mode: str, *, label: str | None = None,
                  lines: Sequence[str] = ()) -> Path:
        """A fresh Pywikibot dir for ``mode`` (cold apicache), with ``lines`` added."""
        authenticate_lines, username = self.lines(mode)
        return write_pywikibot_dir(self.new_path(label or mode), self.wiki, username=username,
                                   authenticate_lines=[*authenticate_lines, *lines],
                                   extra_lines=EXTRA_CONFIG)

    def authorization_code_grant(self) -> tuple[Any, Any, dict[str, Any]]:
        """A new confidential client that the account allowed: (client, the grant's key in a
        token store, the grant's record to keep there)."""
        from pwb_oauth_ext.protocol.store import GrantKey

        client = self.wiki.app.oauth2.register_client(ACCOUNT, confidential=True,
                                                      redirect_uri=CALLBACK)
        tokens = authorization_code_grant(self.wiki, client, ACCOUNT, redirect_uri=CALLBACK)
        return client, GrantKey(self.wiki.host, client.client_id, ACCOUNT), tokens.to_record()

    def authorization_code_directory(self, client: Any, *, label: str,
                                     token_store: str | None = None) -> Path:
        """A Pywikibot dir logging in with ``client``'s grant (in its own or the given store)."""
        enable = f'_oauth.enable(token_store={token_store!r})' if token_store \
            else ENABLE_LINES[1]
        lines = [ENABLE_LINES[0], enable,
                 f'authenticate[{self.wiki.host!r}] = _oauth.OAuth2('
                 f'client_id={client.client_id!r}, client_secret={client.client_secret!r})']
        return write_pywikibot_dir(self.new_path(label), self.wiki, username=ACCOUNT,
                                   authenticate_lines=lines, extra_lines=EXTRA_CONFIG)


@dataclass
class Bench:
    """What a benchmark runs against: the wiki, its logins, a work dir, and --quick."""

    wiki: RunningWiki
    logins: Logins
    workdir: Path
    quick: bool
