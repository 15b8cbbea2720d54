"""Grants, not hosts: one stored grant per (central wiki, consumer, account), shared by a farm.

Real Pywikibot in subprocesses against a test farm (a central wiki on 127.0.0.1 and
two wikis on 127.0.0.2 and 127.0.0.3), plus unit tests of the store format and the
grant choice.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYWIKIBOT_PYTHON, result_of

from pwb_oauth_ext.config.credentials import OAuth2
from pwb_oauth_ext.errors import GrantChoiceError, OAuthFlowError
from pwb_oauth_ext.protocol.grants import central_wiki_of, same_owner
from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
from pwb_oauth_ext.protocol.tokens import BearerTokenSource, TokenSet
from pwb_oauth_ext.testwiki.browser import authorization_code_grant, consent
from pwb_oauth_ext.testwiki.farm import RunningFarm, run_test_farm
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment, write_pywikibot_dir

STORE_FILE = 'pwb-oauth-tokens.json'
USER = 'FarmBot'

SAVE_ON = '''
import json, sys
import pywikibot
saved = {}
for family in sys.argv[1].split(','):
    site = pywikibot.Site(family, family)
    site.login()
    page = pywikibot.Page(site, sys.argv[2])
    page.text = f'{sys.argv[3]} on {family}'
    page.save(summary='farm test')
    saved[family] = site.user()
print('RESULT ' + json.dumps(saved))
'''


def shown(identifier: str) -> str:
    """A client id or consumer key as messages show it: first 6 and last 4."""
    return f'{identifier[:6]}...{identifier[-4:]}'


# -- the store: format 2, and files written by the release before grants ----------------------

#: What pwb_oauth_ext wrote before grants (format 1, keyed by wiki host), literally:
#: `authorize` without -user stored account None (with the verified identity in the record).
VERSION_1_FILE = {
    'version': 1,
    'entries': [
        {'host': '127.0.0.1:8080', 'client_id': 'cid-1', 'account': 'BotUser',
         'record': {'protocol': 'oauth2', 'access_token': 'AT-1', 'refresh_token': 'RT-1',
                    'expires_at': 2000.0, 'token_type': 'Bearer', 'obtained_at': 1000.0}},
        {'host': 'en.wikipedia.org', 'client_id': 'ck-2', 'account': None,
         'record': {'protocol': 'oauth1', 'access_token': 'AK', 'access_secret': 'AS',
                    'identity': 'HandshakeUser'}},
        {'host': 'de.wikipedia.org', 'client_id': 'cid-3', 'account': None,
         'record': {'protocol': 'oauth2', 'access_token': 'AT-3', 'refresh_token': None,
                    'expires_at': 5000.0, 'token_type': 'Bearer', 'obtained_at': 1000.0}},
    ],
}


def write_version_1(path: Path) -> None:
    path.write_text(json.dumps(VERSION_1_FILE, indent=1, sort_keys=True))
    path.chmod(0o600)


def test_a_version_1_store_is_read_as_it_is_and_upgraded_on_the_next_write(
        tmp_path: Path) -> None:
    path = tmp_path / STORE_FILE
    write_version_1(path)
    store = TokenStore(path)

    # Read as it is: the host is the central wiki; an unset account with a verified
    # identity belongs to that identity.
    assert store.get(GrantKey('127.0.0.1:8080', 'cid-1', 'BotUser'))['access_token'] == 'AT-1'
    assert store.find(GrantKey('en.wikipedia.org', 'ck-2', None))[0] == GrantKey(
        'en.wikipedia.org', 'ck-2', 'HandshakeUser')
    assert store.find(GrantKey('de.wikipedia.org', 'cid-3', 'AnyBot'))[1]['access_token'] == 'AT-3'
    assert json.loads(path.read_text())['version'] == 1   # reading writes nothing

    store.put(GrantKey('meta.wikimedia.org', 'cid-4', 'BotUser'), {'access_token': 'AT-4'})

    data = json.loads(path.read_text())
    assert data['version'] == 2
    assert sorted((e['central_wiki'], e['client_id'], e['account'], e['record'].get('access_token'))
                  for e in data['entries']) == [
        ('127.0.0.1:8080', 'cid-1', 'BotUser', 'AT-1'),
        ('de.wikipedia.org', 'cid-3', None, 'AT-3'),
        ('en.wikipedia.org', 'ck-2', 'HandshakeUser', 'AK'),
        ('meta.wikimedia.org', 'cid-4', 'BotUser', 'AT-4')]
    assert not list(tmp_path.glob('.*.tmp'))


def test_several_accounts_and_none_chosen_is_an_error_listing_them(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / STORE_FILE)
    store.put(GrantKey('meta.wikimedia.org', 'cid', 'BotA'), {'access_token': 'a'})
    store.put(GrantKey('meta.wikimedia.org', 'cid', 'BotB'), {'access_token': 'b'})
    with pytest.raises(GrantChoiceError) as info:
        store.find(GrantKey('meta.wikimedia.org', 'cid', None))
    message = str(info.value)
    assert "'BotA', 'BotB'" in message and 'meta.wikimedia.org' in message
    assert '-user:BotA' in message and 'usernames[' in message
    assert store.find(GrantKey('meta.wikimedia.org', 'cid', 'BotB'))[1] == {'access_token': 'b'}


def test_the_central_wiki_is_meta_for_wikimedia_and_the_wiki_itself_otherwise() -> None:
    entry = OAuth2(client_id='cid')
    assert central_wiki_of(entry, 'https://de.wikipedia.org/w', wikimedia=True).script_url \
        == 'https://meta.wikimedia.org/w'
    assert central_wiki_of(entry, 'https://wiki.example.org/w', wikimedia=False).host \
        == 'wiki.example.org'
    farm_entry = OAuth2(client_id='cid', central_wiki='central.example.org:8443')
    central = central_wiki_of(farm_entry, 'https://a.example.org/w', wikimedia=True)
    assert (central.host, central.script_url) == (
        'central.example.org:8443', 'https://central.example.org:8443/w')


def _jwt(sub: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps({'sub': sub}).encode()).decode().rstrip('=')
    return f'eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln'


def test_a_renewed_token_of_another_user_is_not_stored(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / STORE_FILE)
    key = GrantKey('wiki.example', 'cid', 'BotUser')
    store.put(key, TokenSet(_jwt('7'), 'RT-1', 1.0).to_record())
    checked = same_owner(lambda current: TokenSet(_jwt('8'), 'RT-2', 9e9), key.describe)
    source = BearerTokenSource(store=store, key=key, obtain=checked)
    with pytest.raises(OAuthFlowError, match='belongs to another wiki user'):
        source.token()
    assert store.get(key)['refresh_token'] == 'RT-1'


# -- the farm ---------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def farm() -> Iterator[RunningFarm]:
    with run_test_farm(('wiki1', 'wiki2')) as running:
        running.farm.add_bot(USER)
        running.farm.add_bot('Owner')
        yield running


def farm_dir(tmp_path: Path, farm: RunningFarm, entries: list[str],
             username: str | None = None) -> Path:
    """A Pywikibot dir whose families wiki1 and wiki2 are the farm's wikis."""
    wiki1, wiki2 = farm.wikis['wiki1'], farm.wikis['wiki2']
    directory = write_pywikibot_dir(
        tmp_path / 'pwb', wiki1, username=None,
        authenticate_lines=['import pwb_oauth_ext as _oauth', '_oauth.enable()', *entries],
        extra_lines=[f"family_files['wiki1'] = '{wiki1.api_url}'",
                     f"family_files['wiki2'] = '{wiki2.api_url}'",
                     "family = 'wiki1'", "mylang = 'wiki1'"]
        + ([f"usernames['wiki1']['wiki1'] = '{username}'",
            f"usernames['wiki2']['wiki2'] = '{username}'"] if username else []))
    return directory


def run(pwb_dir: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYWIKIBOT_PYTHON, '-c', code, *args], cwd=str(pwb_dir),
                          env=pywikibot_environment(pwb_dir), capture_output=True, text=True,
                          encoding='utf-8', timeout=180, check=False)


def authorize(pwb_dir: Path, farm: RunningFarm, url_pattern: str, *options: str,
              user: str = USER) -> tuple[int, str]:
    """Run ``pwb-oauth authorize -site:wiki1:wiki1 --paste``, approving as ``user``."""
    proc = subprocess.Popen(
        [sys.executable, '-m', 'pwb_oauth_ext.commands.main', 'authorize', '-site:wiki1:wiki1',
         '--no-browser', '--paste', *options], cwd=str(pwb_dir),
        env=pywikibot_environment(pwb_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding='utf-8')
    assert proc.stdout is not None and proc.stdin is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith('http') and url_pattern in line:
            redirect = consent(farm.central, user, line.strip())
            proc.stdin.write(redirect + '\n')
            proc.stdin.flush()
            break
    out, err = proc.communicate(timeout=120)
    return proc.returncode, ''.join(lines) + out + err


def test_oauth2_one_authorize_without_user_serves_every_wiki_and_refreshes_once(
        tmp_path: Path, farm: RunningFarm) -> None:
    provider = farm.oauth2
    callback = 'https://bot.example/callback'
    client = farm.farm.register_oauth2_client(USER, confidential=True, redirect_uri=callback)
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth2("
        f"client_id={client.client_id!r}, client_secret={client.client_secret!r},"
        f" redirect_uri={callback!r}, central_wiki={farm.central.host!r})"])

    # usernames unset, no -user: one authorization on the central wiki.
    status, output = authorize(pwb_dir, farm, '/rest.php/oauth2/authorize')
    assert status == 0, output
    assert f'Authorized as {USER}; token stored in' in output
    assert f'{farm.central.url}/rest.php/oauth2/authorize' in output
    [grant] = TokenStore(pwb_dir / STORE_FILE).entries()
    assert grant[0] == GrantKey(farm.central.host, client.client_id, USER)

    # Authorizing again says so and stores nothing new.
    status, output = authorize(pwb_dir, farm, '/rest.php/oauth2/authorize')
    assert status == 1 and 'already stored' in output and '--force' in output

    # Both wikis use the grant: no token request at save time; the user is the grant's.
    requests_before = sum(provider.token_requests.values())
    saved = result_of(run(pwb_dir, SAVE_ON, 'wiki1,wiki2', 'Farm page', 'one grant'))
    assert saved == {'wiki1': USER, 'wiki2': USER}
    assert sum(provider.token_requests.values()) == requests_before
    assert farm.wikis['wiki1'].wiki.pages['Farm page'].revisions[-1].user == USER
    assert farm.wikis['wiki2'].wiki.pages['Farm page'].revisions[-1].text == 'one grant on wiki2'
    assert 'Farm page' not in farm.central.wiki.pages

    # Expired: 8 processes over both wikis, exactly one refresh.
    store = TokenStore(pwb_dir / STORE_FILE)
    with store.transaction() as tx:
        record = tx.get(grant[0])
        record['expires_at'] = time.time() - 3600
        tx.put(grant[0], record)
    refreshes = provider.token_requests['refresh_token']
    env = pywikibot_environment(pwb_dir)
    bots = [subprocess.Popen([PYWIKIBOT_PYTHON, '-c', SAVE_ON, f'wiki{1 + n % 2}',
                              f'Crowd {n}', f'bot {n}'], cwd=str(pwb_dir), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             encoding='utf-8') for n in range(8)]
    for n, bot in enumerate(bots):
        assert result_of(bot, timeout=180) == {f'wiki{1 + n % 2}': USER}
    assert provider.token_requests['refresh_token'] == refreshes + 1


def test_client_credentials_one_token_request_for_a_farm(tmp_path: Path,
                                                         farm: RunningFarm) -> None:
    provider = farm.oauth2
    client = farm.farm.register_oauth2_client(USER, owner_only=True)
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth2("
        f"client_id={client.client_id!r}, client_secret={client.client_secret!r},"
        f" grant='client_credentials', central_wiki={farm.central.host!r})"])
    before = provider.token_requests['client_credentials']
    saved = result_of(run(pwb_dir, SAVE_ON, 'wiki1,wiki2,wiki1', 'CC page', 'cc'))
    assert saved == {'wiki1': USER, 'wiki2': USER}
    assert provider.token_requests['client_credentials'] == before + 1
    assert [key for key, _ in TokenStore(pwb_dir / STORE_FILE).entries()] == [
        GrantKey(farm.central.host, client.client_id, USER)]
    # Another process, with the user configured this time, finds the grant: no request.
    with (pwb_dir / 'user-config.py').open('a') as config:
        config.write(f"usernames['wiki2']['wiki2'] = {USER!r}\n")
    saved = result_of(run(pwb_dir, SAVE_ON, 'wiki2', 'CC page', 'cc again'))
    assert saved == {'wiki2': USER}
    assert provider.token_requests['client_credentials'] == before + 1

    # check: per site the grant and who shares it; --all lists the grant once.
    with (pwb_dir / 'user-config.py').open('a') as config:
        config.write(f"usernames['wiki1']['wiki1'] = {USER!r}\n")
    check = subprocess.run([sys.executable, '-m', 'pwb_oauth_ext.commands.main', 'check', '--all'],
                           cwd=str(pwb_dir), env=pywikibot_environment(pwb_dir),
                           capture_output=True, text=True, timeout=120, check=False)
    lines = check.stdout.splitlines()
    grant = f'{USER} on {farm.central.host}, client {shown(client.client_id)}, expires '
    assert sum(line.strip().startswith(f'grant:       {grant}') for line in lines) == 2, lines
    assert '  shared with: wiki2:wiki2' in lines and '  shared with: wiki1:wiki1' in lines
    [listed] = [line for line in lines if line.startswith(f'  {grant}')]
    assert listed.endswith('used by wiki1:wiki1, wiki2:wiki2')
    assert client.client_secret not in check.stdout


def test_oauth1_one_handshake_for_a_farm(tmp_path: Path, farm: RunningFarm) -> None:
    consumer = farm.farm.register_oauth1_consumer('Owner', owner_only=False,
                                                  callback='https://bot.example/cb')
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth1("
        f"{consumer.consumer_key!r}, {consumer.consumer_secret!r},"
        f" central_wiki={farm.central.host!r})"])
    status, output = authorize(pwb_dir, farm, 'Special%3AOAuth%2Fauthorize')
    assert status == 0, output
    assert f'Authorized as {USER}' in output
    assert [key for key, _ in TokenStore(pwb_dir / STORE_FILE).entries()] == [
        GrantKey(farm.central.host, consumer.consumer_key, USER)]
    assert farm.farm.central.requests_for('Special:OAuth/identify')
    saved = result_of(run(pwb_dir, SAVE_ON, 'wiki1,wiki2', 'OAuth1 farm page', 'signed'))
    assert saved == {'wiki1': USER, 'wiki2': USER}
    check = subprocess.run([sys.executable, '-m', 'pwb_oauth_ext.commands.main', 'check',
                            '-site:wiki2:wiki2'], cwd=str(pwb_dir),
                           env=pywikibot_environment(pwb_dir), capture_output=True, text=True,
                           timeout=120, check=False)
    lines = check.stdout.splitlines()
    assert f'  grant:       {USER} on {farm.central.host}, client' \
           f' {shown(consumer.consumer_key)}, does not expire' in lines, lines
    assert '  grants:      basic, highvolume, editpage, createeditmovepage' in lines, lines


def test_a_consumer_for_one_wiki_used_on_another_names_both(tmp_path: Path,
                                                            farm: RunningFarm) -> None:
    consumer = farm.farm.register_oauth1_consumer(USER, owner_only=True, wiki='wiki1')
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = "
        f"({consumer.consumer_key!r}, {consumer.consumer_secret!r},"
        f" {consumer.access_token!r}, {consumer.access_secret!r})"], username=USER)
    assert result_of(run(pwb_dir, SAVE_ON, 'wiki1', 'One wiki', 'ok')) == {'wiki1': USER}
    proc = run(pwb_dir, SAVE_ON, 'wiki2', 'One wiki', 'refused')
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert 'The authorization headers in your request are not valid for wiki2' in output
    assert 'registered for a single wiki, not for wiki2:wiki2 (127.0.0.3)' in output
    assert 'Register a consumer for all wikis' in output
    assert "add an authenticate entry for '127.0.0.3'" in output
    assert consumer.consumer_secret not in output


SITE_A_CONTEXT_TO_WIKI_B = '''
import json, sys
import pywikibot
from pywikibot.comms import http
from pwb_oauth_ext.integration.context import site_in_flight
site_a = pywikibot.Site('wiki1', 'wiki1')
site_in_flight.set(site_a)    # a request made while site A is in flight
response = http.fetch(sys.argv[1] + '?action=query&meta=userinfo&format=json')
print('RESULT ' + json.dumps(response.json()['query']['userinfo']['name']))
'''


def test_a_request_to_wiki_b_in_site_a_context_sends_b_secret_only_to_b(
        tmp_path: Path, farm: RunningFarm) -> None:
    """Wiki A (127.0.0.2) stands in for a capture server: it must see no token request."""
    client_b = farm.farm.register_oauth2_client(USER, owner_only=True)
    wiki_a, wiki_b = farm.wikis['wiki1'], farm.wikis['wiki2']
    owner_only_a = farm.farm.register_oauth2_client('Owner', owner_only=True)
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = _oauth.OAuth2(access_token="
        f"{owner_only_a.owner_only_token!r})",
        f"authenticate['127.0.0.3'] = _oauth.OAuth2(client_id={client_b.client_id!r},"
        f" client_secret={client_b.client_secret!r}, grant='client_credentials')"],
        username='Owner')
    with wiki_a.app.watch() as seen_by_a, wiki_b.app.watch() as seen_by_b:
        result = result_of(run(pwb_dir, SITE_A_CONTEXT_TO_WIKI_B, wiki_b.api_url))
    assert result == USER
    assert not [x for x in seen_by_a if 'oauth2' in x.request.path]
    assert not [x for x in seen_by_a if client_b.client_secret.encode() in x.request.body]
    assert [x.request.path for x in seen_by_b if 'oauth2' in x.request.path] == [
        '/rest.php/oauth2/access_token']


WIKIMEDIA_GRANTS = '''
import json
import pywikibot
from pwb_oauth_ext.integration import facade as adapter
adapter.install()
grants = {}
for family, code in (('wikipedia', 'de'), ('wikipedia', 'en'), ('commons', 'commons')):
    site = adapter.site_without_login(family, code, None)
    url = adapter.site_url(site)
    central, key = adapter.resolver.grant_of(adapter.resolver.match(url, None), None, url, site)
    grants[f'{family}:{code}'] = [central.script_url, *key]
print('RESULT ' + json.dumps(grants))
'''


def test_wikimedia_wikis_share_one_grant_on_meta(tmp_path: Path) -> None:
    """No network: any request Pywikibot tried would go to a dead loopback proxy."""
    pwb_dir = tmp_path / 'pwb'
    pwb_dir.mkdir()
    config = pwb_dir / 'user-config.py'
    config.write_text('import pwb_oauth_ext as _oauth\n_oauth.enable()\npassword_file = None\n'
                      "authenticate['*.wikipedia.org'] = authenticate['commons.wikimedia.org'] = "
                      "_oauth.OAuth2(client_id='cid', client_secret='cs')\n")
    config.chmod(0o600)
    env = {**pywikibot_environment(pwb_dir), 'HTTPS_PROXY': 'http://127.0.0.1:9',
           'HTTP_PROXY': 'http://127.0.0.1:9', 'NO_PROXY': '', 'no_proxy': ''}
    proc = subprocess.run([PYWIKIBOT_PYTHON, '-c', WIKIMEDIA_GRANTS], cwd=str(pwb_dir), env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    meta = ['https://meta.wikimedia.org/w', 'meta.wikimedia.org', 'cid', None]
    assert result_of(proc) == {'wikipedia:de': meta, 'wikipedia:en': meta,
                               'commons:commons': meta}


def test_a_grant_stored_per_host_by_the_release_before_grants_keeps_working(
        tmp_path: Path, farm: RunningFarm) -> None:
    """A version 1 file keyed by the wiki's host: used as it is, upgraded at the refresh.

    That release authorized at the wiki itself, so wiki1 issued the grant and renews it
    (a farm wiki refuses another wiki's refresh token, farm-1.43/).
    """
    wiki1 = farm.wikis['wiki1']
    provider = wiki1.app.oauth2
    callback = 'https://bot.example/callback'
    client = farm.farm.register_oauth2_client(USER, confidential=True, redirect_uri=callback)
    tokens = authorization_code_grant(wiki1, client, USER, redirect_uri=callback)
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = _oauth.OAuth2(client_id={client.client_id!r},"
        f" client_secret={client.client_secret!r}, central_wiki={farm.central.host!r})"])
    path = pwb_dir / STORE_FILE
    # Exactly what the previous release wrote (TokenSet.to_record under 'host').
    path.write_text(json.dumps({'version': 1, 'entries': [
        {'host': wiki1.host, 'client_id': client.client_id, 'account': USER,
         'record': tokens.to_record()}]}, indent=1, sort_keys=True))
    path.chmod(0o600)
    before = sum(provider.token_requests.values())

    assert result_of(run(pwb_dir, SAVE_ON, 'wiki1', 'Old store', 'v1')) == {'wiki1': USER}
    assert sum(provider.token_requests.values()) == before
    assert json.loads(path.read_text())['version'] == 1
    # check reports the grant the runtime used: the one under the wiki's own host.
    check = subprocess.run([sys.executable, '-m', 'pwb_oauth_ext.commands.main', 'check',
                            '-site:wiki1:wiki1'], cwd=str(pwb_dir),
                           env=pywikibot_environment(pwb_dir), capture_output=True, text=True,
                           timeout=120, check=False)
    assert f'  grant:       {USER} on {wiki1.host}, client {shown(client.client_id)}, expires' \
        in check.stdout, check.stdout + check.stderr
    assert sum(provider.token_requests.values()) == before

    record = tokens.to_record()
    record['expires_at'] = time.time() - 3600
    data = json.loads(path.read_text())
    data['entries'][0]['record'] = record
    path.write_text(json.dumps(data))
    central_refreshes = farm.oauth2.token_requests['refresh_token']
    assert result_of(run(pwb_dir, SAVE_ON, 'wiki1', 'Old store', 'refreshed')) == {'wiki1': USER}
    assert provider.token_requests['refresh_token'] == 1
    assert farm.oauth2.token_requests['refresh_token'] == central_refreshes
    data = json.loads(path.read_text())
    assert data['version'] == 2
    [entry] = data['entries']
    assert (entry['central_wiki'], entry['client_id'], entry['account']) == (
        wiki1.host, client.client_id, USER)
    assert entry['record']['refresh_token'] != tokens.refresh_token


def test_authorize_force_replaces_the_stored_grant(tmp_path: Path, farm: RunningFarm) -> None:
    callback = 'https://bot.example/callback'
    client = farm.farm.register_oauth2_client(USER, confidential=True, redirect_uri=callback)
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = _oauth.OAuth2(client_id={client.client_id!r},"
        f" client_secret={client.client_secret!r}, redirect_uri={callback!r},"
        f" central_wiki={farm.central.host!r})"])
    assert authorize(pwb_dir, farm, '/rest.php/oauth2/authorize')[0] == 0
    first = TokenStore(pwb_dir / STORE_FILE).entries()
    status, output = authorize(pwb_dir, farm, '/rest.php/oauth2/authorize', '--force')
    assert status == 0, output
    second = TokenStore(pwb_dir / STORE_FILE).entries()
    assert [key for key, _ in second] == [key for key, _ in first]
    assert second[0][1]['refresh_token'] != first[0][1]['refresh_token']


def test_invalid_grant_rereads_the_store_and_retries_once_with_what_is_stored(
        tmp_path: Path) -> None:
    """Another writer rotated the grant behind our back (say, a copy of the store)."""
    from pwb_oauth_ext.errors import ReauthorizationRequired
    store = TokenStore(tmp_path / STORE_FILE)
    key = GrantKey('wiki.example', 'cid', 'BotUser')
    store.put(key, TokenSet('AT-1', 'RT-1', 1.0).to_record())
    used: list[str | None] = []

    def obtain(current: TokenSet | None) -> TokenSet:
        used.append(current.refresh_token if current else None)
        if current is not None and current.refresh_token == 'RT-1':
            # While we refresh, the rotated pair appears in the file.
            (tmp_path / STORE_FILE).write_text(json.dumps({'version': 2, 'entries': [
                {'central_wiki': 'wiki.example', 'client_id': 'cid', 'account': 'BotUser',
                 'record': TokenSet('AT-2', 'RT-2', 1.0).to_record()}]}))
            raise ReauthorizationRequired('invalid_grant')
        return TokenSet('AT-3', 'RT-3', 9e9)

    source = BearerTokenSource(store=store, key=key, obtain=obtain)
    assert source.token() == 'AT-3'
    assert used == ['RT-1', 'RT-2']
    assert store.get(key)['refresh_token'] == 'RT-3'


def test_client_credentials_of_a_client_that_is_not_owner_only_is_explained(
        tmp_path: Path, farm: RunningFarm) -> None:
    client = farm.farm.register_oauth2_client(USER, confidential=True, client_credentials=True,
                                              redirect_uri='https://bot.example/callback')
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = _oauth.OAuth2(client_id={client.client_id!r},"
        f" client_secret={client.client_secret!r}, grant='client_credentials',"
        f" central_wiki={farm.central.host!r})"])
    proc = run(pwb_dir, SAVE_ON, 'wiki1', 'Anonymous', 'never saved')
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert 'gives the client credentials token' in output and 'no user' in output
    assert 'use an owner-only client for client credentials, or the authorization-code' \
        in output
    assert 'Anonymous' not in farm.wikis['wiki1'].wiki.pages
    assert client.client_secret not in output


def test_two_accounts_with_grants_and_no_user_chosen_lists_them(tmp_path: Path,
                                                                 farm: RunningFarm) -> None:
    callback = 'https://bot.example/callback'
    client = farm.farm.register_oauth2_client('Owner', confidential=True, redirect_uri=callback)
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = _oauth.OAuth2(client_id={client.client_id!r},"
        f" client_secret={client.client_secret!r}, central_wiki={farm.central.host!r})"])
    store = TokenStore(pwb_dir / STORE_FILE)
    for user in (USER, 'Owner'):
        tokens = authorization_code_grant(farm.central, client, user, redirect_uri=callback)
        store.put(GrantKey(farm.central.host, client.client_id, user), tokens.to_record())
    proc = run(pwb_dir, SAVE_ON, 'wiki1', 'Two accounts', 'never')
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert f"grants of 2 accounts for client {shown(client.client_id)} on" \
           f" {farm.central.host}: '{USER}', 'Owner'" in output
    assert f"usernames['wiki1']['wiki1'] = '{USER}'" in output and f'-user:{USER}' in output
    # Choosing one works.
    proc = run(pwb_dir, SAVE_ON.replace("site = pywikibot.Site(family, family)",
                                        "site = pywikibot.Site(family, family, user='Owner')"),
               'wiki1', 'Two accounts', 'chosen')
    assert result_of(proc) == {'wiki1': 'Owner'}


def test_a_client_credentials_token_is_stored_under_its_owner_not_the_configured_user(
        tmp_path: Path, farm: RunningFarm) -> None:
    client = farm.farm.register_oauth2_client(USER, owner_only=True)
    entry = (f"authenticate['127.0.0.2'] = _oauth.OAuth2(client_id={client.client_id!r},"
             f" client_secret={client.client_secret!r}, grant='client_credentials',"
             f" central_wiki={farm.central.host!r})")
    pwb_dir = farm_dir(tmp_path, farm, [entry], username='Owner')
    proc = run(pwb_dir, SAVE_ON, 'wiki1', 'Owner check', 'never')
    assert proc.returncode != 0
    assert f"belongs to '{USER}', but the configured user is 'Owner'" in proc.stdout + proc.stderr
    # Fetched once, kept unnamed: nothing was stored under the configured name.
    assert [key.account for key, _ in TokenStore(pwb_dir / STORE_FILE).entries()] == [None]
    config = pwb_dir / 'user-config.py'
    config.write_text(config.read_text().replace("= 'Owner'", f'= {USER!r}'))
    before = farm.oauth2.token_requests['client_credentials']
    assert result_of(run(pwb_dir, SAVE_ON, 'wiki1', 'Owner check', 'ok')) == {'wiki1': USER}
    assert farm.oauth2.token_requests['client_credentials'] == before
    assert [key.account for key, _ in TokenStore(pwb_dir / STORE_FILE).entries()] == [USER]


def test_a_stored_grant_for_one_wiki_used_on_another_names_the_wiki_it_is_for(
        tmp_path: Path, farm: RunningFarm) -> None:
    consumer = farm.farm.register_oauth1_consumer('Owner', owner_only=False, wiki='wiki1',
                                                  callback='https://bot.example/cb')
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth1("
        f"{consumer.consumer_key!r}, {consumer.consumer_secret!r},"
        f" central_wiki={farm.central.host!r})"])
    assert authorize(pwb_dir, farm, 'Special%3AOAuth%2Fauthorize')[0] == 0
    assert result_of(run(pwb_dir, SAVE_ON, 'wiki1', 'For wiki1', 'ok')) == {'wiki1': USER}
    proc = run(pwb_dir, SAVE_ON, 'wiki2', 'For wiki1', 'refused')
    assert proc.returncode != 0
    assert (f'The consumer is registered for {farm.wikis["wiki1"].host} only, not for'
            ' wiki2:wiki2 (127.0.0.3)') in proc.stdout + proc.stderr
