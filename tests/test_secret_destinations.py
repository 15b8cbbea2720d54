"""Secrets reach only the host requests really connects to, and never through a redirect.

Real Pywikibot in a subprocess; capture servers on other loopback addresses
(127.0.0.2, 127.0.0.3, see tests/capture.py) record what arrives where it must not.
Issue #10, items 1, 3, 4, 5, 6, 7 and 12.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from capture import CaptureServer, fixed, redirect
from conftest import PwbDirFactory, RunPwb

from pwb_oauth_ext.testwiki.server import RunningWiki

PRINT_ERROR = '''
import pywikibot
try:
    site = pywikibot.Site()
    print('USER', site.user())
except Exception as exc:
    print('ERROR', type(exc).__name__, exc)
'''


def output(result: Any) -> str:
    return result.stdout + result.stderr


def client_credentials_line(wiki: RunningWiki, token_url: str) -> tuple[str, Any]:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    line = (f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
            f' client_secret={client.client_secret!r}, grant="client_credentials",'
            f' token_url={token_url!r})')
    return line, client


# --- 1. token requests do not follow redirects ----------------------------------------

@pytest.mark.parametrize('status', [307, 308, 302])
def test_token_endpoint_redirect_is_an_error_and_nothing_is_resent(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
        status: int) -> None:
    with CaptureServer('127.0.0.2') as trap, \
            CaptureServer('127.0.0.3', redirect('', status)) as endpoint:
        endpoint.answer = redirect(trap.url('/stolen'), status)
        line, client = client_credentials_line(wiki, endpoint.url('/token'))
        result = run_pwb(PRINT_ERROR, pwb_dir_factory([line]))
    text = output(result)
    assert trap.requests == []                        # nothing re-sent to the other host
    assert [r.path for r in endpoint.requests] == ['/token']  # and nothing twice
    assert 'ERROR' in result.stdout
    assert f'{endpoint.url("/token")} answered a token request with a redirect' in text
    assert f'(HTTP {status}) to 127.0.0.2' in text
    assert client.client_secret not in text


HANDSHAKE_POST = '''
import sys, pywikibot
from pwb_oauth_ext.integration import facade
pywikibot.Site()
for url in sys.argv[1:]:
    try:
        facade.post_without_auth(url, {'Authorization': 'OAuth oauth_signature="SIGNATURE"'})
        print('SENT')
    except Exception as exc:
        print('ERROR', exc)
'''


def test_handshake_and_profile_requests_do_not_follow_redirects(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
        oauth1_consumer: Any) -> None:
    """Special:OAuth/initiate, /token, /identify and the profile check all use this path."""
    from conftest import authenticate_line
    with CaptureServer('127.0.0.2') as trap, CaptureServer('127.0.0.3') as endpoint:
        endpoint.answer = redirect(trap.url('/stolen'), 307)
        pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
        result = run_pwb(HANDSHAKE_POST, pwb_dir, endpoint.url('/index.php'))
    assert trap.requests == []
    assert len(endpoint.requests) == 1
    assert 'redirect (HTTP 307) to 127.0.0.2' in result.stdout, output(result)


# --- 4. the host checked is the host connected to ------------------------------------

def test_https_or_loopback_check_reads_the_url_as_urllib3_does(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    """urlsplit reads 127.0.0.1 in ``http://127.2:PORT\\@127.0.0.1:1/``; urllib3 connects to
    127.2, which is 127.0.0.2 to the resolver but no loopback name to the check."""
    with CaptureServer('127.0.0.2') as trap:
        token_url = f'http://127.2:{trap.port}\\@127.0.0.1:1/token'
        line, client = client_credentials_line(wiki, token_url)
        result = run_pwb(PRINT_ERROR, pwb_dir_factory([line]))
    text = output(result)
    assert trap.requests == [], 'the client secret went to 127.2'
    assert 'Refusing to send a token request: http://127.2:' in text
    assert client.client_secret not in text


# --- 3. IDNA as requests encodes it ---------------------------------------------------

IDNA_CASES = [
    # key,                   the URL that must get it,   a look-alike that must not
    ('straße.test', 'http://straße.test/a', 'http://strasse.test/a'),
    ('ΣΊΣΥΦΟΣ.test', 'http://ΣΊΣΥΦΟΣ.test/a', 'http://σίσυφοσ.test/a'),   # final sigma
    ('क्\u200d.test', 'http://क्\u200d.test/a', 'http://क्.test/a'),          # ZWJ
]

FETCH_THROUGH_PROXY = '''
import json, sys, pywikibot
from pywikibot.comms import http
proxy = sys.argv[1]
for url in json.loads(sys.argv[2]):
    response = http.fetch(url, proxies={'http': proxy})
    print('STATUS', response.status_code)
'''


def test_unicode_keys_match_the_host_requests_connects_to(
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    """A forwarding proxy on 127.0.0.2 sees each request's real host and headers."""
    lines = [f'authenticate[{key!r}] = ("ck-{n}", "cs", "at-{n}", "as")'
             for n, (key, _good, _bad) in enumerate(IDNA_CASES)]
    urls = [url for _key, good, bad in IDNA_CASES for url in (good, bad)]
    with CaptureServer('127.0.0.2') as proxy:
        result = run_pwb(FETCH_THROUGH_PROXY, pwb_dir_factory(lines), proxy.url(),
                         json.dumps(urls))
    assert result.stdout.count('STATUS 200') == len(urls), output(result)
    received = {request.path: request.headers.get('Authorization') for request in proxy.requests}
    for n, (_key, good, bad) in enumerate(IDNA_CASES):
        import requests
        good_url, bad_url = (requests.Request('GET', u).prepare().url for u in (good, bad))
        assert f'oauth_consumer_key="ck-{n}"' in (received[good_url] or ''), good_url
        assert received[bad_url] is None, bad_url


# --- 5. logout stops everything of ours to that wiki --------------------------------

AFTER_LOGOUT = '''
import json, pywikibot
from pywikibot.comms import http
site = pywikibot.Site()
site.login()
url = site.base_url(site.apipath()) + '?action=query&meta=userinfo&format=json'

def fetched():
    return json.loads(http.fetch(url).text)['query']['userinfo'].get('name')

print('BEFORE', fetched())
site.logout()
print('AFTER', fetched())
site.login()
print('AGAIN', fetched())
'''


@pytest.mark.parametrize('entry', ['oauth1', 'bearer'])
def test_after_logout_a_fetch_without_site_is_anonymous_until_login(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
        oauth1_consumer: Any, entry: str) -> None:
    from conftest import oauth1_tuple
    if entry == 'oauth1':
        value = oauth1_tuple(oauth1_consumer)
    else:
        client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
        value = f'_oauth.OAuth2(access_token={client.owner_only_token!r})'
    result = run_pwb(AFTER_LOGOUT, pwb_dir_factory([f'authenticate[{wiki.host!r}] = {value}']))
    lines = [line for line in result.stdout.splitlines()
             if line.split(' ')[0] in ('BEFORE', 'AFTER', 'AGAIN')]
    assert lines == ['BEFORE BotUser', 'AFTER 127.0.0.1', 'AGAIN BotUser'], output(result)


# --- 6. a bare '*' is for the site's own host and port ---------------------------------

OTHER_PORT = '''
import sys, pywikibot
from pywikibot.comms import http
site = pywikibot.Site()
print('USER', site.user())
print('STATUS', http.request(site, sys.argv[1]).status_code)
'''


def test_star_entry_does_not_reach_another_port_of_the_wikis_host(
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb, oauth1_consumer: Any) -> None:
    from conftest import oauth1_tuple
    pwb_dir = pwb_dir_factory([f"authenticate['*'] = {oauth1_tuple(oauth1_consumer)}"])
    with CaptureServer('127.0.0.1') as other_port:
        result = run_pwb(OTHER_PORT, pwb_dir, other_port.url('/other'))
    assert 'USER BotUser' in result.stdout, output(result)  # the wiki's own port gets it
    assert 'STATUS 200' in result.stdout
    assert [r.path for r in other_port.requests] == ['/other']
    assert 'Authorization' not in other_port.requests[0].headers
    assert not other_port.received(oauth1_consumer.consumer_key)


# --- 7. control characters: refused by name, the value never shown --------------------

LOGGED = '''
import pywikibot
try:
    pywikibot.handle_args(['-log', '-debug'])
    pywikibot.Site().login()
    print('LOGGED IN')
except Exception as exc:
    print('ERROR', type(exc).__name__, exc)
'''


def _everything_written(result: Any, pwb_dir: Path) -> str:
    logs = ''.join(path.read_text(encoding='utf-8', errors='replace')
                   for path in pwb_dir.rglob('*') if path.is_file()
                   and path.name != 'user-config.py')
    return output(result) + logs


@pytest.mark.parametrize('where', ['env', 'file', 'inline'])
def test_secret_with_a_line_break_is_refused_by_name(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
        tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = 'FIRSTLINEofTOKEN', 'SECONDLINEofTOKEN'
    secret_file = tmp_path / 'token.txt'
    secret_file.write_text(f'{first}\n{second}\n', encoding='utf-8')
    secret_file.chmod(0o600)
    reference = {'env': "_oauth.env('PWB_TEST_TOKEN')",
                 'file': f'_oauth.file({str(secret_file)!r})',
                 'inline': repr(f'{first}\r\n{second}')}[where]
    monkeypatch.setenv('PWB_TEST_TOKEN', f'{first}\n{second}')
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                               f'access_token={reference})'])
    result = run_pwb(LOGGED, pwb_dir)
    text = _everything_written(result, pwb_dir)
    if where == 'inline':
        # Refused while user-config.py runs; Python's traceback quotes the user's own
        # line, our message does not repeat the value.
        message = [line for line in result.stderr.splitlines() if 'ConfigError:' in line][-1]
        assert 'access_token contains a control character' in message
        assert first not in message and second not in message
        return
    assert 'ERROR' in result.stdout, text
    assert 'control character' in result.stdout
    assert f"authenticate[{wiki.host!r}]" in result.stdout
    assert reference.replace('_oauth.', '') in result.stdout  # the reference is named
    assert first not in text and second not in text


def test_token_with_crlf_from_the_endpoint_is_refused(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    hostile = json.dumps({'access_token': 'TOKENSTART\r\nX-Injected: TOKENEND',
                          'token_type': 'Bearer', 'expires_in': 3600})
    with CaptureServer('127.0.0.2', fixed(200, hostile,
                                          Content_Type='application/json')) as endpoint:
        line, _client = client_credentials_line(wiki, endpoint.url('/token'))
        pwb_dir = pwb_dir_factory([line])
        result = run_pwb(LOGGED, pwb_dir)
    text = _everything_written(result, pwb_dir)
    assert 'access_token is missing or not a token' in result.stdout, text
    assert 'TOKENSTART' not in text and 'TOKENEND' not in text
    assert not (pwb_dir / 'pwb-oauth-tokens.json').exists() or \
        'TOKENSTART' not in (pwb_dir / 'pwb-oauth-tokens.json').read_text()


# --- 12. an HTML page is not a request token ---------------------------------------------

INITIATE = '''
import sys, pywikibot
from pwb_oauth_ext.integration import facade
from pwb_oauth_ext.protocol import oauth1 as handshake
pywikibot.Site()
try:
    pair = handshake.initiate(facade.post_without_auth, sys.argv[1], 'ck', 'cs')
    print('TOKEN', pair.key)
except Exception as exc:
    print('ERROR', exc)
'''

HTML_WITH_TOKENS = ('<!DOCTYPE html><html><body><p>Proxy error; retry:'
                    ' <a href="/x?a=1&oauth_token=HTMLTOKEN&oauth_token_secret=HTMLSECRET">'
                    'here</a></p></body></html>')


def test_an_html_page_with_token_fields_is_not_a_request_token(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
        oauth1_consumer: Any) -> None:
    from conftest import authenticate_line
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    with CaptureServer('127.0.0.2', fixed(200, HTML_WITH_TOKENS,
                                          Content_Type='text/html')) as index:
        result = run_pwb(INITIATE, pwb_dir, index.url('/index.php'))
    assert 'ERROR Unexpected answer to the request token (HTTP 200, text/html)' in \
        result.stdout, output(result)
    assert 'HTMLTOKEN' not in output(result)
    assert len(index.requests) == 1


def test_check_json_names_the_reference_of_a_two_line_secret(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PWB_TEST_TOKEN', 'FIRSTLINEofTOKEN\r\nSECONDLINEofTOKEN')
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                              "access_token=_oauth.env('PWB_TEST_TOKEN'))"])
    result = run_pwb(None, pwb_dir, '-m', 'pwb_oauth_ext.commands.main', 'check', '--json')
    assert result.returncode == 1, output(result)
    [site] = json.loads(result.stdout)['sites']
    assert any("env('PWB_TEST_TOKEN') gives a value with a control character" in error
               for error in site['errors']), site['errors']
    assert 'LINEofTOKEN' not in output(result)
