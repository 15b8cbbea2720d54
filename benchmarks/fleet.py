"""Benchmark section ``fleet``: many bots in separate PYWIKIBOT_DIRs on one grant.

64 processes over 8 Pywikibot directories share one expired authorization-code
grant, kept in a PostgreSQL database (started here on 127.0.0.1) or in one
token file: refresh requests (target 1) and the time until all have saved.
Then the cost per API request with each store (target: database <= 1.01 x
file), since the database must stay off the hot path.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.helpers import Table, median, ratio
from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.pywikibot_env import (
    pywikibot_environment,
    run_pywikibot,
    write_pywikibot_dir,
)
from pwb_oauth_ext.testwiki.server import RunningWiki

ACCOUNT = 'BotUser'
CALLBACK = 'http://127.0.0.1:9/oauth2/callback'
SAVE_CHILD = '''
import sys
import pywikibot
site = pywikibot.Site()
page = pywikibot.Page(site, sys.argv[1])
page.text = 'Saved by a fleet: ' + sys.argv[1]
page.save(summary='benchmark')
print('saved')
'''


def _fleet_dirs(wiki: RunningWiki, workdir: Path, label: str, setting: str,
                client: Any, count: int) -> list[Path]:
    lines = ['import pwb_oauth_ext as _oauth', f'_oauth.enable(token_store={setting!r})',
             f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
             f' client_secret={client.client_secret!r})']
    return [write_pywikibot_dir(workdir / f'fleet-{label}-{n}', wiki, username=ACCOUNT,
                                authenticate_lines=lines, extra_lines=['minthrottle = 0'])
            for n in range(count)]


def _expire(store: Any, key: Any) -> None:
    with store.transaction() as tx:
        record = tx.get(key)
        record['expires_at'] = time.time() - 3600
        tx.put(key, record)


def _run_fleet(wiki: RunningWiki, dirs: list[Path], processes: int, label: str) -> dict:
    token_requests = wiki.app.oauth2.token_requests
    before = token_requests['refresh_token']
    started = time.perf_counter()
    children = []
    for n in range(processes):
        directory = dirs[n % len(dirs)]
        children.append(subprocess.Popen(
            [sys.executable, '-c', SAVE_CHILD, f'Fleet {label} {n}'], cwd=str(directory),
            env=pywikibot_environment(directory), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    outputs = [child.communicate(timeout=900) for child in children]
    elapsed = time.perf_counter() - started
    saved = sum(1 for child, (out, _) in zip(children, outputs)
                if child.returncode == 0 and 'saved' in out)
    failures = [err[-500:] for child, (_, err) in zip(children, outputs) if child.returncode]
    return {'processes': processes, 'directories': len(dirs), 'saved': saved,
            'refresh_requests': token_requests['refresh_token'] - before,
            'wall_s': elapsed, 'failures': failures[:2]}


def _token_step_us(sources: dict[str, Any], count: int) -> dict[str, float]:
    """Median microseconds of ``source.token()`` per store, interleaved call by call."""
    samples: dict[str, list[float]] = {name: [] for name in sources}
    clock = time.perf_counter
    for _ in range(count):
        for name, source in sources.items():
            started = clock()
            source.token()
            samples[name].append(clock() - started)
    return {name: median(values) * 1e6 for name, values in samples.items()}


def bench_fleet(wiki: RunningWiki, workdir: Path, quick: bool, latency_child: str,
                check: Callable[[Any, str], str]) -> dict[str, Any]:
    from pwb_oauth_ext.protocol.oauth2 import BearerTokenSource
    from pwb_oauth_ext.protocol.store import GrantKey, open_store
    from pwb_oauth_ext.testwiki.databases import PostgresServer, ServerUnavailable

    processes, directories = (16, 4) if quick else (64, 8)
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        print(f'\n6. Fleet: skipped ({exc})')
        return {'skipped': str(exc)}
    results: dict[str, Any] = {}
    try:
        stores = {'file': str(workdir / 'fleet-shared-tokens.json'),
                  'postgresql': server.new_database('fleet')}
        grants = {}
        for label, setting in stores.items():
            client = wiki.app.oauth2.register_client(ACCOUNT, confidential=True,
                                                     redirect_uri=CALLBACK)
            tokens = authorization_code_grant(wiki, client, ACCOUNT, redirect_uri=CALLBACK)
            key = GrantKey(wiki.host, client.client_id, ACCOUNT)
            store = open_store(setting)
            store.put(key, tokens.to_record())
            dirs = _fleet_dirs(wiki, workdir, label, setting, client, directories)
            # One warm run per directory fills its apicache, so the fleet times start-up
            # and the refresh, not site-info downloads.
            for directory in dirs:
                check(run_pywikibot(['-c', SAVE_CHILD, f'Fleet warm-up {label}'], directory),
                      f'fleet warm-up {label}')
            _expire(store, key)
            results[label] = _run_fleet(wiki, dirs, processes, label)
            grants[label] = (store, key, dirs[0])

        # Per request: the same API request through Pywikibot with each store, in short
        # alternating runs; each run is compared with its neighbour, so load drift cancels.
        rounds, per_round = (4, 100) if quick else (12, 150)
        times: dict[str, list[float]] = {label: [] for label in stores}
        pair_ratios = []
        for round_number in range(rounds):
            order = list(stores) if round_number % 2 == 0 else list(reversed(stores))
            medians = {}
            for label in order:
                out = check(run_pywikibot(['-c', latency_child, str(per_round), '20', '1'],
                                          grants[label][2]), f'fleet latency {label}')
                samples = json.loads(out.strip().splitlines()[-1])
                times[label] += samples
                medians[label] = median(samples)
            pair_ratios.append(ratio(medians['postgresql'], medians['file']))
        step = _token_step_us({label: BearerTokenSource(store=store, key=key, obtain=None)
                               for label, (store, key, _) in grants.items()},
                              2000 if quick else 20000)
        per_request = {label: median(values) * 1e3 for label, values in times.items()}
        results['per_request'] = {
            'median_ms': per_request, 'token_step_us': step,
            'pooled_ratio': ratio(per_request['postgresql'], per_request['file']),
            'ratio': median(pair_ratios), 'pair_ratios': pair_ratios,
            'target': 1.01, 'requests_per_store': rounds * per_round}
        results['per_request']['met'] = results['per_request']['ratio'] <= 1.01
    finally:
        server.close()

    table = Table(['store', 'processes / dirs', 'refresh requests', 'target', 'saves ok',
                   'time until all saved'])
    for label in stores:
        row = results[label]
        table.add(label, f"{row['processes']} / {row['directories']}", row['refresh_requests'],
                  '1: ' + ('met' if row['refresh_requests'] == 1 else 'NOT met'),
                  f"{row['saved']}/{row['processes']}", f"{row['wall_s']:.2f} s")
    cost = results['per_request']
    table.print(
        f'6. Fleet: {processes} processes over {directories} PYWIKIBOT_DIRs, one expired grant'
        ' in one store, each Site() + one Page.save()',
        f"Per API request ({cost['requests_per_store']} each, in alternating runs): median"
        f" file {cost['median_ms']['file']:.3f} ms, PostgreSQL"
        f" {cost['median_ms']['postgresql']:.3f} ms ({cost['pooled_ratio']:.3f} x); median of"
        f" the run-by-run ratios {cost['ratio']:.3f} x (target <= 1.01:"
        f" {'met' if cost['met'] else 'NOT met'}).\ntoken() step: file"
        f" {step['file']:.2f} us, PostgreSQL {step['postgresql']:.2f} us (read once, then"
        ' in memory).')
    return results
