"""Benchmarks for pwb_oauth_ext against the local test wiki: one table per section, one JSON.

    python benchmarks/run.py [--quick] [--json PATH] [--only SECTION ...]

Sections: ``requests`` (HTTP requests per bot run), ``latency`` (time per API request),
``startup`` (import and Pywikibot start-up cost), ``hosts`` (HostTable lookups) and
``contention`` (many processes refreshing one expired grant) and ``fleet`` (64 processes
over 8 PYWIKIBOT_DIRs on a PostgreSQL or a file token store; benchmarks/fleet.py). Pywikibot runs in
subprocesses with their own PYWIKIBOT_DIR. Nothing here fails on a time: targets are
printed beside the numbers. Machines are noisy, so compare ratios from one run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.fleet import bench_fleet  # noqa: E402
from benchmarks.helpers import (  # noqa: E402
    Table,
    median,
    p95,
    ratio,
)
from pwb_oauth_ext.testwiki.browser import authorization_code_grant  # noqa: E402
from pwb_oauth_ext.testwiki.pywikibot_env import (  # noqa: E402
    pywikibot_environment,
    run_pywikibot,
    write_pywikibot_dir,
)
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki  # noqa: E402

ENABLE_LINES = ('import pwb_oauth_ext as _oauth', '_oauth.enable()')
LAZY_MODULES = ('requests_oauthlib', 'oauthlib', 'jwt', 'mwoauth')
STORE_FILE = 'pwb-oauth-tokens.json'
ACCOUNT = 'BotUser'
SECTIONS = ('requests', 'latency', 'startup', 'hosts', 'contention', 'fleet')
#: No read throttle (Pywikibot's minthrottle is 0.1 s): it would sleep between requests and
#: hide what is measured. put_throttle = 0 comes from write_pywikibot_dir.
EXTRA_CONFIG = ('minthrottle = 0',)


# --- Pywikibot directories for each way of logging in ---------------------------------

class Modes:
    """The credentials registered at one wiki, and user-config lines for each mode."""

    def __init__(self, wiki: RunningWiki, workdir: Path) -> None:
        self.wiki = wiki
        self.workdir = workdir
        app = wiki.app
        self.oauth1 = app.register_oauth1_consumer(ACCOUNT, owner_only=True)
        self.owner_only = app.oauth2.register_client(ACCOUNT, owner_only=True)
        self.client_credentials = app.oauth2.register_client(ACCOUNT, owner_only=True)
        self._count = 0

    def oauth1_tuple_line(self) -> str:
        consumer = self.oauth1
        value = (consumer.consumer_key, consumer.consumer_secret, consumer.access_token,
                 consumer.access_secret)
        return f'authenticate[{self.wiki.host!r}] = {value!r}'

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

    def directory(self, mode: str, *, label: str | None = None) -> Path:
        """A fresh Pywikibot dir for ``mode`` (cold apicache)."""
        self._count += 1
        path = self.workdir / f'{self._count:02d}-{label or mode}'
        lines, username = self.lines(mode)
        return write_pywikibot_dir(path, self.wiki, username=username, authenticate_lines=lines,
                                   extra_lines=EXTRA_CONFIG)

    def authorization_code_directory(self, *, label: str) -> tuple[Path, Any]:
        """A Pywikibot dir whose token store holds a fresh authorization-code grant."""
        from pwb_oauth_ext.protocol.store import TokenStore

        self._count += 1
        path = self.workdir / f'{self._count:02d}-{label}'
        callback = 'http://127.0.0.1:9/oauth2/callback'
        client = self.wiki.app.oauth2.register_client(ACCOUNT, confidential=True,
                                                      redirect_uri=callback)
        tokens = authorization_code_grant(self.wiki, client, ACCOUNT, redirect_uri=callback)
        lines = [*ENABLE_LINES,
                 f'authenticate[{self.wiki.host!r}] = _oauth.OAuth2('
                 f'client_id={client.client_id!r}, client_secret={client.client_secret!r})']
        write_pywikibot_dir(path, self.wiki, username=ACCOUNT, authenticate_lines=lines,
                            extra_lines=EXTRA_CONFIG)
        TokenStore(path / STORE_FILE).put(self.wiki.host, client.client_id, ACCOUNT,
                                          tokens.to_record())
        return path, client


def check(result: subprocess.CompletedProcess[str], what: str) -> str:
    """The child's stdout; its stderr tail in the error when it failed."""
    if result.returncode != 0:
        raise RuntimeError(f'{what} failed (exit {result.returncode}):\n'
                           f'{result.stderr[-3000:]}')
    return result.stdout


# --- 1. HTTP requests per bot run --------------------------------------------------------

REQUESTS_CHILD = textwrap.dedent('''
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

PHASES = ('site', 'login', 'pages', 'logout')
#: The phase that starts at each marker the child sends.
NEXT_PHASE = {'start': 'site', 'site': 'login', 'login': 'pages', 'pages': 'logout'}


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


def bench_requests(wiki: RunningWiki, modes: Modes, quick: bool) -> dict[str, Any]:
    del quick  # ten pages per run either way: this counts requests, it does not time them
    results: dict[str, Any] = {}
    run_modes = ['plain-oauth1', 'plugin-oauth1', 'plugin-oauth2-owner-only',
                 'plugin-oauth2-client-credentials', 'plugin-oauth2-authorization-code']
    for mode in run_modes:
        if mode == 'plugin-oauth2-authorization-code':
            directory, _client = modes.authorization_code_directory(label=mode)
        else:
            directory = modes.directory(mode)
        for run in ('cold', 'warm'):
            with wiki.app.watch() as exchanges:
                out = check(run_pywikibot(['-c', REQUESTS_CHILD, wiki.url, f'{mode}-{run}'],
                                          directory), f'{mode} ({run})')
            phases = split_log([describe(exchange.request) for exchange in exchanges])
            logout = next((line.split(':', 1)[1].strip() for line in out.splitlines()
                           if line.startswith('logout:')), '?')
            results[f'{mode}/{run}'] = {
                'mode': mode, 'apicache': run,
                **{phase: len(requests) for phase, requests in phases.items()},
                'total': sum(len(requests) for requests in phases.values()),
                'requests': phases, 'logout_result': logout,
            }
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
    table = Table(['mode', 'apicache', 'Site()+login()', '10 pages', 'logout()', 'total',
                   'login=1?', '<=plain?', 'logout() result'])
    for row in results.values():
        table.add(row['mode'], row['apicache'], row['site_and_login'], row['pages'],
                  row['logout'], row['total'], yes_no(row['target_login_1']),
                  yes_no(row['target_not_more_than_plain']), row['logout_result'])
    table.print('1. HTTP requests: Site() + login() + read and save 10 pages + logout()',
                "targets: login is 1 request in every mode with a valid token ('-': the"
                ' client credentials grant has none on its first run and fetches one);'
                ' no plugin mode makes more requests than plain Pywikibot with an OAuth 1.0a'
                " 4-tuple. Pywikibot's Site() already sends the userinfo query that logs in;"
                ' login() then sends nothing. cold = fresh PYWIKIBOT_DIR (no apicache),'
                ' warm = second run in the same dir.')
    return results


def yes_no(value: bool | None) -> str:
    return '-' if value is None else ('yes' if value else 'NO')


# --- 2. Time per API request -------------------------------------------------------------

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

LATENCY_MODES = ('anonymous', 'plain-oauth1', 'plugin-oauth1', 'plugin-oauth2-owner-only')

#: The auth step alone, in one process, the four ways interleaved call by call so that
#: machine noise hits them alike: what each adds to a prepared request before it is sent.
#: Plain Pywikibot wraps its 4-tuple in requests_oauthlib.OAuth1 for every request; the
#: plugin's session-level auth picks the entry and signs (OAuth 1.0a) or adds the token.
AUTH_STEP_CHILD = textwrap.dedent('''
    import json, sys, time
    import pywikibot, requests, requests_oauthlib
    from pywikibot import config
    from pywikibot.comms import http
    count, oauth1_host, oauth2_host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    pywikibot.Site()  # the plugin installs itself when the site module loads
    plain_tuple = tuple(json.loads(sys.argv[4]))
    def prepared(host):
        return requests.Request('POST', f'http://{host}/api.php',
                                data={'action': 'query', 'meta': 'userinfo'}).prepare()
    base1, base2 = prepared(oauth1_host), prepared(oauth2_host)
    steps = {
        'anonymous': lambda: base2.copy(),
        'plain-oauth1': lambda: requests_oauthlib.OAuth1(*plain_tuple)(base1.copy()),
        'plugin-oauth1': lambda: http.session.auth(base1.copy()),
        'plugin-oauth2-owner-only': lambda: http.session.auth(base2.copy()),
    }
    samples = {name: [] for name in steps}
    clock = time.perf_counter
    for i in range(count + 200):
        for name, step in steps.items():
            started = clock()
            step()
            if i >= 200:
                samples[name].append(clock() - started)
    print(json.dumps(samples))
''')


def auth_step_us(wiki: RunningWiki, modes: Modes, count: int) -> dict[str, float]:
    """Median microseconds of each mode's auth step (see AUTH_STEP_CHILD)."""
    consumer = modes.oauth1
    plain = [consumer.consumer_key, consumer.consumer_secret, consumer.access_token,
             consumer.access_secret]
    oauth1_host = f'localhost:{wiki.port}'  # a second key, so both entries live in one config
    token = modes.owner_only.owner_only_token
    directory = write_pywikibot_dir(
        modes.workdir / 'auth-step', wiki, username=ACCOUNT, extra_lines=EXTRA_CONFIG,
        authenticate_lines=[*ENABLE_LINES,
                            f'authenticate[{wiki.host!r}] = _oauth.OAuth2(access_token={token!r})',
                            f'authenticate[{oauth1_host!r}] = {tuple(plain)!r}'])
    out = check(run_pywikibot(['-c', AUTH_STEP_CHILD, str(count), oauth1_host, wiki.host,
                               json.dumps(plain)], directory), 'auth step')
    samples = json.loads(out.strip().splitlines()[-1])
    return {mode: median(values) * 1e6 for mode, values in samples.items()}


def bench_latency(wiki: RunningWiki, modes: Modes, quick: bool) -> dict[str, Any]:
    total = 200 if quick else 2000
    rounds = 1 if quick else 4    # modes alternate round by round, so drift hits all alike
    per_round = total // rounds
    warmup = 20
    directories = {mode: modes.directory(mode, label=f'latency-{mode}')
                   for mode in LATENCY_MODES}
    client: dict[str, list[float]] = {mode: [] for mode in LATENCY_MODES}
    server: dict[str, list[float]] = {mode: [] for mode in LATENCY_MODES}
    for round_number in range(rounds):
        order = LATENCY_MODES if round_number % 2 == 0 else tuple(reversed(LATENCY_MODES))
        for mode in order:
            login = '0' if mode == 'anonymous' else '1'
            with wiki.app.watch() as exchanges:
                out = check(run_pywikibot(['-c', LATENCY_CHILD, str(per_round), str(warmup),
                                           login], directories[mode]), f'latency {mode}')
            client[mode] += json.loads(out.strip().splitlines()[-1])
            server[mode] += [exchange.seconds for exchange in exchanges[-per_round:]]
    results: dict[str, Any] = {'requests_per_mode': per_round * rounds, 'rounds': rounds}
    step = auth_step_us(wiki, modes, 2000 if quick else 20000)
    for mode in LATENCY_MODES:
        results[mode] = {
            'client_median_ms': median(client[mode]) * 1e3,
            'client_p95_ms': p95(client[mode]) * 1e3,
            'server_median_ms': median(server[mode]) * 1e3,
            'server_p95_ms': p95(server[mode]) * 1e3,
            'auth_step_us': step[mode],
            'n': len(client[mode]),
        }
    anon = results['anonymous']
    plain = results['plain-oauth1']
    for mode in LATENCY_MODES:
        row = results[mode]
        row['median_vs_anonymous'] = ratio(row['client_median_ms'], anon['client_median_ms'])
        row['p95_vs_anonymous'] = ratio(row['client_p95_ms'], anon['client_p95_ms'])
        row['median_vs_plain_oauth1'] = ratio(row['client_median_ms'],
                                              plain['client_median_ms'])
        row['p95_vs_plain_oauth1'] = ratio(row['client_p95_ms'], plain['client_p95_ms'])
        # Client cost with the wiki's own time taken out: what the bot side adds.
        row['client_minus_server_median_ms'] = row['client_median_ms'] - row['server_median_ms']
    for mode in LATENCY_MODES:
        row = results[mode]
        row['client_side_vs_anonymous'] = ratio(
            row['client_minus_server_median_ms'], anon['client_minus_server_median_ms'])
        row['client_side_vs_plain_oauth1'] = ratio(
            row['client_minus_server_median_ms'], plain['client_minus_server_median_ms'])
    for mode in LATENCY_MODES:
        row = results[mode]
        # The measured medians of the anonymous and plain requests, with this mode's
        # auth step in place of theirs: a ratio free of network and server noise.
        row['auth_step_vs_anonymous'] = ratio(
            anon['client_median_ms'] + (row['auth_step_us'] - step['anonymous']) / 1e3,
            anon['client_median_ms'])
        row['auth_step_vs_plain_oauth1'] = ratio(
            plain['client_median_ms'] + (row['auth_step_us'] - step['plain-oauth1']) / 1e3,
            plain['client_median_ms'])
    results['targets'] = {
        'plugin_oauth1_vs_plain_oauth1': {
            'ratio': results['plugin-oauth1']['median_vs_plain_oauth1'], 'target': 1.05},
        'plugin_oauth2_vs_anonymous': {
            'ratio': results['plugin-oauth2-owner-only']['median_vs_anonymous'],
            'target': 1.03},
    }
    for target in results['targets'].values():
        target['met'] = target['ratio'] <= target['target']
    table = Table(['mode', 'median ms', 'p95 ms', 'x anon (med/p95)', 'x plain-OAuth1 (med/p95)',
                   'wiki median ms', 'wiki p95 ms', 'client-wiki med ms', 'auth step us'])
    for mode in LATENCY_MODES:
        row = results[mode]
        table.add(mode, f"{row['client_median_ms']:.3f}", f"{row['client_p95_ms']:.3f}",
                  f"{row['median_vs_anonymous']:.3f} / {row['p95_vs_anonymous']:.3f}",
                  f"{row['median_vs_plain_oauth1']:.3f} / {row['p95_vs_plain_oauth1']:.3f}",
                  f"{row['server_median_ms']:.3f}", f"{row['server_p95_ms']:.3f}",
                  f"{row['client_minus_server_median_ms']:.3f}", f"{row['auth_step_us']:.1f}")
    targets = results['targets']
    table.print(
        f'2. Time per API request (action=query&meta=userinfo through pywikibot.data.api;'
        f' {per_round * rounds} per mode in {rounds} round(s), after {warmup} warm-up each)',
        'targets (median ratios): plugin OAuth 1.0a <= 1.05 x plain OAuth 1.0a: '
        f"{targets['plugin_oauth1_vs_plain_oauth1']['ratio']:.3f} "
        f"({'met' if targets['plugin_oauth1_vs_plain_oauth1']['met'] else 'NOT met'});"
        ' OAuth 2.0 <= 1.03 x anonymous: '
        f"{targets['plugin_oauth2_vs_anonymous']['ratio']:.3f} "
        f"({'met' if targets['plugin_oauth2_vs_anonymous']['met'] else 'NOT met'}).\n"
        'Bot side only (median minus the wiki median): plugin OAuth 1.0a / plain OAuth 1.0a '
        f"{results['plugin-oauth1']['client_side_vs_plain_oauth1']:.3f}, OAuth 2.0 / anonymous "
        f"{results['plugin-oauth2-owner-only']['client_side_vs_anonymous']:.3f}.\n"
        'Auth step alone (one process, interleaved, no network; put into the measured'
        ' medians): plugin OAuth 1.0a / plain OAuth 1.0a '
        f"{results['plugin-oauth1']['auth_step_vs_plain_oauth1']:.4f}, OAuth 2.0 / anonymous"
        f" {results['plugin-oauth2-owner-only']['auth_step_vs_anonymous']:.4f}.\n"
        "'wiki' columns: the test wiki's own time per request (app.watch(), in the"
        ' benchmark process), i.e. its OAuth verification and API work.')
    return results


# --- 3. Start-up ---------------------------------------------------------------------------

IMPORT_ENABLE = 'import pwb_oauth_ext; pwb_oauth_ext.enable()'


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    return env


def wall_times(argv: Sequence[str], runs: int, *, env: dict[str, str],
               cwd: str | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times


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


def lazy_modules_loaded(code_prefix: str, argv_prefix: Sequence[str], env: dict[str, str],
                        cwd: str | None = None) -> list[str]:
    code = (f'{code_prefix}\nimport sys\n'
            f'print(",".join(m for m in {LAZY_MODULES!r} if m in sys.modules))')
    out = subprocess.run([*argv_prefix, '-c', code], env=env, cwd=cwd, capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()
    return [m for m in (out[-1] if out else '').split(',') if m]


def bench_startup(wiki: RunningWiki, modes: Modes, quick: bool) -> dict[str, Any]:
    env = child_env()
    runs = 5 if quick else 20
    pwb_runs = 2 if quick else 5
    results: dict[str, Any] = {}
    repeats = 3 if quick else 7
    for code in (IMPORT_ENABLE, 'import pywikibot; ' + IMPORT_ENABLE):   # warm-up: bytecode
        subprocess.run([sys.executable, '-c', code], env=dict(env, PYWIKIBOT_NO_USER_CONFIG='2'),
                       check=True, capture_output=True)
    samples = [importtime_us(IMPORT_ENABLE, env) for _ in range(repeats)]
    results['importtime_us_median'] = median([total for total, _, _ in samples])
    results['importtime_own_us_median'] = median([own for _, own, _ in samples])
    results['importtime_modules'] = samples[-1][2]
    # What it adds to a Pywikibot process, where typing, logging, pathlib, requests...
    # are already imported (enable() then installs at once instead of waiting).
    pwb_env = dict(env, PYWIKIBOT_NO_USER_CONFIG='2')
    after_pwb = [importtime_us('import pywikibot; ' + IMPORT_ENABLE, pwb_env)
                 for _ in range(repeats)]
    results['importtime_after_pywikibot_us_median'] = median([t for t, _, _ in after_pwb])
    bare: list[float] = []
    plugin: list[float] = []
    for _ in range(runs):   # interleaved, so load changes hit both alike
        bare += wall_times([sys.executable, '-c', 'pass'], 1, env=env)
        plugin += wall_times([sys.executable, '-c', IMPORT_ENABLE], 1, env=env)
    results['python_pass_ms_median'] = median(bare) * 1e3
    results['import_enable_ms_median'] = median(plugin) * 1e3
    results['import_enable_minus_pass_ms'] = (median(plugin) - median(bare)) * 1e3
    results['import_enable_target_ms'] = 10.0
    results['lazy_after_import_enable'] = lazy_modules_loaded(IMPORT_ENABLE, [sys.executable],
                                                               env)
    # Pywikibot with and without the plugin in user-config.py (an OAuth 1.0a and an OAuth
    # 2.0 entry configured, no credential used).
    with_plugin = modes.directory('plugin-oauth2-owner-only', label='startup-plugin')
    config = with_plugin / 'user-config.py'
    config.write_text(config.read_text() + modes.oauth1_tuple_line().replace(
        f'[{wiki.host!r}]', "['other.example.org']") + '\n')
    without_plugin = modes.directory('plain-oauth1', label='startup-plain')
    # What the `pwb` console script runs (`python -m pywikibot.scripts.wrapper` wants a
    # source checkout's setup.py).
    version = ['-c', 'import sys; from pywikibot.scripts.wrapper import run;'
               ' sys.argv[0] = "pwb"; sys.exit(run())', 'version']
    for directory in (with_plugin, without_plugin):   # first run writes caches; not timed
        check(run_pywikibot(version, directory), 'pwb version')
    times: dict[str, list[float]] = {'with': [], 'without': []}
    for _ in range(pwb_runs):
        for label, directory in (('with', with_plugin), ('without', without_plugin)):
            started = time.perf_counter()
            check(run_pywikibot(version, directory), 'pwb version')
            times[label].append(time.perf_counter() - started)
    results['pwb_version_ms_median_with_plugin'] = median(times['with']) * 1e3
    results['pwb_version_ms_median_without_plugin'] = median(times['without']) * 1e3
    results['pwb_version_ratio'] = ratio(median(times['with']), median(times['without']))
    pwb_code = 'import pywikibot'
    results['lazy_after_pywikibot_import_with_plugin'] = lazy_modules_loaded(
        pwb_code, [sys.executable], pywikibot_environment(with_plugin), str(with_plugin))
    results['lazy_after_pywikibot_import_without_plugin'] = lazy_modules_loaded(
        pwb_code, [sys.executable], pywikibot_environment(without_plugin), str(without_plugin))

    table = Table(['measure', 'value', 'target / note'])
    table.add('import + enable(), -X importtime cumulative, bare python',
              f"{results['importtime_us_median'] / 1000:.2f} ms",
              '<= 10 ms: ' + ('met' if results['importtime_us_median'] <= 10000 else 'NOT met')
              + f"; own modules (self): {results['importtime_own_us_median'] / 1000:.2f} ms")
    after_pwb_us = results['importtime_after_pywikibot_us_median']
    table.add('import + enable(), -X importtime cumulative, after import pywikibot',
              f'{after_pwb_us / 1000:.2f} ms',
              '<= 10 ms: ' + ('met' if after_pwb_us <= 10000 else 'NOT met'))
    table.add(f'import + enable(), wall minus `python -c pass` (median of {runs})',
              f"{results['import_enable_minus_pass_ms']:.2f} ms",
              f"python -c pass: {results['python_pass_ms_median']:.1f} ms")
    table.add(f'pwb version, plugin in user-config (median of {pwb_runs})',
              f"{results['pwb_version_ms_median_with_plugin']:.0f} ms",
              f"x{results['pwb_version_ratio']:.3f} of without")
    table.add(f'pwb version, no plugin (median of {pwb_runs})',
              f"{results['pwb_version_ms_median_without_plugin']:.0f} ms", '')
    table.add('lazy modules loaded after import + enable()',
              ', '.join(results['lazy_after_import_enable']) or 'none', 'target: none')
    table.add('... after `import pywikibot`, plugin enabled',
              ', '.join(results['lazy_after_pywikibot_import_with_plugin']) or 'none',
              'Pywikibot imports requests_oauthlib itself')
    table.add('... after `import pywikibot`, no plugin',
              ', '.join(results['lazy_after_pywikibot_import_without_plugin']) or 'none', '')
    table.print('3. Start-up cost', 'modules checked: ' + ', '.join(LAZY_MODULES))
    return results


# --- 4. Host matching -----------------------------------------------------------------------

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


def bench_hosts(wiki: RunningWiki, modes: Modes, quick: bool) -> dict[str, Any]:
    from pwb_oauth_ext.network.hosts import HostTable

    del wiki, modes
    distinct = 200 if quick else 1000
    repeats = 5 if quick else 15
    sizes = (10, 10_000)
    tables = {size: HostTable(host_entries(size)) for size in sizes}
    cases = {labels: host_cases(labels, distinct) for labels in (2, 4, 8)}
    for size, table in tables.items():   # the workload is what it says it is
        for labels, by_case in cases.items():
            for case, hosts in by_case.items():
                found = table.lookup(hosts[-1], None, None) is not None
                if found != (case != 'miss'):
                    raise RuntimeError(f'host table {size}: {case} for {labels} labels')
    rates: dict[tuple[int, int, str, bool], list[float]] = {}
    # Sizes alternate inside each repeat, so load changes on the machine hit both alike.
    for _ in range(repeats):
        for labels, by_case in cases.items():
            for case, hosts in by_case.items():
                for remembered in (False, True):
                    for size in sizes:
                        rates.setdefault((size, labels, case, remembered), []).append(
                            lookups_per_second(tables[size], hosts, remembered))
    results: dict[str, Any] = {'repeats': repeats, 'hosts_per_pass': distinct}
    for (size, labels, case, remembered), values in rates.items():
        results[f'{size}/{labels}/{case}/{"remembered" if remembered else "new"}'] = {
            'keys': size, 'labels': labels, 'case': case, 'remembered': remembered,
            'lookups_per_s_best': max(values), 'lookups_per_s_median': median(values)}

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
    out.print(f'4. HostTable lookups per second (best of {repeats} passes over {distinct} hosts;'
              ' "new": memo cleared before each lookup, "remembered": memo hit)',
              'the cost should follow the label count (and hit/miss), not the number of keys:'
              ' 10k/10 near 1.')
    return results


# --- 5. Refresh contention -----------------------------------------------------------------

CONTENTION_CHILD = textwrap.dedent('''
    import sys
    import pywikibot
    site = pywikibot.Site()
    page = pywikibot.Page(site, sys.argv[1])
    page.text = 'Saved under contention: ' + sys.argv[1]
    page.save(summary='benchmark')
    print('saved')
''')


def expire_stored_grant(directory: Path, host: str, client_id: str) -> None:
    from pwb_oauth_ext.protocol.store import TokenStore

    store = TokenStore(directory / STORE_FILE)
    record = store.get(host, client_id, ACCOUNT)
    if record is None:
        raise RuntimeError('no stored grant to expire')
    record = dict(record, expires_at=time.time() - 3600)
    store.put(host, client_id, ACCOUNT, record)


def bench_contention(wiki: RunningWiki, modes: Modes, quick: bool) -> dict[str, Any]:
    counts = (2, 8) if quick else (2, 8, 32)
    directory, client = modes.authorization_code_directory(label='contention')
    # Fill the apicache with one run on the valid token, so every run below starts warm.
    check(run_pywikibot(['-c', CONTENTION_CHILD, 'Contention warm-up'], directory),
          'contention warm-up')
    token_requests = wiki.app.oauth2.token_requests
    env = pywikibot_environment(directory)
    results: dict[str, Any] = {}
    for count in counts:
        expire_stored_grant(directory, wiki.host, client.client_id)
        refreshes_before = token_requests['refresh_token']
        edits_before = len(wiki.app.requests_for('edit'))
        started = time.perf_counter()
        children = [subprocess.Popen([sys.executable, '-c', CONTENTION_CHILD,
                                      f'Contention {count} {i}'],
                                     cwd=str(directory), env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                    for i in range(count)]
        outputs = [child.communicate(timeout=600) for child in children]
        elapsed = time.perf_counter() - started
        saved = sum(1 for child, (out, _err) in zip(children, outputs)
                    if child.returncode == 0 and 'saved' in out)
        failures = [err[-500:] for child, (_out, err) in zip(children, outputs)
                    if child.returncode != 0]
        refreshes = token_requests['refresh_token'] - refreshes_before
        results[str(count)] = {
            'processes': count, 'refresh_requests': refreshes, 'saved': saved,
            'edit_requests': len(wiki.app.requests_for('edit')) - edits_before,
            'wall_s': elapsed, 'failures': failures[:2],
        }
    table = Table(['processes', 'refresh requests', 'target', 'saves ok', 'wall time'])
    for row in results.values():
        table.add(row['processes'], row['refresh_requests'],
                  '1: ' + ('met' if row['refresh_requests'] == 1 else 'NOT met'),
                  f"{row['saved']}/{row['processes']}", f"{row['wall_s']:.2f} s")
    table.print('5. Refresh contention: N processes, one expired authorization-code grant,'
                ' each Site() + one Page.save()',
                'the stored access token expired; every process must save, exactly one'
                ' refresh request may reach the wiki.')
    return results


# --- main ------------------------------------------------------------------------------------

BENCHES: dict[str, Callable[[RunningWiki, Modes, bool], dict[str, Any]]] = {
    'requests': bench_requests,
    'latency': bench_latency,
    'startup': bench_startup,
    'hosts': bench_hosts,
    'contention': bench_contention,
    'fleet': lambda wiki, modes, quick: bench_fleet(wiki, modes.workdir, quick, LATENCY_CHILD,
                                                    check),
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer iterations: a smoke test of every section')
    parser.add_argument('--json', default='bench-results.json', type=Path,
                        help='where to write the results (default: %(default)s)')
    parser.add_argument('--only', nargs='+', choices=SECTIONS, default=list(SECTIONS),
                        help='run only these sections')
    args = parser.parse_args(argv)
    os.environ.pop('PYWIKIBOT_NO_USER_CONFIG', None)   # tox sets it; the children need theirs
    started = time.perf_counter()
    results: dict[str, Any] = {'environment': environment_info(args.quick)}
    with tempfile.TemporaryDirectory(prefix='pwb-oauth-bench-') as workdir, \
            run_test_wiki() as wiki:
        # Start-up is timed as users see it, with bytecode cached (tox sets
        # PYTHONDONTWRITEBYTECODE, which would time compiling instead); the cache goes to
        # the work dir, not the source tree. Every timing below follows a warm-up run.
        os.environ.pop('PYTHONDONTWRITEBYTECODE', None)
        os.environ['PYTHONPYCACHEPREFIX'] = str(Path(workdir) / 'pycache')
        wiki.app.add_bot(ACCOUNT)
        modes = Modes(wiki, Path(workdir))
        for name in args.only:
            section_started = time.perf_counter()
            results[name] = BENCHES[name](wiki, modes, args.quick)
            results[name]['section_seconds'] = time.perf_counter() - section_started
    results['total_seconds'] = time.perf_counter() - started
    args.json.write_text(json.dumps(results, indent=2, sort_keys=True) + '\n', encoding='utf-8')
    print(f'\nResults written to {args.json} ({results["total_seconds"]:.0f} s in all).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
