"""Section ``hosts``: HostTable lookups per second with 10 and with 10,000 keys.

The cost should follow the host's label count (and hit or miss), not the number of keys.
"New" lookups clear the memo before each one; "remembered" ones hit it. In this process:
no wiki, no Pywikibot.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from benchmarks.helpers import Bench, Report, Table, median, ratio
from pwb_oauth_ext.network.hosts import HostTable

SIZES = (10, 10_000)
LABELS = (2, 4, 8)
NOTE = ('the cost should follow the label count (and hit/miss), not the number of keys:'
        ' 10k/10 near 1.')
#: (keys, labels, case, remembered) -> lookups per second, one value per pass.
Rates = dict[tuple[int, int, str, bool], list[float]]


def host_entries(count: int) -> dict[str, int]:
    """``count`` keys: exact hosts of 2, 4 and 8 labels and ``*.wN.org`` wildcards."""
    entries = {}
    for i in range(count):
        kind = i % 4
        if kind == 0:
            key = f'z{i}.org'
        elif kind == 1:
            key = f'a.b.z{i}.org'
        elif kind == 2:
            key = f'a.b.c.d.e.f.z{i}.org'
        else:
            key = f'*.w{i}.org'
        entries[key] = i
    return entries


def host_cases(labels: int, distinct: int) -> dict[str, list[str]]:
    """Hosts of ``labels`` labels: exact hits, wildcard hits, misses (``distinct`` each)."""
    prefix = ['a', 'b', 'c', 'd', 'e', 'f'][:labels - 2]
    exact_index = {2: 0, 4: 1, 8: 2}[labels]
    cases = {'exact hit': ['.'.join([*prefix, f'z{exact_index}', 'org'])] * distinct}
    if labels > 2:
        cases['wildcard hit'] = ['.'.join([f'x{n}', *prefix[1:], 'w3', 'org'])
                                 for n in range(distinct)]
    cases['miss'] = ['.'.join([f'x{n}', *prefix[1:], 'nowhere'] if labels > 2
                              else [f'x{n}', 'nowhere']) for n in range(distinct)]
    return cases


def lookups_per_second(table: Any, hosts: Sequence[str], remembered: bool) -> float:
    """One timed pass over ``hosts``; "new" clears the memo before each lookup."""
    lookup = table.lookup
    if remembered:
        for host in hosts:
            lookup(host, None, None)   # fill the memo first
        started = time.perf_counter()
        for host in hosts:
            lookup(host, None, None)
    else:
        clear = table._memo.clear
        started = time.perf_counter()
        for host in hosts:
            clear()
            lookup(host, None, None)
    return len(hosts) / (time.perf_counter() - started)


def check_workload(tables: dict[int, Any], cases: dict[int, dict[str, list[str]]]) -> None:
    """The workload is what it says it is: hits hit and misses miss, in every table."""
    for size, table in tables.items():
        for labels, by_case in cases.items():
            for case, hosts in by_case.items():
                found = table.lookup(hosts[-1], None, None) is not None
                if found != (case != 'miss'):
                    raise RuntimeError(f'host table {size}: {case} for {labels} labels')


def measure(tables: dict[int, Any], cases: dict[int, dict[str, list[str]]],
            repeats: int) -> Rates:
    rates: Rates = {}
    # Sizes alternate inside each repeat, so load changes on the machine hit both alike.
    for _ in range(repeats):
        for labels, by_case in cases.items():
            for case, hosts in by_case.items():
                for remembered in (False, True):
                    for size in SIZES:
                        rates.setdefault((size, labels, case, remembered), []).append(
                            lookups_per_second(tables[size], hosts, remembered))
    return rates


def table(rates: Rates, cases: dict[int, dict[str, list[str]]]) -> Table:
    def best(size: int, labels: int, case: str, remembered: bool) -> float:
        return max(rates[(size, labels, case, remembered)])

    out = Table(['labels', 'case', 'new: 10 keys', 'new: 10,000 keys', '10k/10',
                 'remembered: 10 keys', 'remembered: 10,000 keys', '10k/10'])
    for labels, by_case in cases.items():
        for case in by_case:
            new10, new10k = best(10, labels, case, False), best(10_000, labels, case, False)
            mem10, mem10k = best(10, labels, case, True), best(10_000, labels, case, True)
            out.add(labels, case, f'{new10:,.0f}/s', f'{new10k:,.0f}/s',
                    f'{ratio(new10k, new10):.2f}', f'{mem10:,.0f}/s', f'{mem10k:,.0f}/s',
                    f'{ratio(mem10k, mem10):.2f}')
    return out


def run(bench: Bench) -> Report:
    distinct = 200 if bench.quick else 1000
    repeats = 5 if bench.quick else 15
    tables = {size: HostTable(host_entries(size)) for size in SIZES}
    cases = {labels: host_cases(labels, distinct) for labels in LABELS}
    check_workload(tables, cases)
    rates = measure(tables, cases, repeats)
    results: dict[str, Any] = {'repeats': repeats, 'hosts_per_pass': distinct}
    for (size, labels, case, remembered), values in rates.items():
        results[f'{size}/{labels}/{case}/{"remembered" if remembered else "new"}'] = {
            'keys': size, 'labels': labels, 'case': case, 'remembered': remembered,
            'lookups_per_s_best': max(values), 'lookups_per_s_median': median(values)}
    return Report(f'HostTable lookups per second (best of {repeats} passes over {distinct}'
                  ' hosts; "new": memo cleared before each lookup, "remembered": memo hit)',
                  table(rates, cases), NOTE, results)
