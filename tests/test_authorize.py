"""``pwb-oauth authorize`` against the local test wiki, with real Pywikibot in a subprocess.

The subprocess runs the command; this test process plays the browser: it reads
the authorize URL from the command's output, approves it with a logged-in
session, and hands the redirect back (on stdin, or through the loopback
receiver). A second Pywikibot process then proves the stored token works.
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests
from conftest import RECORDED
from interactive import Interactive

from pwb_oauth_ext.errors import OAuthFlowError
from pwb_oauth_ext.protocol.oauth1 import (
    IdentityVerificationError,
    TokenPair,
    _token_pair,
    parse_verifier,
    same_server,
    verify_identity,
)
from pwb_oauth_ext.testwiki.browser import consent
from pwb_oauth_ext.testwiki.pywikibot_env import (
    pywikibot_environment,
    run_pywikibot,
    write_pywikibot_dir,
)
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

USER = 'HandshakeUser'
OAUTH1_CALLBACK = 'http://127.0.0.1:8765/oauth1/callback'

USE_TOKEN_SCRIPT = '''
import pywikibot
site = pywikibot.Site()
site.login()
print('USER', site.user())
page = pywikibot.Page(site, 'Sandbox')
page.text = 'saved with the authorized token'
page.save(summary='authorize test')
print('SAVED')
'''


# -- fixtures and helpers ---------------------------------------------------------------------

@pytest.fixture
def wiki() -> Iterator[RunningWiki]:
    with run_test_wiki() as running:
        running.app.add_bot(USER, groups=[])
        yield running


def reserved_port() -> int:
    """A port the kernel chose and keeps for the command's receiver alone.

    Binding port 0 and releasing it leaves a window in which any other process may get
    the same port. Here the port ends in TIME_WAIT after one connection (for 60 s):
    Linux then hands it to no ``bind(('127.0.0.1', 0))`` and no outgoing connection,
    while the receiver (SO_REUSEADDR, as every HTTP server) can still bind it.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection(('127.0.0.1', port)):
            accepted, _ = listener.accept()
            accepted.close()   # the accepting side closes first: it holds TIME_WAIT
    return port


def pywikibot_dir(path: Path, wiki: RunningWiki, entry: str) -> Path:
    return write_pywikibot_dir(path, wiki, username=USER, authenticate_lines=[
        'import pwb_oauth_ext as _oauth', '_oauth.enable()',
        f"authenticate['{wiki.host}'] = _oauth.{entry}"])


class Command(Interactive):
    """The authorize command running in a subprocess, read line by line."""

    def __init__(self, pwb_dir: Path, *options: str) -> None:
        super().__init__([sys.executable, '-m', 'pwb_oauth_ext.commands.main', 'authorize',
                          '-site:testwiki:testwiki', '--no-browser', *options],
                         pwb_dir, pywikibot_environment(pwb_dir))


def browser(wiki: RunningWiki, user: str = USER) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.cookies.set('testwiki_session', wiki.wiki.browser_login(user))
    return session


def use_token(pwb_dir: Path, wiki: RunningWiki) -> subprocess.CompletedProcess[str]:
    result = run_pywikibot(USE_TOKEN_SCRIPT, pwb_dir)
    return result


def stored(pwb_dir: Path) -> list[dict[str, Any]]:
    path = pwb_dir / 'pwb-oauth-tokens.json'
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding='utf-8'))
    return data['entries'] if isinstance(data, dict) else data


# -- OAuth 1.0a -----------------------------------------------------------------------------

@pytest.fixture
def consumer(wiki: RunningWiki) -> Any:
    wiki.app.add_bot('Owner')
    return wiki.app.register_oauth1_consumer('Owner', owner_only=False, callback=OAUTH1_CALLBACK)


def _oauth1_handshake_until_url(tmp_path: Path, wiki: RunningWiki, consumer: Any,
                                show: bool = False) -> tuple[Path, Command, str]:
    pwb_dir = pywikibot_dir(tmp_path / 'pwb', wiki,
                            f"OAuth1('{consumer.consumer_key}', '{consumer.consumer_secret}')")
    command = Command(pwb_dir, *(['--show'] if show else []))
    url = command.expect(r'(http://\S+Special%3AOAuth%2Fauthorize\S+)').group(1)
    return pwb_dir, command, url


@pytest.mark.parametrize('paste_whole_url', [False, True], ids=['verifier', 'whole-url'])
def test_oauth1_handshake_stores_a_token_pywikibot_then_uses(
        tmp_path: Path, wiki: RunningWiki, consumer: Any, paste_whole_url: bool) -> None:
    pwb_dir, command, url = _oauth1_handshake_until_url(tmp_path, wiki, consumer)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query['oauth_consumer_key'] == consumer.consumer_key
    callback = consent(wiki, USER, url)
    assert callback.startswith(OAUTH1_CALLBACK)
    verifier = dict(parse_qsl(urlsplit(callback).query))['oauth_verifier']
    command.answer(callback if paste_whole_url else verifier)
    status, output = command.finish()

    assert status == 0, output
    assert f'Authorized as {USER}; token stored in {pwb_dir / "pwb-oauth-tokens.json"}' in output
    entries = stored(pwb_dir)
    assert len(entries) == 1
    record = entries[0]['record']
    assert entries[0]['client_id'] == consumer.consumer_key
    assert entries[0]['account'] == USER
    assert (record['protocol'], record['identity']) == ('oauth1', USER)
    for secret in (consumer.consumer_secret, record['access_secret'], record['access_token']):
        assert secret not in output
    # The handshake and identify requests were POSTs to index.php with the title in the query.
    handshake = [(m, p, t) for m, p, t in wiki.wiki.request_log if t.startswith('Special:OAuth/')]
    assert [t for _, _, t in handshake if t != 'Special:OAuth/authorize'] == [
        'Special:OAuth/initiate', 'Special:OAuth/token', 'Special:OAuth/identify']

    result = use_token(pwb_dir, wiki)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [f'USER {USER}', 'SAVED']
    last = wiki.wiki.pages['Sandbox'].revisions[-1]
    assert (last.user, last.text) == (USER, 'saved with the authorized token')


@pytest.mark.parametrize('user_option', [True, False], ids=['-user', 'no-user'])
def test_oauth1_account_without_configured_username(tmp_path: Path, wiki: RunningWiki,
                                                    consumer: Any, user_option: bool) -> None:
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki, username=None, authenticate_lines=[
        'import pwb_oauth_ext as _oauth', '_oauth.enable()',
        f"authenticate['{wiki.host}'] = _oauth.OAuth1('{consumer.consumer_key}',"
        f" '{consumer.consumer_secret}')"])
    command = Command(pwb_dir, *([f'-user:{USER}'] if user_option else []))
    url = command.expect(r'(http://\S+Special%3AOAuth%2Fauthorize\S+)').group(1)
    command.answer(consent(wiki, USER, url))
    status, output = command.finish()
    assert status == 0, output
    assert [entry['account'] for entry in stored(pwb_dir)] == [USER]
    assert 'usernames[' not in output   # nothing left to configure
    # usernames stays unset: the grant's account becomes the site's user, and the bot saves.
    result = use_token(pwb_dir, wiki)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [f'USER {USER}', 'SAVED']


def test_oauth1_approved_by_another_user_is_not_stored(tmp_path: Path, wiki: RunningWiki,
                                                       consumer: Any) -> None:
    wiki.app.add_bot('OtherUser')
    pwb_dir, command, url = _oauth1_handshake_until_url(tmp_path, wiki, consumer)
    command.answer(consent(wiki, 'OtherUser', url))
    status, output = command.finish()
    assert status != 0
    assert f"approved by 'OtherUser', not by '{USER}'" in output
    assert stored(pwb_dir) == []


def test_oauth1_show_prints_the_access_secret(tmp_path: Path, wiki: RunningWiki,
                                              consumer: Any) -> None:
    pwb_dir, command, url = _oauth1_handshake_until_url(tmp_path, wiki, consumer, show=True)
    command.answer(consent(wiki, USER, url))
    status, output = command.finish()
    assert status == 0, output
    record = stored(pwb_dir)[0]['record']
    assert f"Access secret: {record['access_secret']}" in output
    assert consumer.consumer_secret not in output


def test_oauth1_bad_verifier_stores_nothing(tmp_path: Path, wiki: RunningWiki,
                                            consumer: Any) -> None:
    pwb_dir, command, url = _oauth1_handshake_until_url(tmp_path, wiki, consumer)
    consent(wiki, USER, url)
    command.answer('0123456789abcdef0123456789abcdef')
    status, output = command.finish()
    assert status != 0
    assert 'Error: The wiki refused the access token: The verification code provided was' \
        ' not valid.' in output
    assert 'Traceback' not in output + command.stderr()
    assert stored(pwb_dir) == []


def test_oauth1_url_of_another_request_is_refused(tmp_path: Path, wiki: RunningWiki,
                                                  consumer: Any) -> None:
    pwb_dir, command, url = _oauth1_handshake_until_url(tmp_path, wiki, consumer)
    consent(wiki, USER, url)
    command.answer(f'{OAUTH1_CALLBACK}?oauth_verifier=abc&oauth_token=someothertoken')
    status, output = command.finish()
    assert status != 0
    assert 'belongs to another authorization request' in output
    assert stored(pwb_dir) == []


def test_oauth1_owner_only_consumer_needs_no_handshake(tmp_path: Path,
                                                       wiki: RunningWiki) -> None:
    owned = wiki.app.register_oauth1_consumer(USER, owner_only=True)
    pwb_dir = pywikibot_dir(tmp_path / 'pwb', wiki,
                            f"OAuth1('{owned.consumer_key}', '{owned.consumer_secret}', "
                            f"'{owned.access_token}', '{owned.access_secret}')")
    command = Command(pwb_dir)
    status, output = command.finish()
    assert status != 0
    assert 'already has an access token' in output
    assert 'nothing to authorize' in output
    assert [t for _, _, t in wiki.wiki.request_log if t.startswith('Special:OAuth')] == []


def test_no_entry_for_the_site(tmp_path: Path, wiki: RunningWiki) -> None:
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki, username=USER, authenticate_lines=[
        'import pwb_oauth_ext as _oauth', '_oauth.enable()'])
    status, output = Command(pwb_dir).finish()
    assert status != 0
    assert output.startswith('Error: No OAuth entry in config.authenticate applies to')


def test_oauth1_without_stored_token_tells_to_authorize(tmp_path: Path, wiki: RunningWiki,
                                                        consumer: Any) -> None:
    pwb_dir = pywikibot_dir(tmp_path / 'pwb', wiki,
                            f"OAuth1('{consumer.consumer_key}', '{consumer.consumer_secret}')")
    result = use_token(pwb_dir, wiki)
    assert result.returncode != 0
    assert f'run: pwb-oauth authorize -site:testwiki:testwiki -user:{USER}' in result.stderr
    assert consumer.consumer_secret not in result.stdout + result.stderr


# -- identify JWT verification ----------------------------------------------------------------

SERVER = 'http://127.0.0.1:8080'
KEY = 'c0nsumerkey'
SECRET = 'c0nsumersecret-of-at-least-32-bytes-length'


def _identify_jwt(secret: str = SECRET, **changes: Any) -> str:
    now = int(time.time())
    claims = {'iss': SERVER, 'aud': KEY, 'iat': now, 'exp': now + 100, 'sub': '4',
              'username': USER, 'nonce': 'n0nce'}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret,
                      algorithm='HS256')


def _verify(token: str, server: str = SERVER) -> dict[str, Any]:
    return verify_identity(token, consumer_key=KEY, consumer_secret=SECRET, server=server,
                           nonce='n0nce')


def test_identify_jwt_accepted() -> None:
    assert _verify(_identify_jwt())['username'] == USER


def test_identify_jwt_issuer_compared_loosely() -> None:
    assert _verify(_identify_jwt(iss='https://127.0.0.1:8080'))['username'] == USER
    assert _verify(_identify_jwt(iss='https://Wiki.Example.org'),
                   server='http://wiki.example.org:80')['username'] == USER


def test_identify_jwt_tampered() -> None:
    token = _identify_jwt()
    header, _payload, signature = token.split('.')
    forged = _identify_jwt(username='Admin').split('.')[1]
    with pytest.raises(IdentityVerificationError, match='bad signature'):
        _verify(f'{header}.{forged}.{signature}')
    with pytest.raises(IdentityVerificationError, match='bad signature'):
        _verify(_identify_jwt(secret='another-secret-of-at-least-32-bytes-length'))


#: Claims whose value is ``(NOW, seconds)`` are dated when the test runs, not when
#: pytest collects it (30 s of leeway would let "in the future" pass after ~90 s).
NOW = object()


@pytest.mark.parametrize(('changes', 'message'), [
    ({'aud': 'someoneelse'}, 'issued for another consumer'),
    ({'exp': (NOW, -60), 'iat': (NOW, -160)}, 'has expired'),
    ({'iat': (NOW, 120), 'exp': (NOW, 220)}, 'in the future'),
    ({'iss': 'http://127.0.0.1:8081'}, 'not by this wiki'),
    ({'iss': 'http://evil.example'}, 'not by this wiki'),
    ({'nonce': 'other'}, 'nonce mismatch'),
    ({'nonce': None}, 'nonce mismatch'),
    ({'username': None}, "lacks the 'username' claim"),
])
def test_identify_jwt_refused(changes: dict[str, Any], message: str) -> None:
    now = int(time.time())
    changes = {name: now + value[1] if isinstance(value, tuple) and value[0] is NOW else value
               for name, value in changes.items()}
    with pytest.raises(IdentityVerificationError, match=message) as info:
        _verify(_identify_jwt(**changes))
    assert SECRET not in str(info.value)


def test_identify_jwt_small_clock_skew_is_tolerated() -> None:
    now = int(time.time())
    assert _verify(_identify_jwt(exp=now - 10, iat=now - 110))['username'] == USER


def test_same_server() -> None:
    assert same_server('https://en.wikipedia.org', 'https://en.wikipedia.org:443')
    assert not same_server('https://en.wikipedia.org', 'https://de.wikipedia.org')
    assert not same_server('', 'https://de.wikipedia.org')


@pytest.mark.parametrize(('answer', 'expected'), [
    (' abc123 \n', 'abc123'),
    ('http://127.0.0.1:8765/cb?oauth_verifier=v1&oauth_token=rt', 'v1'),
    ('oauth_verifier=v2&oauth_token=rt', 'v2'),
])
def test_parse_verifier(answer: str, expected: str) -> None:
    assert parse_verifier(answer, 'rt') == expected


@pytest.mark.parametrize('answer', ['', 'http://127.0.0.1:8765/cb?oauth_token=rt', 'a b'])
def test_parse_verifier_refuses(answer: str) -> None:
    with pytest.raises(OAuthFlowError):
        parse_verifier(answer, 'rt')




class _Answer:
    def __init__(self, body: Any) -> None:
        self.status_code = 200
        self.headers = {'Content-Type': 'text/plain;charset=UTF-8'}
        self.text = body if isinstance(body, str) else json.dumps(body)


def _recorded_bodies(name: str) -> list[Any]:
    path = RECORDED / name
    if not path.is_file():
        pytest.skip(f'recorded data {name} not available')
    data = json.loads(path.read_text(encoding='utf-8'))
    return [exchange['response']['body'] for exchange in data.get('exchanges') or [data]]


@pytest.mark.parametrize(('name', 'message'), [
    ('oauth1-initiate-error-owner-only-consumer.json',
     'The wiki refused the request token: "AcceptanceOwnerOnlyOAuth1" is an owner-only'
     ' Connected App. To fetch the access token, see [[Special:OAuthConsumerRegistration/'
     'update/<consumer_key>]]. Consumer is owner-only, E010'),
    ('oauth1-initiate-error-owner-only-consumer-format-json.json',
     'The wiki refused the request token: "AcceptanceOwnerOnlyOAuth1" is an owner-only'
     ' Connected App. To fetch the access token, see [[Special:OAuthConsumerRegistration/'
     'update/<consumer_key>]]. Consumer is owner-only, E010'
     ' (mwoauthserver-consumer-owner-only)'),
    ('oauth1-token-error-request-token-reused.json',
     'The wiki refused the request token: This request has already been completed and'
     ' cannot be resubmitted. Go back to the application and try to connect your account'
     ' again, or contact the application author. OAuth token already used, E009'),
    ('oauth1-initiate-error-bad-signature.json',
     'The wiki refused the request token: An error occurred in the OAuth protocol:'
     ' Invalid signature'),
])
def test_recorded_handshake_errors_read_clearly(name: str, message: str) -> None:
    with pytest.raises(OAuthFlowError) as info:
        _token_pair(_Answer(_recorded_bodies(name)[0]), 'the request token')
    assert str(info.value) == message


def test_recorded_token_answers_are_read() -> None:
    for name in ('oauth1-initiate.json', 'oauth1-initiate-format-json.json',
                 'oauth1-token.json', 'oauth1-token-format-json.json'):
        # The recordings redact tokens as '<request_token>'; MediaWiki sends hex.
        body = re.sub(r'<[a-z_]+>', lambda m: hashlib.md5(m[0].encode()).hexdigest(),
                      json.dumps(_recorded_bodies(name)[-1]))
        pair = _token_pair(_Answer(json.loads(body)), 'the token')
        assert isinstance(pair, TokenPair) and pair.key and pair.secret
        assert pair.secret not in repr(pair)


def test_an_html_page_is_not_taken_for_a_token() -> None:
    answer = _Answer('<!DOCTYPE html><html><body>No such special page</body></html>')
    with pytest.raises(OAuthFlowError, match='is Extension:OAuth installed'):
        _token_pair(answer, 'the request token')


# -- OAuth 2.0 -----------------------------------------------------------------------------

def _oauth2_dir(tmp_path: Path, wiki: RunningWiki, client: Any, redirect_uri: str) -> Path:
    secret = f", client_secret='{client.client_secret}'" if client.client_secret else ''
    return pywikibot_dir(tmp_path / 'pwb', wiki, f"OAuth2(client_id='{client.client_id}'"
                                                 f"{secret}, redirect_uri='{redirect_uri}')")


def start_oauth2_authorize(tmp_path: Path, wiki: RunningWiki, redirect_uri: str, *flags: str,
                           confidential: bool = True) -> tuple[Any, Path, Command, str]:
    """Register Owner's client, run ``pwb-oauth authorize``; return it at the printed URL."""
    wiki.app.add_bot('Owner')
    client = wiki.app.oauth2.register_client('Owner', confidential=confidential,
                                             redirect_uri=redirect_uri)
    pwb_dir = _oauth2_dir(tmp_path, wiki, client, redirect_uri)
    command = Command(pwb_dir, *flags)
    url = command.expect(r'(http://\S+/rest\.php/oauth2/authorize\S+)').group(1)
    return client, pwb_dir, command, url


def _assert_oauth2_token_works(pwb_dir: Path, wiki: RunningWiki, client: Any,
                               output: str) -> None:
    assert f'Authorized as {USER}; token stored in {pwb_dir / "pwb-oauth-tokens.json"}' in output
    entries = stored(pwb_dir)
    assert [(e['client_id'], e['account'], e['record']['protocol']) for e in entries] == [
        (client.client_id, USER, 'oauth2')]
    record = entries[0]['record']
    for secret in (record['access_token'], record['refresh_token'], client.client_secret):
        if secret:
            assert secret not in output
    if client.client_secret:  # a confidential client: its secret is never stored
        store_text = (pwb_dir / 'pwb-oauth-tokens.json').read_text(encoding='utf-8')
        assert client.client_secret not in store_text
    result = use_token(pwb_dir, wiki)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == [f'USER {USER}', 'SAVED']
    assert wiki.wiki.pages['Sandbox'].revisions[-1].user == USER


@pytest.mark.parametrize('confidential', [False, True], ids=['public-pkce', 'confidential'])
def test_oauth2_loopback_redirect_finishes_by_itself(tmp_path: Path, wiki: RunningWiki,
                                                     confidential: bool) -> None:
    redirect_uri = f'http://127.0.0.1:{reserved_port()}/callback'
    client, pwb_dir, command, url = start_oauth2_authorize(
        tmp_path, wiki, redirect_uri, confidential=confidential)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query['code_challenge_method'] == 'S256'
    assert query['redirect_uri'] == redirect_uri
    command.expect('Waiting for the wiki')
    redirect = consent(wiki, USER, url)
    assert redirect.startswith(redirect_uri + '?code=')
    page = requests.get(redirect, timeout=30, proxies={'http': None})   # the browser lands
    assert 'Authorization received' in page.text
    status, output = command.finish()
    assert status == 0, output + command.stderr()
    _assert_oauth2_token_works(pwb_dir, wiki, client, output)
    assert wiki.app.oauth2.token_requests['authorization_code'] == 1


def test_oauth2_paste_mode_reads_the_url(tmp_path: Path, wiki: RunningWiki) -> None:
    redirect_uri = f'http://127.0.0.1:{reserved_port()}/callback'
    client, pwb_dir, command, url = start_oauth2_authorize(
        tmp_path, wiki, redirect_uri, '--paste', confidential=False)
    command.expect('paste the whole URL')
    command.answer(consent(wiki, USER, url))
    status, output = command.finish()
    assert status == 0, output + command.stderr()
    _assert_oauth2_token_works(pwb_dir, wiki, client, output)


def test_oauth2_show_prints_the_tokens(tmp_path: Path, wiki: RunningWiki) -> None:
    redirect_uri = 'https://bot.example/callback'   # not loopback: read from input
    client, pwb_dir, command, url = start_oauth2_authorize(
        tmp_path, wiki, redirect_uri, '--show')
    command.answer(consent(wiki, USER, url))
    status, output = command.finish()
    assert status == 0, output
    record = stored(pwb_dir)[0]['record']
    assert f"Access token: {record['access_token']}" in output
    assert f"Refresh token: {record['refresh_token']}" in output
    assert client.client_secret not in output


def test_oauth2_state_mismatch(tmp_path: Path, wiki: RunningWiki) -> None:
    redirect_uri = 'https://bot.example/callback'
    _client, pwb_dir, command, url = start_oauth2_authorize(
        tmp_path, wiki, redirect_uri, confidential=False)
    redirect = consent(wiki, USER, url)
    command.answer(re.sub(r'state=[^&]+', 'state=forged', redirect))
    status, output = command.finish()
    assert status != 0
    assert 'state mismatch' in output
    assert stored(pwb_dir) == []
    assert wiki.app.oauth2.token_requests['authorization_code'] == 0


def test_oauth2_denial(tmp_path: Path, wiki: RunningWiki) -> None:
    redirect_uri = f'http://127.0.0.1:{reserved_port()}/callback'
    _client, pwb_dir, command, url = start_oauth2_authorize(
        tmp_path, wiki, redirect_uri)
    command.expect('Waiting for the wiki')
    redirect = consent(wiki, USER, url, button='cancel')
    assert 'error=' in redirect
    requests.get(redirect, timeout=30, proxies={'http': None})
    status, output = command.finish()
    assert status != 0
    assert 'Error: The authorization was denied on the wiki' in output
    assert 'Traceback' not in output + command.stderr()
    assert stored(pwb_dir) == []


def test_oauth2_approved_by_another_user_is_not_stored(tmp_path: Path,
                                                       wiki: RunningWiki) -> None:
    redirect_uri = 'https://bot.example/callback'
    wiki.app.add_bot('OtherUser')
    _client, pwb_dir, command, url = start_oauth2_authorize(
        tmp_path, wiki, redirect_uri)
    command.answer(consent(wiki, 'OtherUser', url))
    status, output = command.finish()
    assert status != 0
    assert f"approved by 'OtherUser', not by '{USER}'" in output
    assert stored(pwb_dir) == []


@pytest.mark.parametrize(('entry', 'message'), [
    ("OAuth2(access_token='owner-only-token-value')", 'owner-only OAuth 2.0 token'),
    ("OAuth2(client_id='abc', client_secret='s3cret-value', grant='client_credentials')",
     'client_credentials grant'),
])
def test_oauth2_nothing_to_authorize(tmp_path: Path, wiki: RunningWiki, entry: str,
                                     message: str) -> None:
    pwb_dir = pywikibot_dir(tmp_path / 'pwb', wiki, entry)
    status, output = Command(pwb_dir).finish()
    assert status != 0
    assert output.startswith('Error: ') and message in output
    assert 'owner-only-token-value' not in output and 's3cret-value' not in output
    assert wiki.app.oauth2.token_requests == {}


@pytest.mark.parametrize('garbage', ['hello', 'https://bot.example/some/other/page'])
def test_oauth2_garbage_paste_is_not_the_address(tmp_path: Path, wiki: RunningWiki,
                                                 garbage: str) -> None:
    _client, pwb_dir, command, _url = start_oauth2_authorize(
        tmp_path, wiki, 'https://bot.example/callback', confidential=False)
    command.answer(garbage)
    status, output = command.finish()
    assert status == 1
    assert output.splitlines()[-1] == (
        'Error: That is not the address the wiki sent you to: after "Allow", copy the whole'
        " URL from the browser's address bar (it contains code= and state=) and paste it."
        ' Nothing was stored.')
    assert 'state mismatch' not in output
    assert stored(pwb_dir) == []


def test_oauth2_new_token_never_goes_to_a_plain_http_profile_url_off_loopback(
        tmp_path: Path, wiki: RunningWiki) -> None:
    """The profile request after the exchange carries ``Bearer <token>``: plain http only to
    loopback, judged on the host connected to (``127.2`` is 127.0.0.2 to the resolver, but
    no loopback name)."""
    from capture import CaptureServer
    redirect_uri = 'https://bot.example/callback'
    wiki.app.add_bot('Owner')
    client = wiki.app.oauth2.register_client('Owner', confidential=True,
                                             redirect_uri=redirect_uri)
    with CaptureServer('127.0.0.2') as trap:
        pwb_dir = pywikibot_dir(
            tmp_path / 'pwb', wiki,
            f"OAuth2(client_id='{client.client_id}', client_secret='{client.client_secret}',"
            f" redirect_uri='{redirect_uri}',"
            f" profile_url='http://127.2:{trap.port}/w/rest.php/oauth2/resource/profile')")
        command = Command(pwb_dir)
        url = command.expect(r'(http://\S+/rest\.php/oauth2/authorize\S+)').group(1)
        command.answer(consent(wiki, USER, url))
        status, output = command.finish()
    assert trap.requests == [], 'the new bearer token went to http://127.2'
    assert status != 0, output
    assert 'Refusing to send the new access token: http://127.2:' in output, output
    assert stored(pwb_dir) == []
    assert wiki.app.oauth2.token_requests['authorization_code'] == 1
