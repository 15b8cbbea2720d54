"""Real Pywikibot with OAuth 2.0 credentials against the local test wiki.

Each test writes a Pywikibot dir whose user-config.py holds an ``OAuth2(...)``
entry, runs a small bot in a subprocess and checks what the user sees: the
bot's output, its exit status, what the wiki received and what the token
store holds. The wiki runs in this process, so the tests also read its
OAuth 2.0 provider (token requests, revocations) directly.
"""
from __future__ import annotations

import stat
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import PYWIKIBOT_PYTHON, RESULT, result_of, save_page_bot

from pwb_oauth_ext.protocol.store import TokenStore
from pwb_oauth_ext.protocol.tokens import TokenSet
from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment
from pwb_oauth_ext.testwiki.server import RunningWiki

STORE_FILE = 'pwb-oauth-tokens.json'
CALLBACK = 'http://127.0.0.1:8765/oauth2/callback'

#: Prints what the bot saw as one JSON line; failures propagate as Pywikibot shows them.
SAVE_ONE_PAGE = save_page_bot(
    'OAuth 2.0 test',
    "{'user': site.user(), 'text': pywikibot.Page(site, sys.argv[1]).get(force=True)}")


@pytest.fixture
def seen(wiki: RunningWiki) -> Iterator[Callable[[], list[tuple[str, str, str]]]]:
    """(method, path, Authorization scheme) of every request the wiki got so far in the test.

    For api.php the path is followed by the action and meta: ``/api.php?query&userinfo``.
    """
    def described(req: Any) -> tuple[str, str, str]:
        path = req.path
        if path == '/api.php':
            path += f"?{req.params.get('action', '')}&{req.params.get('meta', '')}"
        return req.method, path, req.authorization.split(' ', 1)[0]

    with wiki.app.watch() as exchanges:
        yield lambda: [described(x.request) for x in exchanges]


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

@pytest.mark.contract
def test_owner_only_token_logs_in_saves_and_logs_out(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any,
        seen: Callable[[], list[tuple[str, str, str]]]) -> None:
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
    requests = seen()
    api_calls = [entry for entry in requests if entry[1].startswith('/api.php')]
    assert api_calls == requests, 'an owner-only token needs no token endpoint'
    assert all(method == 'POST' and scheme == 'Bearer' for method, _, scheme in api_calls), (
        api_calls)
    actions = [path.split('?', 1)[1].split('&', 1)[0] for _, path, _ in api_calls]
    assert 'edit' in actions
    assert not {'login', 'clientlogin', 'logout'} & set(actions)
    assert client.owner_only_token not in output_of(proc)


def test_owner_only_login_is_one_userinfo_request(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any,
        seen: Callable[[], list[tuple[str, str, str]]]) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    pwb_dir = pwb_dir_factory([oauth2_line(wiki.host, access_token=client.owner_only_token)],
                              username=None)
    code = textwrap.dedent('''
        import json
        import pywikibot
        site = pywikibot.Site()
        site.login()
        site.login()
        print('RESULT ' + json.dumps({'user': site.user(), 'logged_in': site.logged_in()}))
    ''')
    result = result_of(run_pwb(code, pwb_dir))
    assert result == {'user': 'BotUser', 'logged_in': True}
    userinfo = [entry for entry in seen() if entry[1].startswith('/api.php?query&')
                and 'userinfo' in entry[1]]
    assert userinfo == [('POST', '/api.php?query&userinfo', 'Bearer')]


@pytest.mark.contract
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


# --- 2. client credentials -------------------------------------------------------

def test_client_credentials_token_is_fetched_stored_reused_and_renewed(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any) -> None:
    provider = wiki.app.oauth2
    client = provider.register_client('BotUser', owner_only=True)
    pwb_dir = pwb_dir_factory([oauth2_line(wiki.host, client_id=client.client_id,
                                           client_secret=client.client_secret,
                                           grant='client_credentials')])
    fetched = provider.token_requests['client_credentials']

    def save(text: str) -> subprocess.CompletedProcess[str]:
        proc = run_pwb(SAVE_ONE_PAGE, pwb_dir, 'OAuth2 client credentials page', text)
        assert result_of(proc) == {'user': 'BotUser', 'text': text}
        assert_no_secret(output_of(proc), client.client_secret, client.owner_only_token)
        return proc

    # First use: one token request, the token kept in a private store file.
    save('first')
    assert provider.token_requests['client_credentials'] == fetched + 1
    store_file = pwb_dir / STORE_FILE
    assert stat.S_IMODE(store_file.stat().st_mode) == 0o600
    first = stored(pwb_dir, wiki, client.client_id)
    assert first is not None and first.expires_at is not None
    assert client.client_secret not in store_file.read_text()

    # Another process reuses it.
    save('second')
    assert provider.token_requests['client_credentials'] == fetched + 1

    # Expired by our own clock: fetched again before use.
    age_stored_token(pwb_dir, wiki, client.client_id)
    save('third')
    assert provider.token_requests['client_credentials'] == fetched + 2
    second = stored(pwb_dir, wiki, client.client_id)
    assert second is not None and second.access_token != first.access_token
    assert not second.expired(time.time())

    # Still valid here but dead on the wiki: refused once, renewed once, retried.
    provider.revoke_grant(client.client_id, 'BotUser')
    save('fourth')
    assert provider.token_requests['client_credentials'] == fetched + 3
    third = stored(pwb_dir, wiki, client.client_id)
    assert third is not None and third.access_token != second.access_token


TWO_WIKIS = '''
import json, sys
import pywikibot
for family in ('testwiki', 'otherhost'):
    site = pywikibot.Site(family, family)
    page = pywikibot.Page(site, 'OAuth2 one key, two hosts')
    page.text = family
    page.save(summary='test', bot=True)
print('RESULT ' + json.dumps({'saved': True}))
'''


def test_a_wildcard_entry_keeps_one_token_per_wiki(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any) -> None:
    """One '*:PORT' entry, two wikis (127.0.0.1 and localhost): each gets its own token."""
    provider = wiki.app.oauth2
    client = provider.register_client('BotUser', owner_only=True)
    other_host = f'localhost:{wiki.port}'
    pwb_dir = pwb_dir_factory(
        [oauth2_line(f'*:{wiki.port}', client_id=client.client_id,
                     client_secret=client.client_secret, grant='client_credentials')],
        extra_lines=[f"family_files['otherhost'] = 'http://{other_host}/api.php'",
                     "usernames['otherhost']['otherhost'] = 'BotUser'"])
    fetched = provider.token_requests['client_credentials']
    proc = run_pwb(TWO_WIKIS, pwb_dir)
    assert result_of(proc) == {'saved': True}
    assert provider.token_requests['client_credentials'] == fetched + 2
    store = TokenStore(pwb_dir / STORE_FILE)
    assert store.get(wiki.host, client.client_id, 'BotUser') is not None
    assert store.get(other_host, client.client_id, 'BotUser') is not None


# --- authorization code grants ---------------------------------------------------

def authorized_bot_dir(wiki: RunningWiki, pwb_dir_factory: Callable[..., Path],
                       user: str = 'BotUser') -> tuple[Path, Any, TokenSet]:
    """A Pywikibot dir with an authorization-code grant of ``user`` in its token store.

    What ``pwb-oauth authorize`` leaves behind: a confidential client in
    user-config.py and the tokens of the user's consent in the store.
    """
    client = wiki.app.oauth2.register_client(user, confidential=True, redirect_uri=CALLBACK)
    tokens = authorization_code_grant(wiki, client, user, redirect_uri=CALLBACK)
    pwb_dir = pwb_dir_factory([oauth2_line(wiki.host, client_id=client.client_id,
                                           client_secret=client.client_secret)],
                              username=user)
    TokenStore(pwb_dir / STORE_FILE).put(wiki.host, client.client_id, user, tokens.to_record())
    return pwb_dir, client, tokens


def live_refresh_token(wiki: RunningWiki, token: str | None) -> bool:
    """True when the wiki would still accept this refresh token."""
    record = wiki.app.oauth2.refresh_tokens.get(token or '')
    return record is not None and record.revoked_at is None


# --- 3. refresh across expiry ----------------------------------------------------------

KEEP_SAVING = '''
import json, sys, time
import pywikibot
site = pywikibot.Site()
site.login()
deadline = time.monotonic() + float(sys.argv[1])
saved = []
while time.monotonic() < deadline or len(saved) < 3:
    page = pywikibot.Page(site, 'OAuth2 long-running bot')
    text = f'revision {len(saved)}'
    page.text = text
    page.save(summary='keeps running')
    saved.append(pywikibot.Page(site, 'OAuth2 long-running bot').get(force=True) == text)
    time.sleep(0.5)
print('RESULT ' + json.dumps({'user': site.user(), 'saved': saved}))
'''


def test_a_running_bot_refreshes_its_token_without_an_error(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    provider = wiki.app.oauth2
    monkeypatch.setattr(provider, 'access_token_ttl', 3)
    pwb_dir, client, tokens = authorized_bot_dir(wiki, pwb_dir_factory)
    refreshes = provider.token_requests['refresh_token']

    proc = run_pwb(KEEP_SAVING, pwb_dir, '8')

    result = result_of(proc)
    assert result['user'] == 'BotUser'
    assert len(result['saved']) >= 3 and all(result['saved'])
    assert proc.returncode == 0, proc.stderr
    assert provider.token_requests['refresh_token'] > refreshes
    now_stored = stored(pwb_dir, wiki, client.client_id)
    assert now_stored is not None
    assert now_stored.refresh_token != tokens.refresh_token
    assert live_refresh_token(wiki, now_stored.refresh_token)
    assert not live_refresh_token(wiki, tokens.refresh_token)
    assert_no_secret(output_of(proc), client.client_secret, tokens.refresh_token,
                     now_stored.refresh_token, now_stored.access_token)


def test_short_lived_tokens_are_not_refreshed_on_every_request(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A wiki with 30 s access tokens: a bot that saves 5 pages at once refreshes at most once."""
    provider = wiki.app.oauth2
    monkeypatch.setattr(provider, 'access_token_ttl', 30)
    pwb_dir, _, _ = authorized_bot_dir(wiki, pwb_dir_factory)
    refreshes = provider.token_requests['refresh_token']

    proc = run_pwb(KEEP_SAVING.replace('time.sleep(0.5)', ''), pwb_dir, '0')

    saved = result_of(proc)['saved']
    assert len(saved) >= 3 and all(saved)
    assert provider.token_requests['refresh_token'] <= refreshes + 1


# --- 4. many processes, one expired grant ---------------------------------------------

def test_eight_bots_on_one_expired_grant_refresh_it_once(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path]) -> None:
    provider = wiki.app.oauth2
    pwb_dir, client, tokens = authorized_bot_dir(wiki, pwb_dir_factory)
    age_stored_token(pwb_dir, wiki, client.client_id)
    refreshes = provider.token_requests['refresh_token']

    env = pywikibot_environment(pwb_dir)
    bots = [subprocess.Popen([PYWIKIBOT_PYTHON, '-c', SAVE_ONE_PAGE,
                              f'OAuth2 crowd page {n}', f'bot {n} was here'],
                             cwd=str(pwb_dir), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, encoding='utf-8')
            for n in range(8)]
    outcomes = [bot.communicate(timeout=120) for bot in bots]

    for n, (bot, (stdout, stderr)) in enumerate(zip(bots, outcomes)):
        proc = subprocess.CompletedProcess(bot.args, bot.returncode, stdout, stderr)
        assert result_of(proc) == {'user': 'BotUser', 'text': f'bot {n} was here'}
        assert bot.returncode == 0, stderr
    assert provider.token_requests['refresh_token'] == refreshes + 1
    now_stored = stored(pwb_dir, wiki, client.client_id)
    assert now_stored is not None and live_refresh_token(wiki, now_stored.refresh_token)
    assert now_stored.refresh_token != tokens.refresh_token


# --- 5. a revoked grant --------------------------------------------------------------

def test_a_revoked_grant_stops_the_bot_with_the_command_to_run(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any) -> None:
    provider = wiki.app.oauth2
    pwb_dir, client, tokens = authorized_bot_dir(wiki, pwb_dir_factory)
    age_stored_token(pwb_dir, wiki, client.client_id)
    provider.revoke_grant(client.client_id, 'BotUser')
    (pwb_dir / 'savepage.py').write_text(SAVE_ONE_PAGE.replace('sys.argv[1]', "'Revoked'")
                                         .replace('sys.argv[2]', "'never saved'"))
    edits = len(wiki.app.requests_for('edit'))

    pwb = Path(PYWIKIBOT_PYTHON).with_name('pwb')
    if not pwb.exists():
        pytest.skip(f'no pwb console script beside {PYWIKIBOT_PYTHON}')
    proc = run_pwb(None, pwb_dir, str(pwb), 'savepage')

    assert proc.returncode != 0
    assert RESULT not in proc.stdout
    assert len(wiki.app.requests_for('edit')) == edits
    last_lines = '\n'.join(proc.stderr.strip().splitlines()[-3:])
    assert 'pwb-oauth authorize -site:testwiki:testwiki' in last_lines
    # Our message alone ends the run (no traceback, see test_operator_experience).
    assert last_lines.splitlines()[-1].startswith('ERROR: ') and 'revoked' in last_lines
    assert 'Traceback' not in proc.stderr
    assert_no_secret(output_of(proc), client.client_secret, tokens.refresh_token,
                     tokens.access_token)


# --- 6. endpoints --------------------------------------------------------------------

def test_token_endpoint_is_derived_from_the_script_path_and_can_be_overridden(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any,
        seen: Callable[[], list[tuple[str, str, str]]]) -> None:
    provider = wiki.app.oauth2
    client = provider.register_client('BotUser', owner_only=True)
    credentials = {'client_id': client.client_id, 'client_secret': client.client_secret,
                   'grant': 'client_credentials'}

    derived = pwb_dir_factory([oauth2_line(wiki.host, **credentials)])
    result_of(run_pwb(SAVE_ONE_PAGE, derived, 'OAuth2 endpoint page', 'derived'))
    assert ('POST', '/rest.php/oauth2/access_token', '') in seen()

    # The override names the same wiki by another host name, so the request shows which
    # URL was used (an override equal to the derived URL would prove nothing).
    port = wiki.host.rsplit(':', 1)[1]
    overridden = pwb_dir_factory([oauth2_line(
        wiki.host, token_url=f'http://localhost:{port}/rest.php/oauth2/access_token',
        **credentials)])
    fetched = provider.token_requests['client_credentials']
    with wiki.app.watch() as exchanges:
        result = result_of(run_pwb(SAVE_ONE_PAGE, overridden, 'OAuth2 endpoint page',
                                   'override'))
    assert result == {'user': 'BotUser', 'text': 'override'}
    assert provider.token_requests['client_credentials'] == fetched + 1
    assert [x.request.headers['host'] for x in exchanges
            if x.request.path == '/rest.php/oauth2/access_token'] == [f'localhost:{port}']


def test_a_wrong_token_endpoint_override_is_named_in_the_error(
        wiki: RunningWiki, pwb_dir_factory: Callable[..., Path], run_pwb: Any) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    wrong = f'{wiki.url}/w/rest.php/oauth2/access_token'
    pwb_dir = pwb_dir_factory([oauth2_line(
        wiki.host, client_id=client.client_id, client_secret=client.client_secret,
        grant='client_credentials', token_url=wrong)])
    edits = len(wiki.app.requests_for('edit'))

    proc = run_pwb(SAVE_ONE_PAGE, pwb_dir, 'OAuth2 wrong endpoint', 'never saved')

    assert proc.returncode != 0
    assert len(wiki.app.requests_for('edit')) == edits
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"ERROR: authenticate['{wiki.host}']:")
    assert wrong in last_line and '404' in last_line
    assert_no_secret(output_of(proc), client.client_secret, client.owner_only_token)
