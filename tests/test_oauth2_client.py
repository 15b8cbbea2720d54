"""OAuth 2.0 client side: protocol functions, BearerTokenSource, loopback receiver.

Wiki answers come from the recorded MediaWiki 1.39 captures (replayed) and,
end to end, from the test wiki's OAuth 2.0 provider.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from capture import free_port
from conftest import RECORDED

from pwb_oauth_ext.errors import (
    OAuthFlowError,
    ReauthorizationRequired,
    TokenEndpointError,
)
from pwb_oauth_ext.network.loopback import (
    LoopbackReceiver,
    is_loopback_redirect,
    wait_for_redirect,
)
from pwb_oauth_ext.protocol.auth import BearerAuth
from pwb_oauth_ext.protocol.mediawiki import endpoints_for
from pwb_oauth_ext.protocol.oauth2 import (
    BearerTokenSource,
    TokenSet,
    authorization_url,
    exchange_code,
    fetch_client_credentials,
    make_obtain,
    make_pkce_pair,
    parse_redirect,
    refresh,
    requests_transport,
)
from pwb_oauth_ext.protocol.store import TokenStore
from pwb_oauth_ext.testwiki.browser import consent

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPTURES = RECORDED
CAPTURED_WIKI = endpoints_for('http://127.0.0.1:8080')


def load_capture(name: str) -> list[dict]:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f'capture {name} not available')
    data = json.loads(path.read_text())
    return data.get('exchanges') or [{'request': data['request'], 'response': data['response']}]


class ReplayTransport:
    """Answers token requests with MediaWiki's recorded responses, in order."""

    def __init__(self, capture: str) -> None:
        self.exchanges = load_capture(capture)
        self.sent: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def __call__(self, url: str, data: dict[str, str], headers: dict[str, str]) -> Any:
        recorded = self.exchanges[len(self.sent)]
        self.sent.append((url, data, headers))
        response = recorded['response']
        return SimpleNamespace(status_code=response['status'], headers=response['headers'],
                               text=json.dumps(realistic(response['body'])))


def realistic(body: Any) -> Any:
    """The recording with its token placeholders ('<access_token_jwt>') as real-looking
    tokens ('access_token_jwt'): a token cannot hold '<' or '>' (RFC 6750)."""
    if isinstance(body, dict):
        return {key: realistic(value) for key, value in body.items()}
    if isinstance(body, str) and body.startswith('<') and body.endswith('>') and \
            body[1:-1].replace('_', '').isalnum():
        return body[1:-1]
    return body


def fixed_clock(value: float = 1_000_000.0):
    return lambda: value


# --- pure parts -------------------------------------------------------------

def test_endpoints_under_the_script_path() -> None:
    endpoints = endpoints_for('https://en.wikipedia.org/w/')
    assert endpoints.authorize_url == 'https://en.wikipedia.org/w/rest.php/oauth2/authorize'
    assert endpoints.token_url == 'https://en.wikipedia.org/w/rest.php/oauth2/access_token'
    assert endpoints.profile_url == (
        'https://en.wikipedia.org/w/rest.php/oauth2/resource/profile')
    assert CAPTURED_WIKI.token_url == 'http://127.0.0.1:8080/rest.php/oauth2/access_token'


def test_pkce_pair_is_a_valid_s256_pair() -> None:
    verifier, challenge = make_pkce_pair()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
                                '0123456789-._~')
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert challenge == expected.decode().rstrip('=')
    assert make_pkce_pair()[0] != verifier


def test_authorization_url_omits_redirect_uri_when_none() -> None:
    url = authorization_url(CAPTURED_WIKI, 'cid', redirect_uri=None, state='st8',
                            code_challenge='chal')
    assert url.startswith('http://127.0.0.1:8080/rest.php/oauth2/authorize?')
    assert 'redirect_uri' not in url
    assert 'response_type=code' in url and 'client_id=cid' in url and 'state=st8' in url
    assert 'code_challenge=chal' in url and 'code_challenge_method=S256' in url
    with_redirect = authorization_url(CAPTURED_WIKI, 'cid', state='s', code_challenge='c',
                                      redirect_uri='http://127.0.0.1:8765/oauth2/callback')
    assert 'redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Foauth2%2Fcallback' in with_redirect


def test_plain_http_to_a_remote_wiki_is_refused() -> None:
    remote = endpoints_for('http://wiki.example.org/w')
    with pytest.raises(OAuthFlowError, match='https'):
        authorization_url(remote, 'cid', redirect_uri=None, state='s', code_challenge='c')
    sent = []
    with pytest.raises(OAuthFlowError, match='https'):
        fetch_client_credentials(lambda *a: sent.append(a), remote, 'cid', 'CS-secret')
    assert sent == []


def test_parse_redirect_returns_the_code() -> None:
    url = 'http://127.0.0.1:8765/oauth2/public-callback?code=def50200abc&state=state-897cd679'
    assert parse_redirect(url, 'state-897cd679') == 'def50200abc'


def test_parse_redirect_state_mismatch() -> None:
    url = 'http://127.0.0.1:8765/oauth2/callback?code=def50200abc&state=other'
    with pytest.raises(OAuthFlowError, match='state mismatch'):
        parse_redirect(url, 'state-897cd679')
    with pytest.raises(OAuthFlowError, match='state mismatch'):
        parse_redirect('http://127.0.0.1:8765/oauth2/callback?code=x', 'state-897cd679')


def test_parse_redirect_mediawiki_cancel_without_state() -> None:
    exchanges = load_capture('oauth2-authorize-deny.json')
    location = exchanges[-1]['response']['headers']['Location']
    with pytest.raises(OAuthFlowError, match=r'(?i)the authorization was denied') as info:
        parse_redirect(location, 'state-897cd679')
    assert 'User has rejected the request' in str(info.value)


def test_parse_redirect_without_code() -> None:
    with pytest.raises(OAuthFlowError, match='no authorization code'):
        parse_redirect('http://127.0.0.1:8765/cb?state=s1', 's1')


def test_tokenset_hides_tokens_and_round_trips() -> None:
    tokens = TokenSet('AT-secret', 'RT-secret', 5000.0, obtained_at=1000.0)
    for text in (repr(tokens), str(tokens), f'{tokens}'):
        assert 'AT-secret' not in text and 'RT-secret' not in text
    record = tokens.to_record()
    assert record['protocol'] == 'oauth2'
    assert TokenSet.from_record(json.loads(json.dumps(record))) == tokens
    assert not tokens.expired(now=4900.0, margin=60.0)
    assert tokens.expired(now=4950.0, margin=60.0)
    assert not TokenSet('a', None, None).expired(now=1e12)
    with pytest.raises(ValueError):
        TokenSet.from_record({'protocol': 'oauth1', 'access_token': 'a', 'access_secret': 's'})


# --- token requests against recorded MediaWiki answers ----------------------

def test_exchange_code_public_pkce_sends_what_mediawiki_accepted() -> None:
    transport = ReplayTransport('oauth2-token-authorization-code-public-pkce-s256.json')
    tokens = exchange_code(transport, CAPTURED_WIKI, '<client_id>', None, code='CODE',
                           code_verifier='VERIFIER', redirect_uri=None, now=fixed_clock(1000.0))
    assert tokens.access_token == 'access_token_jwt'
    assert tokens.refresh_token == 'refresh_token'
    assert tokens.expires_at == 1000.0 + 14400
    url, form, headers = transport.sent[0]
    recorded_form = transport.exchanges[0]['request']['form']
    assert url == transport.exchanges[0]['request']['url']
    assert set(form) == set(recorded_form)          # no client_secret, no redirect_uri
    assert form['code_verifier'] == 'VERIFIER'
    assert headers['Content-Type'] == 'application/x-www-form-urlencoded'
    assert 'Authorization' not in headers


def test_exchange_code_confidential_repeats_redirect_uri() -> None:
    transport = ReplayTransport('oauth2-token-authorization-code-confidential.json')
    recorded_form = transport.exchanges[0]['request']['form']
    exchange_code(transport, CAPTURED_WIKI, '<client_id>', 'CS-secret', code='CODE',
                  code_verifier=None, redirect_uri=recorded_form['redirect_uri'])
    form = transport.sent[0][1]
    assert set(form) == set(recorded_form)
    assert form['client_secret'] == 'CS-secret'
    assert form['redirect_uri'] == 'http://127.0.0.1:8765/oauth2/callback'


def test_client_credentials_has_no_refresh_token() -> None:
    transport = ReplayTransport('oauth2-token-client-credentials-owner-only.json')
    tokens = fetch_client_credentials(transport, CAPTURED_WIKI, '<client_id>', 'CS-secret',
                                      now=fixed_clock(50.0))
    assert tokens.refresh_token is None and tokens.expires_at == 50.0 + 14400
    assert set(transport.sent[0][1]) == set(transport.exchanges[0]['request']['form'])


def test_token_endpoint_error_keeps_mediawiki_hint_and_no_secret() -> None:
    transport = ReplayTransport('oauth2-token-error-pkce-wrong-verifier.json')
    with pytest.raises(TokenEndpointError) as info:
        exchange_code(transport, CAPTURED_WIKI, '<client_id>', 'CS-secret', code='CODE',
                      code_verifier='VERIFIER-secret', redirect_uri=None)
    error = info.value
    assert (error.error, error.status) == ('invalid_grant', 400)
    assert error.hint == 'Failed to verify `code_verifier`.'
    assert 'Failed to verify `code_verifier`.' in str(error)
    assert 'secret' not in str(error).lower()


def test_refresh_rotation_then_revoked_token_needs_reauthorization() -> None:
    transport = ReplayTransport('oauth2-token-refresh-rotation.json')
    first = refresh(transport, CAPTURED_WIKI, '<client_id>', 'CS-secret', '<refresh_token>')
    assert (first.access_token, first.refresh_token) == ('access_token_jwt_2',
                                                         'refresh_token_2')
    assert set(transport.sent[0][1]) == set(transport.exchanges[0]['request']['form'])
    with pytest.raises(ReauthorizationRequired) as info:
        refresh(transport, CAPTURED_WIKI, '<client_id>', 'CS-secret', '<refresh_token>',
                reauthorize_hint='run: pwb-oauth authorize -site:wikipedia:test')
    message = str(info.value)
    assert 'revoked' in message
    assert message.endswith('run: pwb-oauth authorize -site:wikipedia:test')
    assert '<refresh_token>' not in message


def test_public_client_refresh_on_rel1_39_needs_reauthorization() -> None:
    transport = ReplayTransport('oauth2-token-refresh-public-client.json')
    with pytest.raises(ReauthorizationRequired, match='public client'):
        refresh(transport, CAPTURED_WIKI, '<client_id>', None, '<refresh_token>')


def test_wrong_secret_is_not_a_reauthorization_case() -> None:
    transport = ReplayTransport('oauth2-token-error-refresh-wrong-client.json')
    with pytest.raises(TokenEndpointError) as info:
        refresh(transport, CAPTURED_WIKI, '<client_id>', 'CS-wrong-secret', '<refresh_token_3>')
    assert not isinstance(info.value, ReauthorizationRequired)
    assert info.value.error == 'invalid_client'
    assert 'CS-wrong-secret' not in str(info.value)


def test_make_obtain_refreshes_or_fetches_or_asks_for_authorization() -> None:
    refresher = make_obtain(ReplayTransport('oauth2-token-refresh-rotation.json'),
                            CAPTURED_WIKI, '<client_id>', 'CS-secret')
    renewed = refresher(TokenSet('old', '<refresh_token>', 0.0))
    assert renewed.refresh_token == 'refresh_token_2'
    with pytest.raises(ReauthorizationRequired, match='pwb-oauth authorize -site:x:y'):
        make_obtain(ReplayTransport('oauth2-token-refresh-rotation.json'), CAPTURED_WIKI,
                    '<client_id>', 'CS-secret', reauthorize_hint='pwb-oauth authorize -site:x:y'
                    )(None)
    owner_only = make_obtain(ReplayTransport('oauth2-token-client-credentials-owner-only.json'),
                             CAPTURED_WIKI, '<client_id>', 'CS-secret', client_credentials=True)
    assert owner_only(TokenSet('old', None, 0.0)).access_token == 'access_token_jwt'


def test_non_oauth_error_body_is_reported_with_status() -> None:
    def html_500(url, data, headers):
        return SimpleNamespace(status_code=500, headers={}, text='<html>oops</html>')

    with pytest.raises(TokenEndpointError, match='HTTP 500'):
        fetch_client_credentials(html_500, CAPTURED_WIKI, 'cid', 'CS-secret')


# --- BearerTokenSource ------------------------------------------------------

KEY = ('test.wiki', 'cid', None)


class Counting:
    """An obtain() that hands out numbered token sets."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.calls: list[TokenSet | None] = []
        self.lifetime = lifetime
        self.clock = fixed_clock()
        self.lock = threading.Lock()

    def __call__(self, current: TokenSet | None) -> TokenSet:
        with self.lock:
            self.calls.append(current)
            n = len(self.calls)
        return TokenSet(f'AT-{n}', f'RT-{n}', self.clock() + self.lifetime)


def test_source_uses_valid_stored_token_without_obtaining(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / 't.json')
    store.put(*KEY, TokenSet('AT-0', 'RT-0', 1_000_000.0 + 600).to_record())
    obtain = Counting()
    source = BearerTokenSource(store=store, key=KEY, obtain=obtain, now=fixed_clock())
    assert source.token() == 'AT-0'
    assert obtain.calls == []


def test_source_renews_expired_token_and_stores_it_first(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / 't.json')
    store.put(*KEY, TokenSet('AT-0', 'RT-0', 1_000_000.0 + 30).to_record())  # inside margin
    obtain = Counting()
    source = BearerTokenSource(store=store, key=KEY, obtain=obtain, now=fixed_clock())
    assert source.token() == 'AT-1'
    assert obtain.calls[0].refresh_token == 'RT-0'
    assert store.get(*KEY)['access_token'] == 'AT-1'
    assert store.get(*KEY)['refresh_token'] == 'RT-1'
    assert source.token() == 'AT-1' and len(obtain.calls) == 1


def test_source_picks_up_a_renewal_by_someone_else(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / 't.json')
    clock = [1_000_000.0]
    store.put(*KEY, TokenSet('AT-0', 'RT-0', clock[0] + 600).to_record())
    obtain = Counting()
    source = BearerTokenSource(store=store, key=KEY, obtain=obtain, now=lambda: clock[0])
    assert source.token() == 'AT-0'
    # Another process refreshes; then our copy expires by our clock.
    store.put(*KEY, TokenSet('AT-other', 'RT-other', clock[0] + 7200).to_record())
    clock[0] += 600
    assert source.token() == 'AT-other'
    assert obtain.calls == []


def test_renew_after_rejection(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / 't.json')
    store.put(*KEY, TokenSet('AT-0', 'RT-0', 1_000_000.0 + 3600).to_record())
    obtain = Counting()
    source = BearerTokenSource(store=store, key=KEY, obtain=obtain, now=fixed_clock())
    assert source.token() == 'AT-0'
    assert source.renew_after_rejection('AT-0') is True
    assert source.token() == 'AT-1' and len(obtain.calls) == 1
    # A stale rejection of the old token does not renew again.
    assert source.renew_after_rejection('AT-0') is True
    assert len(obtain.calls) == 1


def test_fixed_owner_only_token_is_never_renewed() -> None:
    source = BearerTokenSource(store=None, key=KEY, obtain=None,
                               initial=TokenSet('OWNER-AT', None, None))
    assert source.token() == 'OWNER-AT'
    assert source.renew_after_rejection('OWNER-AT') is False


def test_threads_renew_once(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / 't.json')
    store.put(*KEY, TokenSet('AT-0', 'RT-0', 0.0).to_record())
    obtain = Counting()
    sources = [BearerTokenSource(store=store, key=KEY, obtain=obtain, now=fixed_clock())
               for _ in range(4)]
    results: list[str] = []

    def worker(source: BearerTokenSource) -> None:
        for _ in range(5):
            results.append(source.token())

    threads = [threading.Thread(target=worker, args=(sources[i % 4],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(obtain.calls) == 1
    assert set(results) == {'AT-1'}


PROCESS_SOURCE = textwrap.dedent('''
    import os, sys, time
    from pwb_oauth_ext.protocol.tokens import BearerTokenSource, TokenSet
    from pwb_oauth_ext.protocol.store import TokenStore
    store_path, counter, go = sys.argv[1:4]

    def obtain(current):
        with open(counter, 'a') as handle:
            handle.write(f'{os.getpid()} {current.refresh_token}\\n')
        time.sleep(0.2)   # a slow wiki widens the race window
        return TokenSet(f'AT-from-{os.getpid()}', f'RT-from-{os.getpid()}', time.time() + 3600)

    source = BearerTokenSource(store=TokenStore(store_path), key=('test.wiki', 'cid', None),
                               obtain=obtain)
    while not os.path.exists(go):
        time.sleep(0.005)
    print(source.token())
''')


def test_processes_sharing_an_expired_grant_refresh_once(tmp_path: Path) -> None:
    store_path = tmp_path / 'tokens.json'
    counter = tmp_path / 'obtain-calls'
    go = tmp_path / 'go'
    TokenStore(store_path).put(*KEY, TokenSet('AT-0', 'RT-0', 1.0).to_record())
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    procs = [subprocess.Popen([sys.executable, '-c', PROCESS_SOURCE, str(store_path),
                               str(counter), str(go)], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(8)]
    go.touch()
    outputs = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 8
    calls = counter.read_text().splitlines()
    assert len(calls) == 1
    assert calls[0].endswith(' RT-0')
    assert len(set(outputs)) == 1
    assert outputs[0] == TokenStore(store_path).get(*KEY)['access_token']
    assert outputs[0].startswith('AT-from-')


# --- BearerAuth ----------------------------------------------------------------

def test_bearer_auth_sets_header_and_refuses_plain_http_elsewhere() -> None:
    import requests

    source = BearerTokenSource(store=None, key=KEY, obtain=None,
                               initial=TokenSet('AT-secret', None, None))
    auth = BearerAuth(source)
    assert 'AT-secret' not in repr(auth)
    prepared = requests.Request('POST', 'https://test.wikipedia.org/w/api.php',
                                data={'action': 'query'}, auth=auth).prepare()
    assert prepared.headers['Authorization'] == 'Bearer AT-secret'
    local = requests.Request('POST', 'http://127.0.0.1:8080/api.php', auth=auth).prepare()
    assert local.headers['Authorization'] == 'Bearer AT-secret'
    with pytest.raises(OAuthFlowError, match='use https') as info:
        requests.Request('POST', 'http://test.wikipedia.org/w/api.php', auth=auth).prepare()
    assert 'AT-secret' not in str(info.value)


# --- loopback receiver ------------------------------------------------------------

def test_is_loopback_redirect() -> None:
    assert is_loopback_redirect('http://127.0.0.1:8765/oauth2/callback')
    assert is_loopback_redirect('http://localhost:8765/cb')
    assert is_loopback_redirect('http://[::1]:8765/cb')
    assert not is_loopback_redirect('https://127.0.0.1:8765/cb')
    assert not is_loopback_redirect('http://example.org:8765/cb')
    assert not is_loopback_redirect('http://127.0.0.1:notaport/cb')


def test_loopback_receiver_returns_the_redirect_and_greets_the_browser() -> None:
    with LoopbackReceiver(f'http://127.0.0.1:{free_port()}/oauth2/callback') as receiver:
        base = f'http://127.0.0.1:{receiver.port}'
        pages: list[str] = []

        def browser() -> None:
            try:
                urllib.request.urlopen(base + '/favicon.ico', timeout=10)
            except urllib.error.HTTPError as exc:
                pages.append(f'{exc.code}')
            with urllib.request.urlopen(base + '/oauth2/callback?code=abc&state=s1',
                                        timeout=10) as response:
                pages.append(response.read().decode())

        thread = threading.Thread(target=browser)
        thread.start()
        url = receiver.wait(timeout=30)
        thread.join()
    assert url == f'{base}/oauth2/callback?code=abc&state=s1'
    assert parse_redirect(url, 's1') == 'abc'
    assert pages[0] == '404'
    assert 'you can close this window' in pages[1].lower()


def test_loopback_receiver_gives_up_after_timeout() -> None:
    with pytest.raises(OAuthFlowError, match='No OAuth redirect arrived'):
        wait_for_redirect(f'http://127.0.0.1:{free_port()}/cb', timeout=0.2)


def test_loopback_receiver_refuses_a_non_loopback_uri() -> None:
    with pytest.raises(OAuthFlowError, match='not a loopback redirect'):
        LoopbackReceiver('https://example.org/cb')


# --- end to end against the test wiki's OAuth 2.0 provider -----------------------

@pytest.fixture
def wiki() -> Any:
    # a broken install fails here:
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider
    from pwb_oauth_ext.testwiki.server import run_test_wiki

    with run_test_wiki() as running:
        assert isinstance(running.app.oauth2, OAuth2Provider), 'no OAuth 2.0 provider'
        running.app.add_bot('BotUser')
        running.app.wiki.add_user('HandshakeUser')
        yield running


def profile_of(endpoints: Any, source: BearerTokenSource) -> Any:
    import requests

    return requests.get(endpoints.profile_url, auth=BearerAuth(source), timeout=30)


def fixed_source(tokens: TokenSet) -> BearerTokenSource:
    return BearerTokenSource(store=None, key=KEY, obtain=None, initial=tokens)


def authorize_in_browser(wiki: Any, client: Any, *, redirect_uri: str | None,
                         state: str = 'state-1') -> tuple[str, str]:
    """(redirect URL, PKCE verifier) after HandshakeUser clicks Allow."""
    verifier, challenge = make_pkce_pair()
    url = authorization_url(endpoints_for(wiki.url), client.client_id,
                            redirect_uri=redirect_uri, state=state, code_challenge=challenge)
    return consent(wiki, 'HandshakeUser', url), verifier


def test_e2e_public_client_with_pkce(wiki: Any) -> None:
    endpoints = endpoints_for(wiki.url)
    client = wiki.app.oauth2.register_client(
        'HandshakeUser', confidential=False,
        redirect_uri='http://127.0.0.1:8765/oauth2/public-callback')
    redirect, verifier = authorize_in_browser(wiki, client, redirect_uri=None)
    assert redirect.startswith('http://127.0.0.1:8765/oauth2/public-callback?')
    code = parse_redirect(redirect, 'state-1')
    tokens = exchange_code(requests_transport(), endpoints, client.client_id, None, code=code,
                           code_verifier=verifier, redirect_uri=None)
    assert tokens.refresh_token and tokens.expires_at
    profile = profile_of(endpoints, fixed_source(tokens))
    assert profile.status_code == 200
    assert json.loads(profile.text)['username'] == 'HandshakeUser'
    # MediaWiki 1.39 never lets a public client refresh.
    with pytest.raises(ReauthorizationRequired, match='public client'):
        refresh(requests_transport(), endpoints, client.client_id, None, tokens.refresh_token)


def test_e2e_confidential_client_and_refresh_rotation(wiki: Any) -> None:
    endpoints = endpoints_for(wiki.url)
    transport = requests_transport()
    callback = 'http://127.0.0.1:8765/oauth2/callback'
    client = wiki.app.oauth2.register_client('HandshakeUser', confidential=True,
                                             redirect_uri=callback)
    redirect, verifier = authorize_in_browser(wiki, client, redirect_uri=callback)
    code = parse_redirect(redirect, 'state-1')
    first = exchange_code(transport, endpoints, client.client_id, client.client_secret,
                          code=code, code_verifier=verifier, redirect_uri=callback)
    second = refresh(transport, endpoints, client.client_id, client.client_secret,
                     first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    # The old access token died with the rotation; the new one works.
    assert profile_of(endpoints, fixed_source(first)).status_code == 401
    assert profile_of(endpoints, fixed_source(second)).status_code == 200
    with pytest.raises(ReauthorizationRequired) as info:
        refresh(transport, endpoints, client.client_id, client.client_secret,
                first.refresh_token, reauthorize_hint='run: pwb-oauth authorize -site:test:test')
    message = str(info.value)
    assert message.endswith('run: pwb-oauth authorize -site:test:test')
    for secret in (client.client_secret, first.refresh_token, second.access_token):
        assert secret not in message
    third = refresh(transport, endpoints, client.client_id, client.client_secret,
                    second.refresh_token)
    assert profile_of(endpoints, fixed_source(third)).status_code == 200


def test_e2e_code_is_single_use_and_redirect_uri_must_match(wiki: Any) -> None:
    endpoints = endpoints_for(wiki.url)
    callback = 'http://127.0.0.1:8765/oauth2/callback'
    client = wiki.app.oauth2.register_client('HandshakeUser', redirect_uri=callback)
    redirect, verifier = authorize_in_browser(wiki, client, redirect_uri=callback)
    code = parse_redirect(redirect, 'state-1')
    with pytest.raises(TokenEndpointError) as info:
        exchange_code(requests_transport(), endpoints, client.client_id,
                      client.client_secret, code=code, code_verifier=verifier,
                      redirect_uri=None)
    assert info.value.error == 'invalid_request'


def test_e2e_state_mismatch_and_denial(wiki: Any) -> None:
    callback = 'http://127.0.0.1:8765/oauth2/callback'
    client = wiki.app.oauth2.register_client('HandshakeUser', redirect_uri=callback)
    redirect, _ = authorize_in_browser(wiki, client, redirect_uri=callback, state='mine')
    with pytest.raises(OAuthFlowError, match='state mismatch'):
        parse_redirect(redirect, 'someone-elses')
    _, challenge = make_pkce_pair()
    url = authorization_url(endpoints_for(wiki.url), client.client_id, redirect_uri=callback,
                            state='mine', code_challenge=challenge)
    denied = consent(wiki, 'HandshakeUser', url, button='cancel')
    with pytest.raises(OAuthFlowError, match=r'(?i)the authorization was denied'):
        parse_redirect(denied, 'mine')


def test_e2e_client_credentials_owner_only(wiki: Any) -> None:
    endpoints = endpoints_for(wiki.url)
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    tokens = fetch_client_credentials(requests_transport(), endpoints, client.client_id,
                                      client.client_secret)
    assert tokens.refresh_token is None
    assert json.loads(profile_of(endpoints, fixed_source(tokens)).text)['username'] == 'BotUser'
    with pytest.raises(TokenEndpointError) as info:
        fetch_client_credentials(requests_transport(), endpoints, client.client_id,
                                 'CS-wrong-secret')
    assert info.value.error == 'invalid_client'
    assert 'CS-wrong-secret' not in str(info.value)


def test_e2e_token_source_refreshes_through_the_store(wiki: Any, tmp_path: Path) -> None:
    endpoints = endpoints_for(wiki.url)
    transport = requests_transport()
    callback = 'http://127.0.0.1:8765/oauth2/callback'
    client = wiki.app.oauth2.register_client('HandshakeUser', redirect_uri=callback)
    redirect, verifier = authorize_in_browser(wiki, client, redirect_uri=callback)
    tokens = exchange_code(transport, endpoints, client.client_id, client.client_secret,
                           code=parse_redirect(redirect, 'state-1'), code_verifier=verifier,
                           redirect_uri=callback)
    store = TokenStore(tmp_path / 'tokens.json')
    key = (wiki.host, client.client_id, 'HandshakeUser')
    store.put(*key, tokens.to_record())
    clock = [tokens.obtained_at]
    hint = 'run: pwb-oauth authorize -site:test:test'
    source = BearerTokenSource(
        store=store, key=key, now=lambda: clock[0],
        obtain=make_obtain(transport, endpoints, client.client_id, client.client_secret,
                           reauthorize_hint=hint, now=lambda: clock[0]))
    assert source.token() == tokens.access_token
    clock[0] = tokens.expires_at - 30      # inside the 60 s margin: renew first
    renewed = source.token()
    assert renewed != tokens.access_token
    assert store.get(*key)['refresh_token'] not in (None, tokens.refresh_token)
    assert profile_of(endpoints, source).status_code == 200
    assert source.token() == renewed
    # The user withdraws the grant on the wiki: the next renewal asks for a new authorization.
    wiki.app.oauth2.revoke_grant(client.client_id, 'HandshakeUser')
    assert profile_of(endpoints, source).status_code == 401
    with pytest.raises(ReauthorizationRequired, match='pwb-oauth authorize -site:test:test'):
        source.renew_after_rejection(renewed)
