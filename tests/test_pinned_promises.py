"""Promises a mutation audit found unpinned (issue 23), as a bot operator meets them.

Real Pywikibot processes against the local test wiki, with real token stores:
a 4-hour token is renewed in its last minute, not an hour early; one entry with the
grants of two accounts edits as each site's own account in one process; the identity
check compares user names exactly after MediaWiki's normalisation (first letter only).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import RESULT, authenticate_line, result_of, save_page_bot

from pwb_oauth_ext.protocol.mediawiki import endpoints_for
from pwb_oauth_ext.protocol.oauth2 import (
    BearerTokenSource,
    TokenSet,
    make_obtain,
    requests_transport,
)
from pwb_oauth_ext.protocol.store import TokenStore
from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.server import RunningWiki

STORE_FILE = 'pwb-oauth-tokens.json'
CALLBACK = 'http://127.0.0.1:8765/oauth2/callback'
FOUR_HOURS = 4 * 3600.0   # Wikimedia's access token lifetime (and the test wiki's default)

SAVE = save_page_bot('pinned promise')


def oauth2_entry(wiki: RunningWiki, client: Any) -> str:
    return (f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
            f' client_secret={client.client_secret!r})')


def grant(wiki: RunningWiki, client: Any, user: str) -> TokenSet:
    """What ``pwb-oauth authorize`` leaves: the tokens of ``user``'s consent (4 hours)."""
    tokens = authorization_code_grant(wiki, client, user, redirect_uri=CALLBACK)
    assert tokens.expires_at is not None and tokens.obtained_at is not None
    assert round(tokens.expires_at - tokens.obtained_at) == FOUR_HOURS
    return tokens


# --- 3. renewed within the last minute of a 4-hour token, not earlier -----------------

def store_dated(store: TokenStore, key: tuple, tokens: TokenSet, left: float) -> None:
    """Store ``tokens`` as a 4-hour token obtained so that ``left`` seconds remain."""
    now = time.time()
    record = tokens.to_record()
    record['expires_at'] = now + left
    record['obtained_at'] = now + left - FOUR_HOURS
    store.put(*key, record)


def test_a_bot_renews_a_4_hour_token_in_its_last_minute_not_an_hour_before(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any) -> None:
    """The store's dates say how long the token has left; the bot runs at that moment."""
    wiki.app.add_bot('RenewBot')
    client = wiki.app.oauth2.register_client('RenewBot', confidential=True,
                                             redirect_uri=CALLBACK)
    pwb_dir = pwb_dir_factory([oauth2_entry(wiki, client)], username='RenewBot')
    store = TokenStore(pwb_dir / STORE_FILE)
    key = (wiki.host, client.client_id, 'RenewBot')
    tokens = grant(wiki, client, 'RenewBot')
    refreshes = wiki.app.oauth2.token_requests['refresh_token']

    # One hour left of four (half the lifetime is long gone): the token is used as it is.
    store_dated(store, key, tokens, left=3600)
    assert result_of(run_pwb(SAVE, pwb_dir, 'Renewal 1', 'an hour left')) == 'RenewBot'
    assert wiki.app.oauth2.token_requests['refresh_token'] == refreshes
    assert store.get(*key)['access_token'] == tokens.access_token

    # Thirty seconds left: renewed once before the first request, and the new pair stored.
    store_dated(store, key, tokens, left=30)
    assert result_of(run_pwb(SAVE, pwb_dir, 'Renewal 2', 'half a minute left')) == 'RenewBot'
    assert wiki.app.oauth2.token_requests['refresh_token'] == refreshes + 1
    renewed = store.get(*key)
    assert renewed['access_token'] != tokens.access_token
    assert renewed['expires_at'] > time.time() + FOUR_HOURS - 600
    assert wiki.wiki.pages['Renewal 2'].revisions[-1].user == 'RenewBot'


def test_the_minute_before_expiry_is_the_edge_on_the_stores_clock(
        wiki: RunningWiki, tmp_path: Path) -> None:
    """The same with the clock of the token source: 61 s left is kept, 59 s left renews."""
    wiki.app.add_bot('EdgeBot')
    client = wiki.app.oauth2.register_client('EdgeBot', confidential=True,
                                             redirect_uri=CALLBACK)
    tokens = grant(wiki, client, 'EdgeBot')
    assert tokens.expires_at is not None
    store = TokenStore(tmp_path / STORE_FILE)
    key = (wiki.host, client.client_id, 'EdgeBot')
    store.put(*key, tokens.to_record())
    clock = [tokens.expires_at - 3600]
    source = BearerTokenSource(
        store=store, key=key, now=lambda: clock[0],
        obtain=make_obtain(requests_transport(), endpoints_for(wiki.url), client.client_id,
                           client.client_secret, reauthorize_hint='authorize again',
                           now=lambda: clock[0]))
    refreshes = wiki.app.oauth2.token_requests['refresh_token']
    for left in (3600, 1800, 600, 61):
        clock[0] = tokens.expires_at - left
        assert source.token() == tokens.access_token, f'renewed with {left} s left'
    assert wiki.app.oauth2.token_requests['refresh_token'] == refreshes
    clock[0] = tokens.expires_at - 59
    assert source.token() != tokens.access_token
    assert wiki.app.oauth2.token_requests['refresh_token'] == refreshes + 1


# --- 4. the site's account chooses the grant, in one process ---------------------------

EDIT_AS_EACH = f'''
import json, sys
import pywikibot
done = []
for user in sys.argv[1:]:
    site = pywikibot.Site('testwiki', 'testwiki', user=user)
    site.login()
    page = pywikibot.Page(site, 'One entry, two accounts: ' + user)
    page.text = 'saved by ' + user + ' after ' + repr(done)
    page.save(summary='as myself')
    done.append([user, site.user()])
print({RESULT!r} + json.dumps(done))
'''


def test_one_entry_with_grants_of_two_accounts_edits_as_each_sites_account(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any) -> None:
    for user in ('AliceBot', 'BobBot'):
        wiki.app.add_bot(user)
    client = wiki.app.oauth2.register_client('AliceBot', confidential=True,
                                             redirect_uri=CALLBACK)
    pwb_dir = pwb_dir_factory([oauth2_entry(wiki, client)], username='AliceBot')
    store = TokenStore(pwb_dir / STORE_FILE)
    for user in ('AliceBot', 'BobBot'):
        store.put(wiki.host, client.client_id, user, grant(wiki, client, user).to_record())
    run = run_pwb(EDIT_AS_EACH, pwb_dir, 'AliceBot', 'BobBot', 'AliceBot')
    assert result_of(run) == [['AliceBot', 'AliceBot'], ['BobBot', 'BobBot'],
                              ['AliceBot', 'AliceBot']], run.stderr[-3000:]
    pages = wiki.wiki.pages
    assert [r.user for r in pages['One entry, two accounts: AliceBot'].revisions] \
        == ['AliceBot', 'AliceBot']
    assert [r.user for r in pages['One entry, two accounts: BobBot'].revisions] == ['BobBot']


# --- 5. the identity check: exact after MediaWiki's normalisation ----------------------

WHO = f'''
import json, sys
import pywikibot
site = None
try:
    site = pywikibot.Site()   # its login already proves the identity
    site.login()
    page = pywikibot.Page(site, 'Identity check ' + sys.argv[1])
    page.text = 'saved'
    page.save(summary='identity')
    print({RESULT!r} + json.dumps({{'user': site.user()}}))
except Exception as exc:
    print({RESULT!r} + json.dumps({{'error': type(exc).__name__, 'text': str(exc),
                                    'user': site and site.user()}}))
'''


@pytest.mark.parametrize('configured', ['BOTUSER', 'Botuser', 'BotUSER', 'Bot User'])
def test_a_user_name_that_differs_after_its_first_letter_is_another_account(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any,
        configured: str) -> None:
    """MediaWiki user names are case-sensitive after the first letter: BotUser's token
    is not BOTUSER's; the bot must stop, naming both, and edit nothing."""
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                              username=configured)
    result = result_of(run_pwb(WHO, pwb_dir, configured))
    assert result['error'] == 'OAuthIdentityError', result
    assert f"belongs to 'BotUser', but the configured user is {configured!r}" \
        in result['text']
    assert result['user'] is None
    assert f'Identity check {configured}' not in wiki.wiki.pages   # nothing was saved


def test_a_lower_case_first_letter_is_the_same_account(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                              username='botUser')
    assert result_of(run_pwb(WHO, pwb_dir, 'lower case')) == {'user': 'BotUser'}
    assert wiki.wiki.pages['Identity check lower case'].revisions[-1].user == 'BotUser'
