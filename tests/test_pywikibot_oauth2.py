"""Real Pywikibot with OAuth 2.0 credentials against the local test wiki.

Each test writes a Pywikibot dir whose user-config.py holds an ``OAuth2(...)``
entry, runs a small bot in a subprocess and checks what the user sees: the
bot's output, its exit status, what the wiki received and what the token
store holds. The wiki runs in this process, so the tests also read its
OAuth 2.0 provider (token requests, revocations) directly.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urljoin

import pytest

from conftest import PYWIKIBOT_PYTHON
from pwb_oauth_ext.oauth2 import (
    TokenSet,
    authorization_url,
    endpoints_for,
    exchange_code,
    make_pkce_pair,
    parse_redirect,
    requests_transport,
)
from pwb_oauth_ext.store import TokenStore
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment
from pwb_oauth_ext.testwiki.server import RunningWiki

STORE_FILE = 'pwb-oauth-tokens.json'
CALLBACK = 'http://127.0.0.1:8765/oauth2/callback'
RESULT = 'RESULT '

#: Prints what the bot saw as one JSON line; failures propagate as Pywikibot shows them.
SAVE_ONE_PAGE = '''
import json, sys
import pywikibot
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, sys.argv[1])
page.text = sys.argv[2]
page.save(summary='OAuth 2.0 test')
print('RESULT ' + json.dumps({'user': site.user(),
                               'text': pywikibot.Page(site, sys.argv[1]).get(force=True)}))
'''


@pytest.fixture
def seen(wiki: RunningWiki, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """(method, path, Authorization scheme) of every request the wiki gets during the test."""
    app = wiki.app
    original = app.dispatch
    log: list[tuple[str, str, str]] = []

    def recording_dispatch(req: Any) -> Any:
        log.append((req.method, req.path, req.authorization.split(' ', 1)[0]))
        return original(req)

    monkeypatch.setattr(app, 'dispatch', recording_dispatch)
    return log


def result_of(proc: subprocess.CompletedProcess[str]) -> dict:
    """The RESULT line the bot printed; fails with the bot's output if there is none."""
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise AssertionError(f'no result (exit {proc.returncode})\nstdout:\n{proc.stdout}\n'
                         f'stderr:\n{proc.stderr}')


def output_of(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def assert_no_secret(text: str, *secrets: str | None) -> None:
    for secret in secrets:
        if secret:
            assert secret not in text


def oauth2_line(key: str, **kwargs: str) -> str:
    """``authenticate[key] = _oauth.OAuth2(**kwargs)`` as user-config.py source."""
    args = ', '.join(f'{name}={value!r}' for name, value in kwargs.items())
    return f'authenticate[{key!r}] = _oauth.OAuth2({args})'


def read_store(pwb_dir: Path) -> dict:
    return json.loads((pwb_dir / STORE_FILE).read_text())


def stored(pwb_dir: Path, wiki: RunningWiki, client_id: str,
           account: str | None = 'BotUser') -> TokenSet | None:
    record = TokenStore(pwb_dir / STORE_FILE).get(wiki.host, client_id, account)
    return TokenSet.from_record(record) if record is not None else None


def age_stored_token(pwb_dir: Path, wiki: RunningWiki, client_id: str,
                     account: str | None = 'BotUser') -> None:
    """Make the stored access token expired by the bot's own clock."""
    store = TokenStore(pwb_dir / STORE_FILE)
    with store.transaction() as tx:
        record = tx.get(wiki.host, client_id, account)
        assert record is not None, 'nothing stored for that grant'
        record['expires_at'] = time.time() - 3600
        tx.put(wiki.host, client_id, account, record)


# --- 1. owner-only bearer token -----------------------------------------------

def test_owner_only_token_logs_in_saves_and_logs_out(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any,
        seen: list[tuple[str, str, str]]) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    pwb_dir = pwb_dir_factory([oauth2_line(wiki.host, access_token=client.owner_only_token)])
    code = textwrap.dedent('''
        import json
        import pywikibot
        site = pywikibot.Site()
        site.login()
        out = {'user': site.user(), 'oauth': site.is_oauth_token_available(),
               'logged_in': site.logged_in()}
        page = pywikibot.Page(site, 'OAuth2 owner-only page')
        page.text = 'saved with a bearer token'
        page.save(summary='owner-only OAuth 2.0')
        out['text'] = pywikibot.Page(site, 'OAuth2 owner-only page').get(force=True)
        site.logout()
        out['after_logout'] = site.logged_in()
        out['oauth_after_logout'] = site.is_oauth_token_available()
        print('RESULT ' + json.dumps(out))
    ''')
    proc = run_pwb(code, pwb_dir)
    result = result_of(proc)
    assert result == {'user': 'BotUser', 'oauth': True, 'logged_in': True,
                      'text': 'saved with a bearer token', 'after_logout': False,
                      'oauth_after_logout': False}
    assert proc.returncode == 0
    api_calls = [entry for entry in seen if entry[1] == '/api.php']
    assert api_calls, 'the bot sent nothing to api.php'
    assert all(entry == ('POST', '/api.php', 'Bearer') for entry in api_calls), api_calls
    assert wiki.app.requests_for('logout') == []
    assert wiki.app.requests_for('login') == [] and wiki.app.requests_for('clientlogin') == []
    assert client.owner_only_token not in output_of(proc)
    edits = [entry for entry in wiki.app.requests_for('edit')]
    assert edits


def test_owner_only_tampered_token_is_refused_by_name(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    token = client.owner_only_token
    tampered = token[:-6] + ('AAAAAA' if not token.endswith('AAAAAA') else 'BBBBBB')
    pwb_dir = pwb_dir_factory([oauth2_line(wiki.host, access_token=tampered)])
    code = textwrap.dedent('''
        import pywikibot
        from pwb_oauth_ext import OAuthAuthorizationError
        from pywikibot.exceptions import NoUsernameError
        try:
            pywikibot.Site().login()
        except OAuthAuthorizationError as exc:
            print('RESULT ' + __import__('json').dumps(
                {'message': str(exc), 'nousername': isinstance(exc, NoUsernameError)}))
    ''')
    proc = run_pwb(code, pwb_dir)
    result = result_of(proc)
    assert result['nousername'] is True
    assert f"authenticate[{wiki.host!r}]" in result['message']
    assert 'Invalid access token' in result['message']
    assert_no_secret(output_of(proc), tampered, token)
