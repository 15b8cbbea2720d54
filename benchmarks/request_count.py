"""Section ``requests``: how many HTTP requests a bot run sends, by phase, in each login mode.

A child runs Site(), login(), reads and saves 10 pages and logs out, and marks the phases
with GETs to ``/__bench__/<phase>`` that the wiki logs like any other request.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.helpers import STORE_FILE, Bench, Report, Table, check, yes_no
from pwb_oauth_ext.protocol.store import TokenStore
from pwb_oauth_ext.testwiki.pywikibot_env import run_pywikibot

CHILD = textwrap.dedent('''
    import sys
    import requests
    base, run = sys.argv[1], sys.argv[2]
    def mark(name):
        requests.get(f'{base}/__bench__/{name}', timeout=30)
    import pywikibot
    mark('start')
    site = pywikibot.Site()
    mark('site')
    site.login()
    mark('login')
    for i in range(10):
        page = pywikibot.Page(site, f'Bench page {i}')
        page.text
        page.text = f'Saved by benchmark run {run}, page {i}.'
        page.save(summary='benchmark')
    mark('pages')
    try:
        site.logout()
        print('logout: ok')
    except Exception as exc:  # plain Pywikibot: action=logout fails under OAuth
        print('logout:', type(exc).__name__, getattr(exc, 'code', ''))
    mark('logout')
''')

MODES = ('plain-oauth1', 'plugin-oauth1', 'plugin-oauth2-owner-only',
         'plugin-oauth2-client-credentials', 'plugin-oauth2-authorization-code')
PHASES = ('site', 'login', 'pages', 'logout')
#: The phase that starts at each marker the child sends.
NEXT_PHASE = {'start': 'site', 'site': 'login', 'login': 'pages', 'pages': 'logout'}
NOTE = ("targets: login is 1 request in every mode with a valid token ('-': the"
        ' client credentials grant has none on its first run and fetches one);'
        ' no plugin mode makes more requests than plain Pywikibot with an OAuth 1.0a'
        " 4-tuple. Pywikibot's Site() already sends the userinfo query that logs in;"
        ' login() then sends nothing. cold = fresh PYWIKIBOT_DIR (no apicache),'
        ' warm = second run in the same dir.')


def describe(req: Any) -> str:
    """A request in a few words: the action and what it queries, or the path."""
    if req.path != '/api.php':
        return req.path
    params = req.params
    what = params.get('action', 'help')
    details = [f'{name}={params[name]}' for name in ('meta', 'prop', 'list', 'type')
               if params.get(name)]
    return f"{what}({', '.join(details)})" if details else what


def split_log(entries: Sequence[str]) -> dict[str, list[str]]:
    """Requests by phase, from the marker GETs the child sends between phases."""
    phases: dict[str, list[str]] = {phase: [] for phase in PHASES}
    current: str | None = None
    for entry in entries:
        if entry.startswith('/__bench__/'):
            current = NEXT_PHASE.get(entry.rsplit('/', 1)[1])
        elif current is not None:
            phases[current].append(entry)
    return phases


def mode_directory(bench: Bench, mode: str) -> Path:
    """A fresh Pywikibot dir for ``mode``; the authorization-code one with its grant stored."""
    if mode != 'plugin-oauth2-authorization-code':
        return bench.logins.directory(mode)
    client, key, record = bench.logins.authorization_code_grant()
    directory = bench.logins.authorization_code_directory(client, label=mode)
    TokenStore(directory / STORE_FILE).put(key, record)
    return directory


def count_run(bench: Bench, directory: Path, mode: str, run: str) -> dict[str, Any]:
    """One child run: its requests by phase, and what its logout() said."""
    wiki = bench.wiki
    with wiki.app.watch() as exchanges:
        out = check(run_pywikibot(['-c', CHILD, wiki.url, f'{mode}-{run}'], directory),
                    f'{mode} ({run})')
    phases = split_log([describe(exchange.request) for exchange in exchanges])
    logout = next((line.split(':', 1)[1].strip() for line in out.splitlines()
                   if line.startswith('logout:')), '?')
    return {'mode': mode, 'apicache': run,
            **{phase: len(requests) for phase, requests in phases.items()},
            'total': sum(len(requests) for requests in phases.values()),
            'requests': phases, 'logout_result': logout}


def add_targets(results: dict[str, dict[str, Any]]) -> None:
    """Whether each plugin run logs in with one request and sends no more than plain."""
    baseline = {run: results[f'plain-oauth1/{run}']['total'] for run in ('cold', 'warm')}
    for row in results.values():
        # Pywikibot's Site() already asks for userinfo (and so logs in): login() then
        # finds the site logged in. The login part is both phases together.
        row['site_and_login'] = row['site'] + row['login']
        plugin = row['mode'] != 'plain-oauth1'
        has_stored_token = not (row['mode'] == 'plugin-oauth2-client-credentials'
                                and row['apicache'] == 'cold')
        row['target_login_1'] = (row['site_and_login'] == 1) \
            if plugin and has_stored_token else None
        row['target_not_more_than_plain'] = (row['total'] <= baseline[row['apicache']]) \
            if plugin else None


def run(bench: Bench) -> Report:
    # Ten pages per run, --quick or not: this counts requests, it does not time them.
    results: dict[str, Any] = {}
    for mode in MODES:
        directory = mode_directory(bench, mode)
        for apicache in ('cold', 'warm'):
            results[f'{mode}/{apicache}'] = count_run(bench, directory, mode, apicache)
    add_targets(results)
    table = Table(['mode', 'apicache', 'Site()+login()', '10 pages', 'logout()', 'total',
                   'login=1?', '<=plain?', 'logout() result'])
    for row in results.values():
        table.add(row['mode'], row['apicache'], row['site_and_login'], row['pages'],
                  row['logout'], row['total'], yes_no(row['target_login_1']),
                  yes_no(row['target_not_more_than_plain']), row['logout_result'])
    return Report('HTTP requests: Site() + login() + read and save 10 pages + logout()',
                  table, NOTE, results)
