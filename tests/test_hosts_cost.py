"""Host lookups cost the same with 10 or 10,000 keys": counted, not timed.

A lookup is traced line by line (``sys.settrace``): the number of Python lines it runs
is its cost, on any machine and under any load. A lookup that scanned the keys would
run more lines for more keys; one that probes dicts runs the same number.
"""
from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import pytest

from pwb_oauth_ext.network.hosts import HostTable


def lines_run(call: Callable[[], Any]) -> int:
    """How many Python lines ``call()`` executes, in every function it calls."""
    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        if event == 'line':
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count


def table_with(n: int) -> HostTable[str]:
    """``n`` keys of every form (exact, with port, wildcard, account), plus the ones probed."""
    entries: dict[str, str] = {}
    for i in range(n // 4):
        entries[f'host{i}.example.org'] = 'exact'
        entries[f'host{i}.example.net:{1000 + i}'] = 'port'
        entries[f'*.zone{i}.example.com'] = 'wildcard'
        entries[f'Bot{i}@host{i}.example.org'] = 'account'
    entries.update({'en.wikipedia.org': 'en', '*.wikimedia.org': 'wm', 'BotB@*': 'botb'})
    return HostTable(entries)


CASES = [
    ('en.wikipedia.org', None, None, 'en'),                 # exact hit
    ('a.b.commons.wikimedia.org', None, None, 'wm'),        # wildcard hit, four labels
    ('a.b.c.unknown.example', 8080, None, None),            # miss
    ('other.example', None, 'BotB', 'botb'),                # account on '*'
    ('[::1]', 8080, None, None),                            # IP literal miss
]


@pytest.mark.parametrize(('host', 'port', 'account', 'expected'), CASES)
def test_lookup_cost_does_not_grow_with_the_number_of_keys(
        host: str, port: int | None, account: str | None, expected: str | None) -> None:
    costs = {}
    for n in (10, 10_000):
        table = table_with(n)
        match = table.lookup(host, port, account)
        assert (match.value if match else None) == expected
        fresh = table_with(n)  # nothing remembered from the lookup above
        costs[n] = lines_run(functools.partial(fresh.lookup, host, port, account))
    assert costs[10] == costs[10_000], costs
    assert costs[10] > 0  # the tracer saw the lookup at all


def test_a_scan_over_the_keys_would_be_seen() -> None:
    """The measure itself: a lookup that looks at every key costs more with more keys."""
    def scanning_lookup(table: HostTable[str]) -> Any:
        return [key for key, _value in table.items() if key.host == 'en.wikipedia.org']
    small, large = table_with(10), table_with(10_000)
    assert lines_run(lambda: scanning_lookup(large)) > 100 * lines_run(
        lambda: scanning_lookup(small)) / 10
