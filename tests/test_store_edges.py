"""Issue 20 items 2, 10, 11 and 14: store URLs, odd files, hostile token answers, old keys."""
from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from pwb_oauth_ext.errors import ConfigError, TokenEndpointError, TokenStoreError
from pwb_oauth_ext.protocol.mediawiki import endpoints_for
from pwb_oauth_ext.protocol.oauth2 import refresh
from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
from pwb_oauth_ext.protocol.stores.urls import StoreURL

PASSWORDS = ['Tr0ub4dor/3x', 'a#b', 'q?x=1', 'p/a#s?s:w@rd', 'Tr0ub4dor/3x#?@']


# -- item 2: a password with / # ? is the password, and never shown ------------------------

@pytest.mark.parametrize('password', PASSWORDS)
def test_a_store_url_password_runs_to_the_last_at_sign(password: str) -> None:
    url = StoreURL(f'postgresql://bot:{password}@db.example:5433/tokens?sslmode=require')
    assert (url.username, url.password, url.host, url.port, url.path) == \
        ('bot', password, 'db.example', 5433, '/tokens')
    assert url.query == [('sslmode', 'require')]
    sa_url = url.sqlalchemy_url()
    assert (sa_url.password, sa_url.host, sa_url.port, sa_url.database) == \
        (password, 'db.example', 5433, 'tokens')
    assert url.masked() == 'postgresql://bot:***@db.example:5433/tokens'


@pytest.mark.parametrize('password', PASSWORDS)
def test_no_store_url_error_shows_the_password(password: str) -> None:
    for url in (f'postgresql://bot:{password}@db.example:54x3/tokens',
                f'postgresql://bot:{password}@/',
                f'mysql://bot:{password}@db.example:99999/tokens',
                f'redis-x://bot:{password}@db.example/0'):
        with pytest.raises(ConfigError) as info:
            StoreURL(url)
        assert password not in str(info.value), url
        for piece in password.split('/') + password.split('#') + password.split('?'):
            if len(piece) > 3:
                assert piece not in str(info.value), url


def test_check_json_never_echoes_a_store_url(wiki: Any, pwb_dir_factory: Any,
                                             run_pwb: Any) -> None:
    password = 'Tr0ub4dor/3x#y?z'
    pwb_dir = pwb_dir_factory([f"_oauth.enable(token_store="
                               f"'postgresql://bot:{password}@127.0.0.1:1/tokens')"])
    result = run_pwb(None, pwb_dir, '-m', 'pwb_oauth_ext.commands.main', 'check', '--json')
    output = result.stdout + result.stderr
    assert 'Tr0ub4dor' not in output and '3x#y' not in output, output
    assert json.loads(result.stdout)['token_store'] == 'postgresql://bot:***@127.0.0.1:1/tokens'


# -- item 10: a FIFO at the store path is refused, not waited on -------------------------

def test_a_fifo_at_the_store_path_is_refused_at_once(tmp_path: Path) -> None:
    path = tmp_path / 'tokens.json'
    os.mkfifo(path, 0o600)
    outcome: list[BaseException] = []

    def find() -> None:
        try:
            TokenStore(path).find(GrantKey('wiki.example', 'cid', 'Bot'))
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=find, daemon=True)
    reader.start()
    reader.join(20)
    if reader.is_alive():   # unblock the reader so the test process can end
        with open(os.open(path, os.O_WRONLY | os.O_NONBLOCK), 'wb'):
            pass
        pytest.fail('TokenStore.find blocked on a FIFO')
    assert outcome and isinstance(outcome[0], TokenStoreError)
    assert 'is not a regular file' in str(outcome[0])


# -- item 11: a JWT-shaped token nested too deeply: one clear TokenEndpointError ------------

def test_a_deeply_nested_jwt_access_token_is_an_endpoint_error() -> None:
    payload = base64.urlsafe_b64encode(
        ('{"a":' * 100000 + '1' + '}' * 100000).encode()).decode().rstrip('=')
    token = f'eyJhbGciOiJub25lIn0.{payload}.c2ln'
    sent = []

    class Answer:
        status_code = 200
        headers = {'Content-Type': 'application/json'}
        text = json.dumps({'access_token': token, 'token_type': 'Bearer', 'expires_in': 3600,
                           'refresh_token': 'RT-2'})

    def transport(url: str, data: dict, headers: dict) -> Any:
        sent.append(url)
        return Answer()

    with pytest.raises(TokenEndpointError, match='access_token is a JWT whose payload is'
                                                 ' nested too deeply'):
        refresh(transport, endpoints_for('http://127.0.0.1:9/w'), 'cid', 'secret', 'RT-1')
    assert len(sent) == 1


# -- item 14: a version-1 store of a wiki at an IPv6 literal ---------------------------------

@pytest.mark.parametrize('stored, looked_up', [
    ('::1:8080', '[::1]:8080'), ('::1', '[::1]'), ('fe80::2:443', '[fe80::2]:443'),
    ('127.0.0.1:8080', '127.0.0.1:8080'), ('wiki.example', 'wiki.example')])
def test_a_version_1_key_of_an_ipv6_wiki_is_found(tmp_path: Path, stored: str,
                                                  looked_up: str) -> None:
    path = tmp_path / 'tokens.json'
    path.write_text(json.dumps({'version': 1, 'entries': [
        {'host': stored, 'client_id': 'cid', 'account': 'Bot',
         'record': {'access_token': 'AT-1'}}]}))
    path.chmod(0o600)
    store = TokenStore(path)
    assert store.find(GrantKey(looked_up, 'cid', 'Bot'))[1] == {'access_token': 'AT-1'}
    assert store.find(GrantKey(looked_up, 'cid', None))[1] == {'access_token': 'AT-1'}



def test_pywikibot_stops_at_one_refresh_with_a_deeply_nested_jwt(
        wiki: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    """Before: RecursionError in the subject check, three token requests, ApiTimeoutError."""
    from conftest import save_page_bot

    from pwb_oauth_ext.testwiki.browser import authorization_code_grant

    provider = wiki.app.oauth2
    callback = 'http://127.0.0.1:9/callback'
    client = provider.register_client('BotUser', confidential=True, redirect_uri=callback)
    tokens = authorization_code_grant(wiki, client, 'BotUser', redirect_uri=callback)
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                               f'client_id={client.client_id!r},'
                               f' client_secret={client.client_secret!r})'])
    record = tokens.to_record()
    record['expires_at'] = 1.0
    TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(
        GrantKey(wiki.host, client.client_id, 'BotUser'), record)
    payload = base64.urlsafe_b64encode(
        ('{"a":' * 100000 + '1' + '}' * 100000).encode()).decode().rstrip('=')
    original = provider.rest.access_token

    def nested(req: Any) -> Any:
        response = original(req)
        if req.form.get('grant_type') == 'refresh_token':
            body = json.loads(response.body)
            body['access_token'] = f'eyJhbGciOiJub25lIn0.{payload}.c2ln'
            response.body = json.dumps(body).encode()
        return response

    before = provider.token_requests['refresh_token']
    provider.rest.access_token = nested
    try:
        result = run_pwb(save_page_bot('nested'), pwb_dir, 'Nested JWT', 'x')
    finally:
        provider.rest.access_token = original
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'access_token is a JWT whose payload is nested too deeply' in output, output[-3000:]
    assert 'RecursionError' not in output and 'ApiTimeoutError' not in output
    assert provider.token_requests['refresh_token'] == before + 1
