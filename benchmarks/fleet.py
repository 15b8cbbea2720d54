"""Section ``fleet``: many bots in separate PYWIKIBOT_DIRs on one grant.

64 processes over 8 Pywikibot directories share one expired authorization-code
grant, kept in a PostgreSQL database (started here on 127.0.0.1) or in one
token file: refresh requests (target 1) and the time until all have saved.
Then the cost per API request with each store (target: database <= 1.01 x
file), since the database must stay off the hot path. Last, the refresh fault matrix
(``pwb_oauth_ext.testwiki.faults``): each fault injected between the wiki's answer to a
refresh and the store write, then bots saving twice (grants lost: target 0; refreshes:
one per rotation).
"""
from __future__ import annotations

import time
from contextlib import suppress
from pathlib import Path
from typing import Any

from benchmarks.helpers import (
    ACCOUNT,
    ENABLE_LINES,
    EXTRA_CONFIG,
    Bench,
    Report,
    Table,
    expire,
    median,
    met,
    ratio,
    refresh_cells,
    request_times,
    save_at_once,
    save_once,
)
from pwb_oauth_ext.protocol.store import open_store
from pwb_oauth_ext.protocol.tokens import BearerTokenSource
from pwb_oauth_ext.testwiki import faults
from pwb_oauth_ext.testwiki.databases import MariaDBServer, PostgresServer, ServerUnavailable
from pwb_oauth_ext.testwiki.pywikibot_env import write_pywikibot_dir

TARGET = 1.01
#: A store's label -> (the store, the grant's key in it, a Pywikibot dir using it).
Grants = dict[str, tuple[Any, Any, Path]]


def refresh_at_once(bench: Bench, settings: dict[str, str], processes: int,
                    directories: int) -> tuple[dict[str, Any], Grants]:
    """For each token store: a grant, its fleet of dirs, and the fleet's run on it expired."""
    results: dict[str, Any] = {}
    grants: Grants = {}
    for label, setting in settings.items():
        client, key, record = bench.logins.authorization_code_grant()
        store = open_store(setting)
        store.put(key, record)
        dirs = [bench.logins.authorization_code_directory(
                    client, label=f'fleet-{label}-{n}', token_store=setting)
                for n in range(directories)]
        # One warm run per directory fills its apicache, so the fleet times start-up
        # and the refresh, not site-info downloads.
        for directory in dirs:
            save_once(directory, f'Fleet warm-up {label}')
        expire(store, key)
        results[label] = save_at_once(bench.wiki, dirs, processes, f'Fleet {label}')
        grants[label] = (store, key, dirs[0])
    return results, grants


def token_step_us(grants: Grants, count: int) -> dict[str, float]:
    """Median microseconds of ``source.token()`` per store, interleaved call by call."""
    sources = {label: BearerTokenSource(store=store, key=key, obtain=None)
               for label, (store, key, _) in grants.items()}
    samples: dict[str, list[float]] = {name: [] for name in sources}
    clock = time.perf_counter
    for _ in range(count):
        for name, source in sources.items():
            started = clock()
            source.token()
            samples[name].append(clock() - started)
    return {name: median(values) * 1e6 for name, values in samples.items()}


def per_request_cost(grants: Grants, quick: bool) -> dict[str, Any]:
    """The same API request through Pywikibot with each store, in short alternating runs;
    each run is compared with its neighbour, so load drift cancels."""
    rounds, per_round = (4, 100) if quick else (12, 150)
    times: dict[str, list[float]] = {label: [] for label in grants}
    pair_ratios = []
    for round_number in range(rounds):
        order = list(grants) if round_number % 2 == 0 else list(reversed(grants))
        medians = {}
        for label in order:
            samples = request_times(grants[label][2], per_round, what=f'fleet latency {label}')
            times[label] += samples
            medians[label] = median(samples)
        pair_ratios.append(ratio(medians['postgresql'], medians['file']))
    per_request = {label: median(values) * 1e3 for label, values in times.items()}
    return {'median_ms': per_request,
            'token_step_us': token_step_us(grants, 2000 if quick else 20000),
            'pooled_ratio': ratio(per_request['postgresql'], per_request['file']),
            'ratio': median(pair_ratios), 'pair_ratios': pair_ratios, 'target': TARGET,
            'met': median(pair_ratios) <= TARGET, 'requests_per_store': rounds * per_round}


def note(cost: dict[str, Any]) -> str:
    step = cost['token_step_us']
    return (f"Per API request ({cost['requests_per_store']} each, in alternating runs): median"
            f" file {cost['median_ms']['file']:.3f} ms, PostgreSQL"
            f" {cost['median_ms']['postgresql']:.3f} ms ({cost['pooled_ratio']:.3f} x);"
            f" median of the run-by-run ratios {cost['ratio']:.3f} x (target <= {TARGET}:"
            f" {met(cost['met'])}).\ntoken() step: file {step['file']:.2f} us, PostgreSQL"
            f" {step['postgresql']:.2f} us (read once, then in memory).")


def run(bench: Bench) -> Report:
    processes, directories = (16, 4) if bench.quick else (64, 8)
    title = (f'Fleet: {processes} processes over {directories} PYWIKIBOT_DIRs, one expired'
             ' grant in one store, each Site() + one Page.save()')
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        return Report(title, None, f'skipped ({exc})', {'skipped': str(exc)})
    try:
        settings = {'file': str(bench.workdir / 'fleet-shared-tokens.json'),
                    'postgresql': server.new_database('fleet')}
        results, grants = refresh_at_once(bench, settings, processes, directories)
        results['per_request'] = per_request_cost(grants, bench.quick)
        results['faults'] = fault_matrix(bench, {'postgresql': server})
    finally:
        server.close()
    table = Table(['store', 'processes / dirs', 'refresh requests', 'target', 'saves ok',
                   'time until all saved'])
    for label in settings:
        row = results[label]
        table.add(label, f"{row['processes']} / {row['directories']}", *refresh_cells(row))
    matrix = Table(faults.MATRIX_HEADERS)
    for row in results['faults']:
        matrix.add(*faults.matrix_row(row))
    return Report(title, table, note(results['per_request']) + '\n\nRefresh fault matrix'
                  ' (grants lost target 0, one refresh per rotation):\n' + matrix.render(),
                  results)


def fault_matrix(bench: Bench, servers: dict[str, Any]) -> list[dict[str, Any]]:
    """Every fault of the matrix whose server runs here (MariaDB when installed)."""
    with suppress(ServerUnavailable):
        servers['mariadb'] = MariaDBServer()

    def make_dir(lines: list) -> Path:
        return write_pywikibot_dir(bench.logins.new_path('fault'), bench.wiki, username=ACCOUNT,
                                   authenticate_lines=[*ENABLE_LINES, *lines],
                                   extra_lines=EXTRA_CONFIG)
    rows = []
    try:
        for fault, kind in faults.MATRIX:
            if kind is not None and kind not in servers:
                continue
            row = faults.run_fault(fault, bench.wiki, make_dir=make_dir, workdir=bench.workdir,
                                   server=servers.get(kind) if kind else None,
                                   bots=2 if bench.quick else 3)
            rows.append({k: v for k, v in row.items() if k != 'errors'})
    finally:
        if 'mariadb' in servers:
            servers.pop('mariadb').close()
    return rows
