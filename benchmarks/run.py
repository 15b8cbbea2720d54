"""Benchmarks for pwb_oauth_ext against the local test wiki: one table per section, one JSON.

    python -m benchmarks [--quick] [--json PATH] [SECTION ...]     (tox -e bench -- ...)

Sections, one module each: ``requests`` (HTTP requests per bot run), ``latency`` (time per
API request), ``startup`` (import and Pywikibot start-up cost), ``hosts`` (HostTable
lookups), ``contention`` (many processes refreshing one expired grant) and ``fleet`` (64
processes over 8 PYWIKIBOT_DIRs on a PostgreSQL or a file token store). Nothing here fails
on a time: targets are printed beside the numbers. Machines are noisy, so compare ratios
from one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from benchmarks import contention, fleet, hosts, latency, request_count, startup
from benchmarks.helpers import ACCOUNT, Bench, Logins, Report
from pwb_oauth_ext.testwiki.server import run_test_wiki

#: Each section's benchmark, in the order (and with the number) the tables are printed.
SECTIONS: dict[str, Callable[[Bench], Report]] = {
    'requests': request_count.run,
    'latency': latency.run,
    'startup': startup.run,
    'hosts': hosts.run,
    'contention': contention.run,
    'fleet': fleet.run,
}


def environment_info(quick: bool) -> dict[str, Any]:
    try:
        from importlib.metadata import version

        import pywikibot  # noqa: F401 - only for the version below
        pwb_version = version('pywikibot')
    except Exception:   # the benchmark still runs; the JSON says it is unknown
        pwb_version = 'unknown'
    return {'python': platform.python_version(), 'pywikibot': pwb_version,
            'platform': platform.platform(), 'cpus': os.cpu_count(), 'quick': quick,
            'date': time.strftime('%Y-%m-%dT%H:%M:%S%z')}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m benchmarks',
                                     description=__doc__.split('\n', 1)[0])
    parser.add_argument('sections', nargs='*', metavar='SECTION',
                        help=f"sections to run, of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument('--quick', action='store_true',
                        help='fewer iterations: a smoke test of every section')
    parser.add_argument('--json', default='bench-results.json', type=Path,
                        help='where to write the results (default: %(default)s)')
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from"
                     f" {', '.join(SECTIONS)}")
    # In the printed order, each once.
    args.sections = [name for name in SECTIONS if name in args.sections or not args.sections]
    return args


def run_sections(names: Sequence[str], quick: bool) -> dict[str, Any]:
    """Each section against one test wiki; its table printed as soon as it is done."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix='pwb-oauth-bench-') as workdir, \
            run_test_wiki() as wiki:
        # Start-up is timed as users see it, with bytecode cached (tox sets
        # PYTHONDONTWRITEBYTECODE, which would time compiling instead); the cache goes to
        # the work dir, not the source tree. Every timing follows a warm-up run.
        os.environ.pop('PYTHONDONTWRITEBYTECODE', None)
        os.environ['PYTHONPYCACHEPREFIX'] = str(Path(workdir) / 'pycache')
        wiki.app.add_bot(ACCOUNT)
        bench = Bench(wiki, Logins(wiki, Path(workdir)), Path(workdir), quick)
        for name in names:
            started = time.perf_counter()
            report = SECTIONS[name](bench)
            number = list(SECTIONS).index(name) + 1
            print(f'\n{report.render(number)}', flush=True)
            results[name] = dict(report.results,
                                 section_seconds=time.perf_counter() - started)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.pop('PYWIKIBOT_NO_USER_CONFIG', None)   # tox sets it; the children need theirs
    started = time.perf_counter()
    results: dict[str, Any] = {'environment': environment_info(args.quick)}
    results.update(run_sections(args.sections, args.quick))
    results['total_seconds'] = time.perf_counter() - started
    args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + '\n', encoding='utf-8')
    print(f'\nResults written to {args.json} ({results["total_seconds"]:.0f} s in all).')
    return 0

