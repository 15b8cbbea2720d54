"""Hostile and malformed input gives a clear error of ours, never a library traceback or a secret.

Config entries and keys, token endpoint answers, identify JWTs and the token store file.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pwb_oauth_ext.config.credentials import BasicAuth, OAuth1, OAuth2, credential_from_config
from pwb_oauth_ext.errors import (
    ConfigError,
    OAuthFlowError,
    ReauthorizationRequired,
    TokenEndpointError,
    TokenStoreError,
)
from pwb_oauth_ext.network.hosts import HostTable, parse_key
from pwb_oauth_ext.protocol.mediawiki import endpoints_for
from pwb_oauth_ext.protocol.oauth2 import (
    exchange_code,
    fetch_client_credentials,
    refresh,
)
from pwb_oauth_ext.protocol.store import TokenStore

MARK = 'SECRETMARK'
MEGABYTE = 'x' * (1 << 20)


def _secret(text: str = '') -> str:
    return f'{MARK}-{text}-value'


# --- config values -------------------------------------------------------------------

@pytest.mark.parametrize('value', [
    (), ('a',), ('a', 'b', 'c'), ('a', 'b', 'c', 'd', 'e'), [_secret()] * 6,
    None, 42, _secret(), {'consumer_key': _secret()}, b'ck',
], ids=repr)
def test_wrong_shapes_name_the_key(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        credential_from_config('en.wikipedia.org', value)
    message = str(info.value)
    assert "authenticate['en.wikipedia.org']" in message
    assert MARK not in message


@pytest.mark.parametrize(('index', 'bad', 'item'), [
    (0, 1, 'item 1 (consumer key)'),
    (1, b'bytes', 'item 2 (consumer secret)'),
    (2, ['list'], 'item 3 (access token)'),
    (3, 3.5, 'item 4 (access secret)'),
    (1, '', 'item 2 (consumer secret) is empty'),
    (1, ' \t\n', 'item 2 (consumer secret) is empty'),
    (1, f' {_secret()}', 'item 2 (consumer secret) has leading or trailing white space'),
    (3, f'{_secret()}\n', 'item 4 (access secret) has leading or trailing white space'),
    (3, f'{_secret()}\u00a0', 'item 4 (access secret) has leading or trailing white space'),
    (1, MEGABYTE + ' ', 'item 2 (consumer secret) has leading or trailing white space'),
])
def test_bad_tuple_items_are_named_without_their_value(index: int, bad: Any, item: str) -> None:
    value = [_secret('ck'), _secret('cs'), _secret('ak'), _secret('as')]
    value[index] = bad
    with pytest.raises(ConfigError) as info:
        credential_from_config('meta.wikimedia.org', tuple(value))
    message = str(info.value)
    assert "authenticate['meta.wikimedia.org']" in message
    assert item in message
    assert MARK not in message
    assert len(message) < 500


def test_unicode_and_huge_secrets_are_accepted_as_written() -> None:
    unicode_secret = 'sécrét-日本語-🔑'
    cred = credential_from_config('k', ('ck', unicode_secret, 'ak', MEGABYTE))
    assert isinstance(cred, OAuth1)
    assert cred.consumer_secret == unicode_secret
    assert len(repr(cred)) < 200


@pytest.mark.parametrize('kwargs', [
    {}, {'access_token': ''}, {'access_token': 5}, {'client_id': ''}, {'client_id': 7},
    {'client_id': 'c', 'grant': 'client_credentials'},
    {'client_id': 'c', 'client_secret': _secret(), 'grant': 'password'},
    {'access_token': f'{_secret()} '}, {'grant': 'owner_only'},
], ids=repr)
def test_bad_oauth2_objects(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        OAuth2(**kwargs)
    assert MARK not in str(info.value)


secret_parts = st.one_of(
    st.text(max_size=30).map(_secret), st.text(max_size=5), st.none(), st.integers(),
    st.binary(max_size=5), st.lists(st.text(max_size=3), max_size=2),
    st.builds(lambda s: f' {_secret(s)} ', st.text(max_size=5)),
)


def _usable_secret(item: Any) -> bool:
    """The rule for a secret given as text: one line, non-empty, no white space around it."""
    return (isinstance(item, str) and item.strip() != '' and item == item.strip()
            and not any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in item))


def _expected_kind(value: list[Any]) -> type | None:
    """What a sequence must become: OAuth1, BasicAuth, or None for a ConfigError."""
    if len(value) == 4 and all(_usable_secret(item) for item in value):
        return OAuth1
    if (len(value) == 2 and isinstance(value[0], str) and value[0]
            and _usable_secret(value[1])):
        return BasicAuth
    return None


@settings(max_examples=300, deadline=None)
@given(st.lists(secret_parts, max_size=6))
@example([_secret('ck'), _secret('cs'), _secret('at'), _secret('as')])
@example(['user', _secret('password')])
@example(['user', f' {_secret("password")}'])
def test_any_sequence_is_a_credential_or_a_config_error(value: list[Any]) -> None:
    expected = _expected_kind(value)
    for shaped in (tuple(value), list(value)):
        try:
            credential = credential_from_config('k.example.org', shaped)
        except ConfigError as exc:
            assert expected is None, f'{len(value)} items refused: {exc}'
            assert "authenticate['k.example.org']" in str(exc)
            assert MARK not in str(exc)
        else:
            assert type(credential) is expected
            public = [value[0], value[2]] if expected is OAuth1 else [value[0]]
            secrets = [value[1], value[3]] if expected is OAuth1 else [value[1]]
            for secret in secrets:  # the generated secrets (short texts could be anywhere)
                if MARK in secret and not any(secret in item for item in public):
                    assert secret not in repr(credential)


@pytest.mark.parametrize('key', [
    '**.org', '*.', '.org', '*foo.org', 'user@', '@en.wikipedia.org', 'a@b@c', '',
    'http://en.wikipedia.org', 'en.wikipedia.org/w', 'en wikipedia.org', 'host:99999',
    'host:port', 'example..org', '*.*.org', 5, None, ('a',),
], ids=repr)
def test_malformed_keys_name_the_key(key: Any) -> None:
    with pytest.raises(ConfigError) as info:
        HostTable({key: OAuth1('ck', _secret(), 'ak', _secret())})
    message = str(info.value)
    assert repr(key) in message
    assert MARK not in message


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=40))
def test_any_key_parses_or_is_a_config_error(key: str) -> None:
    try:
        parsed = parse_key(key)
    except ConfigError as exc:
        assert repr(key) in str(exc)
    else:
        assert parsed.original == key


# --- token endpoint answers ------------------------------------------------------------

class Answer:
    """A transport answer with the attributes oauth2 reads."""

    def __init__(self, status: int, text: str, content_type: str = 'application/json') -> None:
        self.status_code = status
        self.text = text
        self.headers = {'Content-Type': content_type}


CLIENT_SECRET = _secret('client')
REFRESH_TOKEN = _secret('refresh')
ENDPOINTS = endpoints_for('http://127.0.0.1:9/w')
HTML = ('<!DOCTYPE html><html><head><title>Wikimedia Error</title></head><body>'
        '<p>Our servers are currently under maintenance</p></body></html>')

HOSTILE_ANSWERS = [
    Answer(500, HTML, 'text/html'),
    Answer(503, '', 'text/plain'),
    Answer(502, 'Bad Gateway', 'text/plain'),
    Answer(200, HTML, 'text/html'),
    Answer(200, 'OK', 'text/plain'),
    Answer(200, '{"access_token": "abc", "token_type": "Bea'),
    Answer(200, '{}'),
    Answer(200, '[]'),
    Answer(200, 'null'),
    Answer(200, '"just a string"'),
    Answer(200, '{"token_type": "Bearer", "expires_in": 3600}'),
    Answer(200, '{"access_token": 12345, "token_type": "Bearer"}'),
    Answer(200, '{"access_token": "abc", "token_type": "Bearer", "expires_in": "soon"}'),
    Answer(200, '{"access_token": "abc", "token_type": "Bearer", "expires_in": [1]}'),
    Answer(400, '{"error": 5}'),
    Answer(400, '{"error": "invalid_request", "hint": ' + '"h' * 10 + '"}'),
    Answer(401, '{"error": "invalid_client", "message": "Client authentication failed"}'),
    Answer(400, '{"error": "invalid_grant", "error_description": "The refresh token is'
                ' invalid.", "hint": "Token has been revoked"}'),
    Answer(200, '{"access_token": "' + 'a' * (1 << 20) + '", "token_type": "Bearer"'),
    Answer(200, '\udcff\x00binary'),
]


def _calls() -> list[Any]:
    return [
        lambda t: exchange_code(t, ENDPOINTS, 'cid', CLIENT_SECRET, code='code',
                                code_verifier='v' * 43, redirect_uri=None),
        lambda t: refresh(t, ENDPOINTS, 'cid', CLIENT_SECRET, REFRESH_TOKEN),
        lambda t: fetch_client_credentials(t, ENDPOINTS, 'cid', CLIENT_SECRET),
    ]


def _answer_id(answer: Any) -> str:
    answer = answer.values[0] if hasattr(answer, 'values') else answer
    return f'{answer.status_code}-{answer.text[:20]!r}'


CALL_NAMES = ['exchange_code', 'refresh', 'client_credentials']


@pytest.mark.parametrize('answer', HOSTILE_ANSWERS, ids=_answer_id)
@pytest.mark.parametrize(('call_name', 'call'), list(zip(CALL_NAMES, _calls())), ids=CALL_NAMES)
def test_hostile_token_answers_give_our_error(answer: Answer, call_name: str,
                                              call: Any) -> None:
    def transport(url: str, data: dict[str, str], headers: dict[str, str]) -> Answer:
        return answer

    with pytest.raises(OAuthFlowError) as info:
        call(transport)
    message = str(info.value)
    assert MARK not in message
    assert '<html' not in message.lower()
    assert len(message) < 2000
    if answer.status_code != 200 or 'error' in answer.text:
        if call_name == 'refresh' and '"invalid_grant"' in answer.text:
            # a dead refresh token: the wiki's error, turned into "authorize again"
            assert type(info.value) is ReauthorizationRequired
            assert isinstance(info.value.__cause__, TokenEndpointError)
            assert 'pwb-oauth authorize' in message
        else:
            assert type(info.value) is TokenEndpointError, (type(info.value), message)
    else:  # a 200 that is no token answer
        assert type(info.value) is TokenEndpointError, (type(info.value), message)
        assert 'sent an unusable answer' in message


def test_transport_exception_is_not_swallowed_into_a_secret() -> None:
    """A transport that fails raises its own error; our code adds no secret to it."""
    def transport(url: str, data: dict[str, str], headers: dict[str, str]) -> Answer:
        raise ConnectionError('connection refused')

    with pytest.raises(ConnectionError) as info:
        fetch_client_credentials(transport, ENDPOINTS, 'cid', CLIENT_SECRET)
    assert MARK not in str(info.value)


# --- identify JWT (OAuth 1.0a) ------------------------------------------------------

CONSUMER_KEY = 'consumerkey0123456789abcdef'
CONSUMER_SECRET = _secret('consumer' + '0123456789abcdef' * 4)  # 64+ bytes, as HS512 wants
SERVER = 'http://127.0.0.1:8080'
NONCE = 'nonce123'


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {'iss': SERVER, 'sub': '4', 'aud': CONSUMER_KEY, 'exp': now + 100, 'iat': now,
              'nonce': NONCE, 'username': 'BotUser'}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _jwt(claims: dict[str, Any], secret: str = CONSUMER_SECRET, alg: str = 'HS256') -> str:
    import jwt
    return jwt.encode(claims, secret, algorithm=alg)


def _verify(token: str) -> dict[str, Any]:
    handshake = pytest.importorskip('pwb_oauth_ext.protocol.oauth1')
    return handshake.verify_identity(token, consumer_key=CONSUMER_KEY,
                                     consumer_secret=CONSUMER_SECRET, server=SERVER,
                                     nonce=NONCE, leeway=30)


def _alg_none(claims: dict[str, Any]) -> str:
    import base64

    def part(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip('=')
    return f'{part({"alg": "none", "typ": "JWT"})}.{part(claims)}.'


def _tampered(token: str) -> str:
    head, payload, signature = token.split('.')
    return f'{head}.{payload}.{signature[:-2]}{"AA" if not signature.endswith("AA") else "BB"}'


def _payload_swapped(token: str) -> str:
    other = _jwt(_claims(username='Admin'), secret='another secret' * 3)
    return '.'.join([token.split('.')[0], other.split('.')[1], token.split('.')[2]])


def test_valid_identify_jwt_is_accepted() -> None:
    assert _verify(_jwt(_claims()))['username'] == 'BotUser'


HOSTILE_JWTS = {
    'alg-none': lambda: _alg_none(_claims()),
    'tampered-signature': lambda: _tampered(_jwt(_claims())),
    'payload-swapped': lambda: _payload_swapped(_jwt(_claims())),
    'other-secret': lambda: _jwt(_claims(), secret='someone else entirely' * 3),
    'hs512': lambda: _jwt(_claims(), alg='HS512'),
    'wrong-aud': lambda: _jwt(_claims(aud='another consumer')),
    'wrong-iss': lambda: _jwt(_claims(iss='https://evil.example.org')),
    'iss-other-port': lambda: _jwt(_claims(iss='http://127.0.0.1:8081')),
    'expired': lambda: _jwt(_claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
    'iat-future': lambda: _jwt(_claims(iat=int(time.time()) + 3600,
                                       exp=int(time.time()) + 7200)),
    'no-exp': lambda: _jwt(_claims(exp=None)),
    'no-username': lambda: _jwt(_claims(username=None)),
    'empty-username': lambda: _jwt(_claims(username='')),
    'wrong-nonce': lambda: _jwt(_claims(nonce='replayed')),
    'no-nonce': lambda: _jwt(_claims(nonce=None)),
    'garbage': lambda: 'not.a.jwt',
    'empty': lambda: '',
    'huge': lambda: 'a' * (1 << 20) + '.b.c',
}


@pytest.mark.parametrize('name', list(HOSTILE_JWTS))
def test_hostile_identify_jwt_is_refused(name: str) -> None:
    handshake = pytest.importorskip('pwb_oauth_ext.protocol.oauth1')
    token = HOSTILE_JWTS[name]()
    with pytest.raises(handshake.IdentityVerificationError) as info:
        _verify(token)
    assert MARK not in str(info.value)
    assert len(str(info.value)) < 500


# --- token store ------------------------------------------------------------------------

RECORD = {'protocol': 'oauth2', 'access_token': _secret('access'),
          'refresh_token': _secret('refresh'), 'expires_at': 1e10}


@pytest.fixture
def good_store(tmp_path: Path) -> tuple[TokenStore, bytes]:
    store = TokenStore(tmp_path / 'tokens.json')
    store.put('wiki.example', 'client', 'Bot', RECORD)
    return store, store.path.read_bytes()


@pytest.mark.parametrize('damage', [
    lambda good: good[: len(good) // 2],
    lambda good: b'',
    lambda good: b'\xff\xfe\x00garbage',
    lambda good: b'[]',
    lambda good: b'{"version": 1, "entries": [{"host": 1}]}',
    lambda good: b'{"version": 1, "entries": {}}',
    lambda good: json.dumps({**json.loads(good), 'version': 99}).encode(),
    lambda good: good + b'\x00' * 10,
], ids=['truncated', 'empty', 'binary', 'list', 'bad-entry', 'entries-dict', 'future-version',
        'trailing-nul'])
def test_damaged_store_is_a_clear_error_and_left_alone(
        good_store: tuple[TokenStore, bytes], damage: Any) -> None:
    store, good = good_store
    damaged = damage(good)
    store.path.write_bytes(damaged)
    for operation in (lambda: store.get('wiki.example', 'client', 'Bot'),
                      lambda: store.put('other.example', 'c', None, {'access_token': 'x'}),
                      lambda: store.delete('wiki.example', 'client', 'Bot')):
        with pytest.raises(TokenStoreError) as info:
            operation()
        message = str(info.value)
        assert str(store.path) in message
        assert MARK not in message
        assert store.path.read_bytes() == damaged  # never "repaired" by overwriting


def test_failed_write_keeps_last_good_content(good_store: tuple[TokenStore, bytes],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store, good = good_store

    def crash(*args: Any) -> None:
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'replace', crash)
    with pytest.raises(TokenStoreError, match='cannot be written: No space left'):
        store.put('wiki.example', 'client', 'Bot', {**RECORD, 'access_token': 'new'})
    monkeypatch.undo()
    assert store.path.read_bytes() == good
    assert [p.name for p in store.path.parent.iterdir() if p.name.endswith('.tmp')] == []
    assert store.get('wiki.example', 'client', 'Bot') == RECORD


def test_exception_inside_transaction_writes_nothing(
        good_store: tuple[TokenStore, bytes]) -> None:
    store, good = good_store
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put('wiki.example', 'client', 'Bot', {**RECORD, 'access_token': 'half-done'})
        raise RuntimeError('crash mid-renewal')
    assert store.path.read_bytes() == good


WRITER = '''
import sys
from pwb_oauth_ext.protocol.store import TokenStore
store = TokenStore(sys.argv[1])
for _ in range(int(sys.argv[2])):
    with store.transaction() as tx:
        record = tx.get('wiki.example', 'counter', None) or {
            'protocol': 'oauth2', 'access_token': 'counter', 'n': 0}
        record['n'] += 1
        tx.put('wiki.example', 'counter', None, record)
    tx_store = store.get('wiki.example', 'client', 'Bot')
    assert tx_store is not None, 'the other entry vanished'
'''


def test_concurrent_writer_processes_lose_no_update(good_store: tuple[TokenStore, bytes]) -> None:
    store, _good = good_store
    env = {**os.environ, 'PYTHONPATH': str(Path(__file__).resolve().parents[1])}
    writers = [subprocess.Popen([sys.executable, '-c', WRITER, str(store.path), '25'], env=env,
                                stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [(w.wait(timeout=120), w.stderr.read() if w.stderr else '') for w in writers]
    for writer in writers:
        if writer.stderr:
            writer.stderr.close()
    assert errors == [(0, '')] * 4
    assert store.get('wiki.example', 'counter', None)['n'] == 100
    assert store.get('wiki.example', 'client', 'Bot') == RECORD
    json.loads(store.path.read_text(encoding='utf-8'))  # whole, valid JSON


# --- issue #10: token endpoint answers checked field by field ----------------------------

def _ok_answer(**changes: Any) -> Answer:
    body = {'access_token': 'eyJ0eXAi.eyJhdWQi.c2lnbmF0dXJl', 'token_type': 'Bearer',
            'expires_in': 14400, 'refresh_token': 'def50200abc'}
    body.update(changes)
    return Answer(200, json.dumps({k: v for k, v in body.items() if v is not ...}))


UNUSABLE_TOKEN_ANSWERS = {
    'token-type-mac': (_ok_answer(token_type='mac'), 'token_type'),
    'token-type-missing': (_ok_answer(token_type=...), 'token_type'),
    'token-type-number': (_ok_answer(token_type=1), 'token_type'),
    'expires-negative': (_ok_answer(expires_in=-5), 'expires_in'),
    'expires-zero': (_ok_answer(expires_in=0), 'expires_in'),
    'expires-string': (_ok_answer(expires_in='3600'), 'expires_in'),
    'expires-float': (_ok_answer(expires_in=3600.5), 'expires_in'),
    'expires-bool': (_ok_answer(expires_in=True), 'expires_in'),
    'expires-over-10-years': (_ok_answer(expires_in=10 * 365 * 24 * 3600 + 1), 'expires_in'),
    'expires-1e400': (Answer(200, '{"access_token": "abc", "token_type": "Bearer",'
                                  ' "expires_in": 1e400}'), 'expires_in'),
    'access-crlf': (_ok_answer(access_token=f'{MARK}\r\nX-Evil: 1'), 'access_token'),
    'access-space': (_ok_answer(access_token=f'{MARK} x'), 'access_token'),
    'access-empty': (_ok_answer(access_token=''), 'access_token'),
    'access-unicode': (_ok_answer(access_token=f'{MARK}é'), 'access_token'),
    'refresh-integer': (_ok_answer(refresh_token=12345), 'refresh_token'),
    'refresh-crlf': (_ok_answer(refresh_token=f'{MARK}\n'), 'refresh_token'),
    'refresh-empty': (_ok_answer(refresh_token=''), 'refresh_token'),
    'deep-json': (Answer(200, '[' * 100000 + ']' * 100000), 'nested too deeply'),
    'deep-json-object': (Answer(200, '{"a":' * 100000 + '1' + '}' * 100000),
                         'nested too deeply'),
}


@pytest.mark.parametrize('name', list(UNUSABLE_TOKEN_ANSWERS))
@pytest.mark.parametrize('call', _calls(), ids=['exchange_code', 'refresh', 'client_credentials'])
def test_unusable_token_answer_fields_are_named(name: str, call: Any) -> None:
    answer, field = UNUSABLE_TOKEN_ANSWERS[name]
    with pytest.raises(TokenEndpointError) as info:
        call(lambda url, data, headers: answer)
    message = str(info.value)
    assert 'unusable answer' in message and field in message
    assert MARK not in message


@pytest.mark.parametrize('token_type', ['Bearer', 'bearer', 'BEARER'])
def test_a_good_token_answer_is_taken(token_type: str) -> None:
    answer = _ok_answer(token_type=token_type, access_token='a-b_c.d~e+f/g==')
    tokens = fetch_client_credentials(lambda *a: answer, ENDPOINTS, 'cid', CLIENT_SECRET,
                                      now=lambda: 1000.0)
    assert (tokens.access_token, tokens.token_type) == ('a-b_c.d~e+f/g==', 'Bearer')
    assert tokens.expires_at == 1000.0 + 14400
    assert tokens.refresh_token == 'def50200abc'
    no_expiry = fetch_client_credentials(lambda *a: _ok_answer(expires_in=..., refresh_token=...),
                                         ENDPOINTS, 'cid', CLIENT_SECRET)
    assert no_expiry.expires_at is None and no_expiry.refresh_token is None


@pytest.mark.parametrize('status', [301, 302, 303, 307, 308])
def test_token_endpoint_redirect_is_refused_naming_the_target(status: int) -> None:
    answer = Answer(status, '')
    answer.headers['Location'] = 'http://evil.example:8080/steal'
    sent = []

    def transport(url: str, data: dict[str, str], headers: dict[str, str]) -> Answer:
        sent.append(url)
        return answer

    with pytest.raises(OAuthFlowError) as info:
        refresh(transport, ENDPOINTS, 'cid', CLIENT_SECRET, REFRESH_TOKEN)
    assert f'redirect (HTTP {status}) to evil.example' in str(info.value)
    assert ENDPOINTS.token_url in str(info.value)
    assert len(sent) == 1
    assert MARK not in str(info.value)


# --- issue #10: OAuth 1.0a initiate and token answers ---------------------------------

class Body:
    def __init__(self, text: str, status: int = 200,
                 content_type: str = 'text/plain;charset=UTF-8') -> None:
        self.text = text
        self.status_code = status
        self.headers = {'Content-Type': content_type}


GOOD_HANDSHAKE_BODIES = [
    'oauth_token=0123456789abcdef0123456789abcdef&oauth_token_secret=fedcba9876543210'
    'fedcba9876543210&oauth_callback_confirmed=true',
    'oauth_token=abc&oauth_token_secret=def\n',
    '{"key": "abc", "secret": "def", "oauth_callback_confirmed": "true"}',
    '{"key": "abc", "secret": "def"}',
]

BAD_HANDSHAKE_BODIES = {
    'html-page': '<html><body><p>Sorry &oauth_token=abc&oauth_token_secret=def</p></body></html>',
    'html-link': '<a href=x&oauth_token=abc&oauth_token_secret=def>',
    'text-around': 'hello&oauth_token=abc&oauth_token_secret=def',
    'extra-field': 'oauth_token=abc&oauth_token_secret=def&evil=1',
    'empty-token': 'oauth_token=&oauth_token_secret=def',
    'missing-secret': 'oauth_token=abc',
    'duplicate': 'oauth_token=abc&oauth_token=xyz&oauth_token_secret=def',
    'crlf-in-value': 'oauth_token=abc%0D%0AX&oauth_token_secret=def',
    'json-null': '{"key": null, "secret": "def"}',
    'json-number': '{"key": 12, "secret": "def"}',
    'json-empty': '{"key": "", "secret": "def"}',
    'json-extra': '{"key": "abc", "secret": "def", "html": "<p>"}',
    'json-list': '{"key": ["abc"], "secret": "def"}',
    'json-deep': '{"key": ' + '[' * 100000 + ']' * 100000 + '}',
    'empty': '',
}


@pytest.mark.parametrize('text', GOOD_HANDSHAKE_BODIES)
def test_handshake_answers_as_mediawiki_sends_them(text: str) -> None:
    from pwb_oauth_ext.protocol.oauth1 import initiate
    pair = initiate(lambda url, headers: Body(text), 'http://127.0.0.1:9/index.php', 'ck', 'cs')
    assert pair.key and pair.secret
    assert pair.key in text and pair.secret in text


@pytest.mark.parametrize('name', list(BAD_HANDSHAKE_BODIES))
def test_hostile_handshake_answers_are_refused(name: str) -> None:
    from pwb_oauth_ext.protocol.oauth1 import TokenPair, fetch_access_token, initiate
    body = Body(BAD_HANDSHAKE_BODIES[name])
    for step in (lambda post: initiate(post, 'http://127.0.0.1:9/index.php', 'ck', 'cs'),
                 lambda post: fetch_access_token(post, 'http://127.0.0.1:9/index.php', 'ck',
                                                 'cs', TokenPair('rt', 'rs'), 'verifier')):
        with pytest.raises(OAuthFlowError, match='Unexpected answer') as info:
            step(lambda url, headers: body)
        assert 'abc' not in str(info.value)


def test_handshake_redirect_is_refused_naming_the_target() -> None:
    from pwb_oauth_ext.protocol.oauth1 import initiate
    answer = Body('', 307)
    answer.headers['Location'] = 'https://evil.example/initiate'
    with pytest.raises(OAuthFlowError, match=r'redirect \(HTTP 307\) to evil.example'):
        initiate(lambda url, headers: answer, 'http://127.0.0.1:9/index.php', 'ck', 'cs')


# --- issue #10: token store records and files -------------------------------------------

def _store_with_record(tmp_path: Path, record: Any, raw: bytes | None = None) -> TokenStore:
    store = TokenStore(tmp_path / 'tokens.json')
    entry = {'host': 'wiki.example', 'client_id': 'clientid', 'account': 'Bot',
             'record': record}
    store.path.write_bytes(raw if raw is not None else
                           json.dumps({'version': 1, 'entries': [entry]}).encode())
    store.path.chmod(0o600)
    return store


BAD_RECORDS = {
    'oauth1-no-secret': ({'protocol': 'oauth1', 'access_token': 'at'}, 'access_secret'),
    'oauth1-integer-secret': ({'protocol': 'oauth1', 'access_token': 'at', 'access_secret': 5},
                              'access_secret'),
    'oauth1-crlf-token': ({'protocol': 'oauth1', 'access_token': f'{MARK}\r\n',
                           'access_secret': 's'}, 'access_token'),
    'oauth1-identity-list': ({'protocol': 'oauth1', 'access_token': 'a', 'access_secret': 's',
                              'identity': ['x']}, 'identity'),
    'oauth2-no-token': ({'protocol': 'oauth2'}, 'access_token'),
    'oauth2-integer-token': ({'protocol': 'oauth2', 'access_token': 7}, 'access_token'),
    'oauth2-crlf-token': ({'protocol': 'oauth2', 'access_token': f'{MARK}\nX'}, 'access_token'),
    'oauth2-refresh-number': ({'protocol': 'oauth2', 'access_token': 'a', 'refresh_token': 1},
                              'refresh_token'),
    'oauth2-expires-text': ({'protocol': 'oauth2', 'access_token': 'a', 'expires_at': 'soon'},
                            'expires_at'),
    'oauth2-expires-bool': ({'protocol': 'oauth2', 'access_token': 'a', 'expires_at': True},
                            'expires_at'),
    'oauth2-mac': ({'protocol': 'oauth2', 'access_token': 'a', 'token_type': 'mac'},
                   'token_type'),
    'unknown-protocol': ({'protocol': 'oauth3', 'access_token': 'a'}, 'protocol'),
    'no-protocol-no-token': ({'refresh_token': 'r'}, 'access_token'),
}


@pytest.mark.parametrize('name', list(BAD_RECORDS))
def test_bad_record_is_a_store_error_naming_file_and_entry(tmp_path: Path, name: str) -> None:
    record, field = BAD_RECORDS[name]
    store = _store_with_record(tmp_path, record)
    with pytest.raises(TokenStoreError) as info:
        store.get('wiki.example', 'clientid', 'Bot')
    message = str(info.value)
    assert str(store.path) in message
    assert 'wiki.example, client clientid,' in message and 'account Bot' in message
    assert field in message
    assert MARK not in message


def test_deeply_nested_store_is_a_store_error(tmp_path: Path) -> None:
    store = _store_with_record(tmp_path, None, b'{"version": 1, "entries": ' + b'[' * 100000
                               + b']' * 100000 + b'}')
    with pytest.raises(TokenStoreError, match='nested too deeply'):
        store.entries()


def test_invalid_record_is_not_written(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / 'tokens.json')
    with pytest.raises(ValueError, match='access_secret'):
        store.put('h', 'c', None, {'protocol': 'oauth1', 'access_token': 'a'})
    assert not store.path.exists()


POSIX_ONLY = pytest.mark.skipif(os.name == 'nt', reason='POSIX symlinks and owners')


@POSIX_ONLY
@pytest.mark.parametrize('dangling', [False, True])
def test_symlink_at_the_lock_path_is_refused_and_not_followed(
        tmp_path: Path, dangling: bool) -> None:
    store = TokenStore(tmp_path / 'tokens.json')
    target = tmp_path / 'victim.txt'
    if not dangling:
        target.write_text('precious', encoding='utf-8')
        target.chmod(0o644)
    Path(str(store.path) + '.lock').symlink_to(target)
    with pytest.raises(TokenStoreError) as info:
        store.put('h', 'c', None, RECORD)
    assert 'symbolic link' in str(info.value) and f'{store.path}.lock' in str(info.value)
    if dangling:
        assert not target.exists()          # not created through the link
    else:
        assert target.read_text(encoding='utf-8') == 'precious'   # not truncated
        assert stat.S_IMODE(target.stat().st_mode) == 0o644        # nor chmodded
    assert not store.path.exists()


@POSIX_ONLY
def test_symlink_at_the_store_path_is_refused(tmp_path: Path) -> None:
    real = TokenStore(tmp_path / 'real.json')
    real.put('wiki.example', 'client', 'Bot', RECORD)
    link = tmp_path / 'tokens.json'
    link.symlink_to(real.path)
    with pytest.raises(TokenStoreError, match='symbolic link'):
        TokenStore(link).get('wiki.example', 'client', 'Bot')


@POSIX_ONLY
@pytest.mark.parametrize('which', ['store', 'lock'])
def test_store_or_lock_of_another_user_is_refused(
        tmp_path: Path, which: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TokenStore(tmp_path / 'tokens.json')
    store.put('wiki.example', 'client', 'Bot', RECORD)
    path = store.path if which == 'store' else Path(str(store.path) + '.lock')
    if os.geteuid() == 0:
        os.chown(path, 65534, -1)
    else:  # cannot give a file away: be someone else instead
        own = os.geteuid()
        monkeypatch.setattr(os, 'geteuid', lambda: own + 1)
        if which == 'lock':
            os.utime(store.path)
    with pytest.raises(TokenStoreError) as info:
        store.put('wiki.example', 'client', 'Bot', {**RECORD, 'access_token': 'new'})
    assert str(path) in str(info.value) and 'another user' in str(info.value)
    if which == 'store':
        with pytest.raises(TokenStoreError, match='another user'):
            store.get('wiki.example', 'client', 'Bot')


def test_os_errors_become_store_errors_with_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / 'not-a-directory'
    blocker.write_text('', encoding='utf-8')
    store = TokenStore(blocker / 'tokens.json')
    for operation in (lambda: store.put('h', 'c', None, RECORD), lambda: store.entries()):
        with pytest.raises(TokenStoreError) as info:
            operation()
        assert str(blocker) in str(info.value)
    directory_store = TokenStore(tmp_path / 'tokens.json')
    directory_store.path.mkdir()
    with pytest.raises(TokenStoreError, match='not a regular file'):
        directory_store.get('h', 'c', None)


@pytest.mark.parametrize('token', [f'{MARK}\r\nX-Evil: 1', f'{MARK} x', '', f'{MARK}\x00'])
def test_bearer_auth_refuses_a_token_a_header_cannot_carry(token: str) -> None:
    """The last line of defence: whatever a token source gives, no header is built from it."""
    import requests

    from pwb_oauth_ext.protocol.auth import BearerAuth

    class Source:
        def token(self) -> str:
            return token

    request = requests.Request('GET', 'https://wiki.example/w/api.php').prepare()
    with pytest.raises(OAuthFlowError, match='characters a token cannot have') as info:
        BearerAuth(Source())(request)
    assert 'Authorization' not in request.headers
    assert MARK not in str(info.value)
