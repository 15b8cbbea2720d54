"""Credentials go only where they belong.

Real Pywikibot in a subprocess fetches from capture servers (``capture.py``) on 127.0.0.1 (and
``localhost``): a host that no entry matches gets no ``Authorization`` header, a bare ``*``
entry reaches only the wiki's own requests (never ``http.fetch(url)`` without a site, as
SPARQL, toolforge, upload-by-URL and external links use), and a redirect to another
host or port drops the header. Bearer tokens and client secrets are refused over plain
http to anything but loopback, before any byte is sent.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from capture import CaptureServer, redirect_elsewhere
from conftest import oauth1_tuple

from pwb_oauth_ext.errors import OAuthFlowError
from pwb_oauth_ext.protocol.auth import BearerAuth
from pwb_oauth_ext.protocol.mediawiki import OAuth2Endpoints, endpoints_for
from pwb_oauth_ext.protocol.oauth2 import (
    BearerTokenSource,
    TokenSet,
    authorization_url,
    exchange_code,
    fetch_client_credentials,
    refresh,
)

BEARER = 'header.payload.signature-of-a-secret-token'


@pytest.fixture
def recorder() -> Iterator[CaptureServer]:
    with CaptureServer('127.0.0.1') as server:
        yield server


@pytest.fixture
def third() -> Iterator[CaptureServer]:
    with CaptureServer('127.0.0.1') as server:
        yield server


def fetch_code(*urls: str, login: bool = True) -> str:
    """Pywikibot code that logs in, then fetches each URL with ``http.fetch`` (no site)."""
    lines = ['import pywikibot', 'from pywikibot.comms import http']
    if login:
        lines += ['site = pywikibot.Site()', 'site.login()',
                  'print("USER=" + str(site.user()))']
    for url in urls:
        lines.append(f'print("STATUS", http.fetch({url!r}).status_code)')
    return '\n'.join(lines) + '\n'


# --- through real Pywikibot ---------------------------------------------------------

def test_star_entry_reaches_the_wiki_but_not_a_fetch_without_site(
        pwb_dir_factory, run_pwb, oauth1_consumer, wiki, recorder: CaptureServer) -> None:
    pwb_dir = pwb_dir_factory([f"authenticate['*'] = {oauth1_tuple(oauth1_consumer)}"])
    result = run_pwb(fetch_code(recorder.url('/sparql'),
                                recorder.url('/toolforge', host='localhost')), pwb_dir)
    assert result.returncode == 0, result.stderr
    assert 'USER=BotUser' in result.stdout  # the wiki got the credential
    assert result.stdout.count('STATUS 200') == 2
    assert [request.path for request in recorder.requests] == ['/sparql', '/toolforge']
    assert recorder.authorizations() == [None, None]


def test_entry_for_the_wiki_is_not_sent_to_another_port_or_host(
        pwb_dir_factory, run_pwb, oauth1_consumer, wiki, recorder: CaptureServer) -> None:
    pwb_dir = pwb_dir_factory([
        f'authenticate[{wiki.host!r}] = {oauth1_tuple(oauth1_consumer)}',
        f"authenticate['*.wikipedia.org'] = {oauth1_tuple(oauth1_consumer)}",
        f"authenticate['localhost:{recorder.port + 1}'] = {oauth1_tuple(oauth1_consumer)}",
        f"authenticate['127.0.0.1.example.org'] = {oauth1_tuple(oauth1_consumer)}",
    ])
    result = run_pwb(fetch_code(recorder.url(), recorder.url(host='localhost')), pwb_dir)
    assert result.returncode == 0, result.stderr
    assert 'USER=BotUser' in result.stdout
    # A key with a port matches that port only; look-alike names match nothing.
    assert recorder.authorizations() == [None, None]


def test_matching_entry_is_sent_to_its_host(pwb_dir_factory, run_pwb, oauth1_consumer,
                                            recorder: CaptureServer) -> None:
    """The positive control of the tests around it: a matching entry does arrive."""
    pwb_dir = pwb_dir_factory([
        f"authenticate['127.0.0.1:{recorder.port}'] = {oauth1_tuple(oauth1_consumer)}"])
    result = run_pwb(fetch_code(recorder.url(), login=False), pwb_dir)
    assert result.returncode == 0, result.stderr
    (authorization,) = recorder.authorizations()
    assert authorization is not None and authorization.startswith('OAuth ')
    assert f'oauth_consumer_key="{oauth1_consumer.consumer_key}"' in authorization


@pytest.mark.parametrize('third_host', ['localhost', '127.0.0.1'])
@pytest.mark.parametrize('kind', ['oauth1', 'bearer'])
def test_redirect_to_another_host_drops_authorization(
        pwb_dir_factory, run_pwb, oauth1_consumer, recorder: CaptureServer, third: CaptureServer,
        third_host: str, kind: str) -> None:
    if kind == 'oauth1':
        value = oauth1_tuple(oauth1_consumer)
    else:
        value = f'_oauth.OAuth2(access_token={BEARER!r})'
    pwb_dir = pwb_dir_factory([f"authenticate['127.0.0.1:{recorder.port}'] = {value}"])
    recorder.answer = redirect_elsewhere(third.url('/landed', host=third_host))
    result = run_pwb(fetch_code(recorder.url('/start'), login=False), pwb_dir)
    assert result.returncode == 0, result.stderr
    assert 'STATUS 200' in result.stdout
    (sent,) = recorder.authorizations()
    assert sent is not None  # the first hop had it...
    assert [request.path for request in third.requests] == ['/landed']
    assert third.authorizations() == [None]  # ...the other host does not
    for request in third.requests:
        assert BEARER not in repr(request.headers)
        assert oauth1_consumer.consumer_key not in repr(request.headers)


@pytest.mark.parametrize('kind', ['oauth1', 'bearer'])
def test_redirect_to_another_host_on_the_same_port_drops_authorization(
        pwb_dir_factory, run_pwb, oauth1_consumer, recorder: CaptureServer, kind: str) -> None:
    """127.0.0.1:P redirects to localhost:P: another host, not another port."""
    if kind == 'oauth1':
        value = oauth1_tuple(oauth1_consumer)
    else:
        value = f'_oauth.OAuth2(access_token={BEARER!r})'
    pwb_dir = pwb_dir_factory([f"authenticate['127.0.0.1:{recorder.port}'] = {value}"])
    recorder.answer = redirect_elsewhere(recorder.url('/landed', host='localhost'))
    result = run_pwb(fetch_code(recorder.url('/start'), login=False), pwb_dir)
    assert result.returncode == 0, result.stderr
    by_host = [(request.headers.get('Host', '').split(':')[0], request.path,
                request.headers.get('Authorization')) for request in recorder.requests]
    assert by_host[0][:2] == ('127.0.0.1', '/start') and by_host[0][2]  # the first hop had it
    to_localhost = [entry for entry in by_host if entry[0] == 'localhost']
    assert to_localhost in ([], [('localhost', '/landed', None)])  # never the other host
    for request in recorder.requests[1:]:
        assert BEARER not in repr(request.headers)
        assert oauth1_consumer.consumer_key not in repr(request.headers)


# --- no traffic for secrets over plain http ------------------------------------------

class RecordingAdapter(requests.adapters.BaseAdapter):
    """A transport adapter that records what would be sent and answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response.request = request
        response.url = request.url or ''
        response._content = b'{}'
        return response

    def close(self) -> None:
        pass


class CountingSource:
    """A token source that counts how often its token was asked for."""

    def __init__(self) -> None:
        self.calls = 0

    def token(self) -> str:
        self.calls += 1
        return BEARER


@pytest.fixture
def recording_session() -> tuple[requests.Session, RecordingAdapter]:
    session = requests.Session()
    adapter = RecordingAdapter()
    session.mount('http://', adapter)
    session.mount('https://', adapter)
    return session, adapter


@pytest.mark.parametrize('url', [
    'http://example.org/w/api.php',
    'http://127.0.0.1.example.org/',
    'http://localhost.example.org/',
    'http://10.0.0.1/',
    'http://[2001:db8::1]/',
    'ftp://example.org/',
])
def test_bearer_refused_over_plain_http_before_sending(
        recording_session: tuple[requests.Session, RecordingAdapter], url: str) -> None:
    session, adapter = recording_session
    source = CountingSource()
    with pytest.raises(OAuthFlowError) as info:
        session.get(url, auth=BearerAuth(source))
    assert adapter.sent == []
    assert source.calls == 0  # the token was not even looked at
    assert 'use https' in str(info.value)
    assert BEARER not in str(info.value)


@pytest.mark.parametrize('url', [
    'https://example.org/w/api.php',
    'http://127.0.0.1:8080/w/api.php',
    'http://127.9.9.9/',
    'http://localhost/',
    'http://[::1]:8000/',
])
def test_bearer_sent_over_https_or_loopback(
        recording_session: tuple[requests.Session, RecordingAdapter], url: str) -> None:
    session, adapter = recording_session
    session.get(url, auth=BearerAuth(CountingSource()))
    (sent,) = adapter.sent
    assert sent.headers['Authorization'] == f'Bearer {BEARER}'


def test_bearer_refused_on_prepared_request() -> None:
    request = requests.Request('GET', 'http://example.org/').prepare()
    source = CountingSource()
    with pytest.raises(OAuthFlowError):
        BearerAuth(source)(request)
    assert 'Authorization' not in request.headers
    assert source.calls == 0


def test_bearer_source_not_renewed_for_refused_url(
        recording_session: tuple[requests.Session, RecordingAdapter]) -> None:
    """An expired token is not renewed (a token request) for a URL it may not go to."""
    session, adapter = recording_session
    obtained: list[Any] = []

    def obtain(current: TokenSet | None) -> TokenSet:
        obtained.append(current)
        return TokenSet(BEARER, None, None)

    source = BearerTokenSource(store=None, key=('example.org', 'c', None), obtain=obtain,
                               initial=TokenSet('old', 'refresh', 0.0))
    with pytest.raises(OAuthFlowError):
        session.get('http://example.org/', auth=BearerAuth(source))
    assert obtained == []
    assert adapter.sent == []


class RecordingTransport:
    """A token-endpoint transport that records calls (and must get none)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, data: dict[str, str], headers: dict[str, str]) -> Any:
        self.calls.append((url, data))
        raise AssertionError('no request may be sent')


PLAIN = endpoints_for('http://example.org/w')


@pytest.mark.parametrize('call', [
    lambda t, e: exchange_code(t, e, 'cid', 'client-secret', code='c', code_verifier='v' * 43,
                               redirect_uri=None),
    lambda t, e: refresh(t, e, 'cid', 'client-secret', 'refresh-token'),
    lambda t, e: fetch_client_credentials(t, e, 'cid', 'client-secret'),
], ids=['exchange_code', 'refresh', 'client_credentials'])
@pytest.mark.parametrize('endpoints', [
    PLAIN,
    endpoints_for('http://127.0.0.1.example.org/w'),
    OAuth2Endpoints('https://example.org/a', 'http://example.org/t', 'https://example.org/p'),
], ids=['http', 'loopback-lookalike', 'mixed'])
def test_token_requests_refused_over_plain_http(call: Any, endpoints: OAuth2Endpoints) -> None:
    transport = RecordingTransport()
    with pytest.raises(OAuthFlowError) as info:
        call(transport, endpoints)
    assert transport.calls == []
    assert 'https' in str(info.value)
    assert 'client-secret' not in str(info.value)
    assert 'refresh-token' not in str(info.value)


def test_authorization_url_refused_over_plain_http() -> None:
    with pytest.raises(OAuthFlowError):
        authorization_url(PLAIN, 'cid', redirect_uri=None, state='s', code_challenge='c')


def test_token_request_to_loopback_http_is_allowed() -> None:
    """The loopback exception really lets the request through (control for the above)."""
    transport = RecordingTransport()
    with pytest.raises(AssertionError, match='no request may be sent'):
        fetch_client_credentials(transport, endpoints_for('http://127.0.0.1:9/w'), 'cid', 's')
    assert [url for url, _ in transport.calls] == [
        'http://127.0.0.1:9/w/rest.php/oauth2/access_token']
