"""Section ``latency``: the time per API request in each login mode, and the auth step alone.

End to end: ``action=query&meta=userinfo`` through ``pywikibot.data.api`` in a child per
mode, the modes alternating round by round; the wiki's own time per request comes from
``app.watch()``. The auth step: what each mode adds to a prepared request, the four ways
interleaved call by call in one process, so that machine noise hits them alike.
"""
from __future__ import annotations

import json
import textwrap
from typing import Any

from benchmarks.helpers import (
    ACCOUNT,
    ENABLE_LINES,
    EXTRA_CONFIG,
    Bench,
    Report,
    Table,
    check,
    last_json_line,
    median,
    met,
    p95,
    ratio,
    request_times,
)
from pwb_oauth_ext.testwiki.pywikibot_env import run_pywikibot, write_pywikibot_dir

MODES = ('anonymous', 'plain-oauth1', 'plugin-oauth1', 'plugin-oauth2-owner-only')
WARMUP = 20
TARGETS = {'plugin_oauth1_vs_plain_oauth1': ('plugin-oauth1', 'median_vs_plain_oauth1', 1.05),
           'plugin_oauth2_vs_anonymous': ('plugin-oauth2-owner-only', 'median_vs_anonymous',
                                          1.03)}

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


def auth_step_us(bench: Bench, count: int) -> dict[str, float]:
    """Median microseconds of each mode's auth step (see AUTH_STEP_CHILD)."""
    wiki, logins = bench.wiki, bench.logins
    plain = list(logins.oauth1_tuple())
    oauth1_host = f'localhost:{wiki.port}'  # a second key, so both entries live in one config
    token = logins.owner_only.owner_only_token
    directory = write_pywikibot_dir(
        logins.new_path('auth-step'), wiki, username=ACCOUNT, extra_lines=EXTRA_CONFIG,
        authenticate_lines=[*ENABLE_LINES,
                            f'authenticate[{wiki.host!r}] = _oauth.OAuth2(access_token={token!r})',
                            logins.oauth1_tuple_line(oauth1_host)])
    out = check(run_pywikibot(['-c', AUTH_STEP_CHILD, str(count), oauth1_host, wiki.host,
                               json.dumps(plain)], directory), 'auth step')
    return {mode: median(values) * 1e6 for mode, values in last_json_line(out).items()}


def end_to_end(bench: Bench, rounds: int, per_round: int
               ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per request by mode: as the bot saw them, and as the wiki spent them."""
    directories = {mode: bench.logins.directory(mode, label=f'latency-{mode}')
                   for mode in MODES}
    client: dict[str, list[float]] = {mode: [] for mode in MODES}
    server: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_number in range(rounds):   # modes alternate, so drift hits all alike
        order = MODES if round_number % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            with bench.wiki.app.watch() as exchanges:
                client[mode] += request_times(directories[mode], per_round, warmup=WARMUP,
                                              login=mode != 'anonymous',
                                              what=f'latency {mode}')
            server[mode] += [exchange.seconds for exchange in exchanges[-per_round:]]
    return client, server


def mode_row(client: list[float], server: list[float], step_us: float) -> dict[str, Any]:
    return {'client_median_ms': median(client) * 1e3, 'client_p95_ms': p95(client) * 1e3,
            'server_median_ms': median(server) * 1e3, 'server_p95_ms': p95(server) * 1e3,
            'auth_step_us': step_us, 'n': len(client),
            # Client cost with the wiki's own time taken out: what the bot side adds.
            'client_minus_server_median_ms': (median(client) - median(server)) * 1e3}


def add_ratios(row: dict[str, Any], base: dict[str, Any], name: str,
               step: dict[str, float], base_mode: str) -> None:
    """``row``'s ratios to ``base`` (the anonymous or plain OAuth 1.0a mode), as ``*_vs_name``."""
    row[f'median_vs_{name}'] = ratio(row['client_median_ms'], base['client_median_ms'])
    row[f'p95_vs_{name}'] = ratio(row['client_p95_ms'], base['client_p95_ms'])
    row[f'client_side_vs_{name}'] = ratio(row['client_minus_server_median_ms'],
                                          base['client_minus_server_median_ms'])
    # The base's measured median with this mode's auth step in place of the base's own:
    # a ratio free of network and server noise.
    row[f'auth_step_vs_{name}'] = ratio(
        base['client_median_ms'] + (row['auth_step_us'] - step[base_mode]) / 1e3,
        base['client_median_ms'])


def summarize(client: dict[str, list[float]], server: dict[str, list[float]],
              step: dict[str, float]) -> dict[str, Any]:
    """Every mode's row with its ratios, and the targets."""
    results: dict[str, Any] = {mode: mode_row(client[mode], server[mode], step[mode])
                               for mode in MODES}
    for mode in MODES:
        add_ratios(results[mode], results['anonymous'], 'anonymous', step, 'anonymous')
        add_ratios(results[mode], results['plain-oauth1'], 'plain_oauth1', step,
                   'plain-oauth1')
    results['targets'] = {}
    for name, (mode, field, target) in TARGETS.items():
        value = results[mode][field]
        results['targets'][name] = {'ratio': value, 'target': target, 'met': value <= target}
    return results


def note(results: dict[str, Any]) -> str:
    targets = results['targets']
    oauth1, oauth2 = results['plugin-oauth1'], results['plugin-oauth2-owner-only']
    return (
        'targets (median ratios): plugin OAuth 1.0a <= 1.05 x plain OAuth 1.0a: '
        f"{targets['plugin_oauth1_vs_plain_oauth1']['ratio']:.3f} "
        f"({met(targets['plugin_oauth1_vs_plain_oauth1']['met'])});"
        ' OAuth 2.0 <= 1.03 x anonymous: '
        f"{targets['plugin_oauth2_vs_anonymous']['ratio']:.3f} "
        f"({met(targets['plugin_oauth2_vs_anonymous']['met'])}).\n"
        'Bot side only (median minus the wiki median): plugin OAuth 1.0a / plain OAuth 1.0a '
        f"{oauth1['client_side_vs_plain_oauth1']:.3f}, OAuth 2.0 / anonymous "
        f"{oauth2['client_side_vs_anonymous']:.3f}.\n"
        'Auth step alone (one process, interleaved, no network; put into the measured'
        ' medians): plugin OAuth 1.0a / plain OAuth 1.0a '
        f"{oauth1['auth_step_vs_plain_oauth1']:.4f}, OAuth 2.0 / anonymous"
        f" {oauth2['auth_step_vs_anonymous']:.4f}.\n"
        "'wiki' columns: the test wiki's own time per request (app.watch(), in the"
        ' benchmark process), i.e. its OAuth verification and API work.')


def table(results: dict[str, Any]) -> Table:
    out = Table(['mode', 'median ms', 'p95 ms', 'x anon (med/p95)', 'x plain-OAuth1 (med/p95)',
                 'wiki median ms', 'wiki p95 ms', 'client-wiki med ms', 'auth step us'])
    for mode in MODES:
        row = results[mode]
        out.add(mode, f"{row['client_median_ms']:.3f}", f"{row['client_p95_ms']:.3f}",
                f"{row['median_vs_anonymous']:.3f} / {row['p95_vs_anonymous']:.3f}",
                f"{row['median_vs_plain_oauth1']:.3f} / {row['p95_vs_plain_oauth1']:.3f}",
                f"{row['server_median_ms']:.3f}", f"{row['server_p95_ms']:.3f}",
                f"{row['client_minus_server_median_ms']:.3f}", f"{row['auth_step_us']:.1f}")
    return out


def run(bench: Bench) -> Report:
    total = 200 if bench.quick else 2000
    rounds = 1 if bench.quick else 4
    per_round = total // rounds
    client, server = end_to_end(bench, rounds, per_round)
    step = auth_step_us(bench, 2000 if bench.quick else 20000)
    results = {'requests_per_mode': per_round * rounds, 'rounds': rounds,
               **summarize(client, server, step)}
    return Report('Time per API request (action=query&meta=userinfo through'
                  f' pywikibot.data.api; {per_round * rounds} per mode in {rounds} round(s),'
                  f' after {WARMUP} warm-up each)', table(results), note(results), results)
