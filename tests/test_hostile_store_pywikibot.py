"""A hostile or damaged token store stops Pywikibot at once with our error (issue #10, item 9).

Deep nesting, a record without ``access_secret`` or with an integer secret used to raise
RecursionError, KeyError or TypeError inside the request, which Pywikibot takes as
transient and retries (20 minutes with default settings). Real Pywikibot, in a subprocess.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import PwbDirFactory, RunPwb

from pwb_oauth_ext.errors import shown_id
from pwb_oauth_ext.testwiki.server import RunningWiki

STORE_FILE = 'pwb-oauth-tokens.json'

LOGIN = '''
import pywikibot
try:
    pywikibot.Site().login()
    print('LOGGED IN')
except Exception as exc:
    from pywikibot.exceptions import FatalServerError
    from pwb_oauth_ext import TokenStoreError
    print('KINDS', isinstance(exc, TokenStoreError), isinstance(exc, FatalServerError))
    print('ERROR', type(exc).__name__, exc)
'''

DAMAGED = {
    'no-access-secret': {'protocol': 'oauth1', 'access_token': 'SECRETMARKat'},
    'integer-secret': {'protocol': 'oauth1', 'access_token': 'SECRETMARKat',
                       'access_secret': 12345},
    'deep-nesting': None,
}


@pytest.mark.parametrize('damage', list(DAMAGED))
def test_damaged_store_is_one_clear_error_not_a_retry_loop(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
        damage: str) -> None:
    consumer = wiki.app.register_oauth1_consumer('BotUser', owner_only=True)
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth1('
                               f'{consumer.consumer_key!r}, {consumer.consumer_secret!r})'],
                              extra_lines=['max_retries = 3', 'retry_wait = 1'])
    store = pwb_dir / STORE_FILE
    if DAMAGED[damage] is None:
        raw = '{"version": 1, "entries": ' + '[' * 50000 + ']' * 50000 + '}'
    else:
        raw = json.dumps({'version': 1, 'entries': [{
            'host': wiki.host, 'client_id': consumer.consumer_key, 'account': 'BotUser',
            'record': DAMAGED[damage]}]})
    store.write_text(raw, encoding='utf-8')
    store.chmod(0o600)
    result: Any = run_pwb(LOGIN, pwb_dir)
    text = result.stdout + result.stderr
    assert 'ERROR OAuthTokenStoreError' in result.stdout, text
    assert 'KINDS True True' in result.stdout
    assert f'The token store {store} is damaged' in result.stdout
    if damage != 'deep-nesting':
        assert f'the entry for {wiki.host}, client {shown_id(consumer.consumer_key)}' in text
    for symptom in ('Maximum retries', 'Waiting', 'RecursionError', 'KeyError', 'TypeError',
                    'SECRETMARK'):
        assert symptom not in text, symptom
    assert store.read_text(encoding='utf-8') == raw   # left as it was
