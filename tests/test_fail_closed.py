"""Secrets only where they belong: the OAuth 1.0a handshake over plain http, and a broken
``authenticate`` table for requests without a site (issue 20, items 5 and 6).

Real Pywikibot in subprocesses; capture servers on 127.0.0.2/127.0.0.3 record what must
not arrive (``tests/capture.py``).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from capture import CaptureServer, fixed
from conftest import PwbDirFactory, RunPwb, oauth1_tuple, result_of

from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment
from pwb_oauth_ext.testwiki.server import RunningWiki

# --- 5. the OAuth 1.0a handshake: https, or plain http to loopback only ---------------------


def test_oauth1_authorize_over_plain_http_to_a_remote_wiki_stores_nothing(
        tmp_path: Path) -> None:
    """``http://wiki3.test`` reaches a capture server on 127.0.0.3 through a forwarding
    proxy: the name is not loopback, so the handshake must not start at all."""
    pwb_dir = tmp_path / 'pwb'
    pwb_dir.mkdir(mode=0o700)
    config = pwb_dir / 'user-config.py'
    config.write_text('\n'.join([
        "family_files['wiki3'] = 'http://wiki3.test/w/api.php'",
        "family = 'wiki3'", "mylang = 'wiki3'", 'password_file = None',
        "usernames['wiki3']['wiki3'] = 'BotUser'",
        'import pwb_oauth_ext as _oauth', '_oauth.enable()',
        "authenticate['wiki3.test'] = _oauth.OAuth1('consumer-key-3', 'consumer-secret-3')",
    ]) + '\n', encoding='utf-8')
    config.chmod(0o600)
    # What Special:OAuth/initiate and /token answer: the old code went on to store it.
    token_answer = fixed(200, b'oauth_token=rt3&oauth_token_secret=rs3',
                         Content_Type='text/plain')
    with CaptureServer('127.0.0.3', token_answer) as wiki3:
        env = {**pywikibot_environment(pwb_dir), 'HTTP_PROXY': wiki3.url(),
               'http_proxy': wiki3.url()}
        result = subprocess.run(
            [sys.executable, '-m', 'pwb_oauth_ext.commands.main', 'authorize',
             '-site:wiki3:wiki3', '--no-browser'], cwd=str(pwb_dir), env=env,
            input='verifier-3\n', capture_output=True, text=True, encoding='utf-8',
            timeout=120, check=False)
        handshake = [request.path for request in wiki3.requests if 'OAuth' in request.path]
    output = result.stdout + result.stderr
    assert handshake == [], output
    assert result.returncode == 1, output
    assert 'Error: Refusing to send the OAuth 1.0a handshake request for the request token:' \
        ' http://wiki3.test is not https' in output
    assert 'Authorized' not in output and 'Traceback' not in output
    assert not (pwb_dir / 'pwb-oauth-tokens.json').exists()


# --- 6. a table that cannot be built stops requests without a site too ----------------------

FETCH_WITHOUT_SITE = '''
import json, sys
from pywikibot.comms import http
outcome = {}
for url in sys.argv[1:]:
    try:
        outcome[url] = 'sent: HTTP %d' % http.fetch(url).status_code
    except Exception as exc:
        outcome[url] = '%s: %s' % (type(exc).__name__, exc)
print('RESULT ' + json.dumps(outcome))
'''


def test_a_broken_entry_stops_every_request_without_a_site(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer, pwb_dir_factory: PwbDirFactory,
        run_pwb: RunPwb) -> None:
    with CaptureServer('127.0.0.2') as broken_host, CaptureServer('127.0.0.3') as other:
        pwb_dir = pwb_dir_factory([
            f"authenticate['{broken_host.netloc}'] = ('user', 'password', 'extra')",
            f"authenticate['{wiki.host}'] = {oauth1_tuple(oauth1_consumer)}"])
        urls = [broken_host.url('/w/api.php'), wiki.api_url + '?action=query&format=json',
                other.url('/anything')]
        with wiki.app.watch() as seen_by_wiki:
            outcome = result_of(run_pwb(FETCH_WITHOUT_SITE, pwb_dir, *urls))
        sent = broken_host.requests + other.requests
    assert sent == [] and list(seen_by_wiki) == [], outcome
    for url in urls:
        assert outcome[url].startswith('OAuthCredentialError: '), outcome
        assert f"authenticate['{broken_host.netloc}'] has 3 items" in outcome[url]
    assert 'password' not in json.dumps(outcome)
