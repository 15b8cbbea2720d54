"""Section ``startup``: what importing and enabling the plugin costs a process.

``-X importtime`` of ``import pwb_oauth_ext; enable()`` in a bare interpreter and after
``import pywikibot``; its wall time minus ``python -c pass``; ``pwb version`` with and without
the plugin in user-config.py; and which protocol libraries are loaded (they must stay lazy).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.helpers import Bench, Report, Table, check, median, met, ratio, wall_times
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment, run_pywikibot

REPO_ROOT = Path(__file__).resolve().parent.parent
IMPORT_ENABLE = 'import pwb_oauth_ext; pwb_oauth_ext.enable()'
AFTER_PYWIKIBOT = 'import pywikibot; ' + IMPORT_ENABLE
LAZY_MODULES = ('requests_oauthlib', 'oauthlib', 'jwt', 'mwoauth')
TARGET_US = 10_000
#: What the `pwb` console script runs (`python -m pywikibot.scripts.wrapper` wants a
#: source checkout's setup.py).
PWB_VERSION = ['-c', 'import sys; from pywikibot.scripts.wrapper import run;'
               ' sys.argv[0] = "pwb"; sys.exit(run())', 'version']


def child_env(**extra: str) -> dict[str, str]:
    """This environment, with this checkout first on PYTHONPATH."""
    env = dict(os.environ, **extra)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    return env


def importtime_us(code: str, env: dict[str, str]) -> tuple[int, int, list[tuple[str, int]]]:
    """Under ``-X importtime``: (cumulative µs of the top-level pwb_oauth_ext imports,
    self µs of all pwb_oauth_ext modules, the top-level modules with their cumulative µs).

    Cumulative includes the stdlib modules the package is first to import; self counts
    only the package's own modules.
    """
    result = subprocess.run([sys.executable, '-X', 'importtime', '-c', code], env=env,
                            capture_output=True, text=True, check=True)
    tops = []
    own = 0
    for line in result.stderr.splitlines():
        parts = line.split('|')
        if not line.startswith('import time:') or len(parts) != 3:
            continue
        self_us, cumulative, name = parts[0].rsplit(':', 1)[1].strip(), parts[1].strip(), \
            parts[2]
        indent = len(name) - len(name.lstrip(' ')) - 1
        module = name.strip()
        if not cumulative.isdigit() or module.split('.')[0] != 'pwb_oauth_ext':
            continue
        own += int(self_us)
        if indent == 0:
            tops.append((module, int(cumulative)))
    return sum(us for _, us in tops), own, tops


def lazy_modules_loaded(code_prefix: str, env: dict[str, str],
                        cwd: str | None = None) -> list[str]:
    """Which of LAZY_MODULES are in sys.modules after ``code_prefix``."""
    code = (f'{code_prefix}\nimport sys\n'
            f'print(",".join(m for m in {LAZY_MODULES!r} if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], env=env, cwd=cwd, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()
    return [m for m in (out[-1] if out else '').split(',') if m]


def import_times(repeats: int) -> dict[str, Any]:
    """``-X importtime`` medians, bare and where Pywikibot has imported typing, requests...
    (enable() then installs at once instead of waiting)."""
    env = child_env()
    pwb_env = child_env(PYWIKIBOT_NO_USER_CONFIG='2')
    for code in (IMPORT_ENABLE, AFTER_PYWIKIBOT):   # warm-up: bytecode
        subprocess.run([sys.executable, '-c', code], env=pwb_env, check=True,
                       capture_output=True)
    samples = [importtime_us(IMPORT_ENABLE, env) for _ in range(repeats)]
    after_pwb = [importtime_us(AFTER_PYWIKIBOT, pwb_env) for _ in range(repeats)]
    return {'importtime_us_median': median([total for total, _, _ in samples]),
            'importtime_own_us_median': median([own for _, own, _ in samples]),
            'importtime_modules': samples[-1][2],
            'importtime_after_pywikibot_us_median': median([t for t, _, _ in after_pwb])}


def wall_cost(runs: int) -> dict[str, Any]:
    """import + enable() against ``python -c pass``, interleaved so load changes hit both."""
    env = child_env()
    bare: list[float] = []
    plugin: list[float] = []
    for _ in range(runs):
        bare += wall_times([sys.executable, '-c', 'pass'], 1, env=env)
        plugin += wall_times([sys.executable, '-c', IMPORT_ENABLE], 1, env=env)
    return {'python_pass_ms_median': median(bare) * 1e3,
            'import_enable_ms_median': median(plugin) * 1e3,
            'import_enable_minus_pass_ms': (median(plugin) - median(bare)) * 1e3,
            'import_enable_target_ms': TARGET_US / 1000,
            'lazy_after_import_enable': lazy_modules_loaded(IMPORT_ENABLE, env)}


def pwb_version_cost(bench: Bench, runs: int) -> dict[str, Any]:
    """``pwb version`` with the plugin (an OAuth 1.0a and an OAuth 2.0 entry configured, no
    credential used) and without, alternating; and the lazy modules after import pywikibot."""
    dirs = {'with': bench.logins.directory(
                'plugin-oauth2-owner-only', label='startup-plugin',
                lines=[bench.logins.oauth1_tuple_line('other.example.org')]),
            'without': bench.logins.directory('plain-oauth1', label='startup-plain')}
    for directory in dirs.values():   # the first run writes caches; not timed
        check(run_pywikibot(PWB_VERSION, directory), 'pwb version')
    times: dict[str, list[float]] = {label: [] for label in dirs}
    for _ in range(runs):
        for label, directory in dirs.items():
            started = time.perf_counter()
            check(run_pywikibot(PWB_VERSION, directory), 'pwb version')
            times[label].append(time.perf_counter() - started)
    results: dict[str, Any] = {
        f'pwb_version_ms_median_{label}_plugin': median(values) * 1e3
        for label, values in times.items()}
    results['pwb_version_ratio'] = ratio(median(times['with']), median(times['without']))
    for label, directory in dirs.items():
        results[f'lazy_after_pywikibot_import_{label}_plugin'] = lazy_modules_loaded(
            'import pywikibot', pywikibot_environment(directory), str(directory))
    return results


def table(results: dict[str, Any], runs: int, pwb_runs: int) -> Table:
    out = Table(['measure', 'value', 'target / note'])
    bare_us, after_pwb_us = results['importtime_us_median'], \
        results['importtime_after_pywikibot_us_median']
    out.add('import + enable(), -X importtime cumulative, bare python',
            f'{bare_us / 1000:.2f} ms', f'<= 10 ms: {met(bare_us <= TARGET_US)}; own modules'
            f" (self): {results['importtime_own_us_median'] / 1000:.2f} ms")
    out.add('import + enable(), -X importtime cumulative, after import pywikibot',
            f'{after_pwb_us / 1000:.2f} ms', f'<= 10 ms: {met(after_pwb_us <= TARGET_US)}')
    out.add(f'import + enable(), wall minus `python -c pass` (median of {runs})',
            f"{results['import_enable_minus_pass_ms']:.2f} ms",
            f"python -c pass: {results['python_pass_ms_median']:.1f} ms")
    out.add(f'pwb version, plugin in user-config (median of {pwb_runs})',
            f"{results['pwb_version_ms_median_with_plugin']:.0f} ms",
            f"x{results['pwb_version_ratio']:.3f} of without")
    out.add(f'pwb version, no plugin (median of {pwb_runs})',
            f"{results['pwb_version_ms_median_without_plugin']:.0f} ms", '')
    for key, label, remark in (
            ('lazy_after_import_enable', 'lazy modules loaded after import + enable()',
             'target: none'),
            ('lazy_after_pywikibot_import_with_plugin',
             '... after `import pywikibot`, plugin enabled',
             'Pywikibot imports requests_oauthlib itself'),
            ('lazy_after_pywikibot_import_without_plugin',
             '... after `import pywikibot`, no plugin', '')):
        out.add(label, names(results[key]), remark)
    return out


def names(modules: Sequence[str]) -> str:
    return ', '.join(modules) or 'none'


def run(bench: Bench) -> Report:
    runs, pwb_runs, repeats = (5, 2, 3) if bench.quick else (20, 5, 7)
    results = {**import_times(repeats), **wall_cost(runs), **pwb_version_cost(bench, pwb_runs)}
    return Report('Start-up cost', table(results, runs, pwb_runs),
                  'modules checked: ' + names(LAZY_MODULES), results)
