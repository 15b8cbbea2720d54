"""The test wiki's Action API: recorded answers, and real Pywikibot (11.x and 10.x) against it."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import recorded
from requests_oauthlib import OAuth1

from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.pywikibot_env import run_pywikibot, write_pywikibot_dir
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

pytest_plugins = ['pwb_oauth_ext.testwiki.pytest_plugin']





@pytest.fixture
def bot(test_wiki: RunningWiki) -> OAuth1Consumer:
    """BotUser (bot group) with an owner-only OAuth 1.0a consumer."""
    test_wiki.app.add_bot('BotUser')
    return test_wiki.app.register_oauth1_consumer('BotUser', owner_only=True)


def oauth(consumer: OAuth1Consumer) -> OAuth1:
    return OAuth1(consumer.consumer_key, consumer.consumer_secret,
                  consumer.access_token, consumer.access_secret)


def test_anonymous_userinfo_matches_recording(test_wiki: RunningWiki) -> None:
    shape = recorded('api-anonymous-userinfo.json')
    response = requests.post(test_wiki.api_url, data=shape['request']['form'])
    assert response.status_code == 200
    assert response.json() == shape['response']['body']


def test_anonymous_edit_with_assert_user_fails(test_wiki: RunningWiki) -> None:
    exchanges = recorded('api-anonymous-edit-assert-user.json')['exchanges']
    tokens = requests.post(test_wiki.api_url, data=exchanges[0]['request']['form'])
    assert tokens.json() == exchanges[0]['response']['body']
    edit = requests.post(test_wiki.api_url, data=exchanges[1]['request']['form'])
    expected = exchanges[1]['response']
    assert edit.status_code == expected['status']
    assert edit.headers['MediaWiki-API-Error'] == 'assertuserfailed'
    body = edit.json()
    assert body['error']['code'] == expected['body']['error']['code']
    assert body['error']['info'] == expected['body']['error']['info']
    assert set(body['error']) == set(expected['body']['error'])
    assert 'Sandbox' not in test_wiki.wiki.pages


def test_oauth_edit_then_nochange_and_cookies(test_wiki: RunningWiki,
                                              bot: OAuth1Consumer) -> None:
    success = recorded('api-oauth1-edit-success.json')['response']
    nochange = recorded('api-oauth1-edit-nochange.json')['response']
    session = requests.Session()
    tokens = session.post(test_wiki.api_url, auth=oauth(bot), data={
        'action': 'query', 'meta': 'tokens', 'type': 'csrf', 'formatversion': '2',
        'format': 'json'}).json()
    csrf = tokens['query']['tokens']['csrftoken']
    assert len(csrf) == 42 and csrf.endswith('+\\')
    form = {'action': 'edit', 'title': 'Sandbox', 'text': 'one', 'summary': 's',
            'format': 'json', 'token': csrf}
    session.post(test_wiki.api_url, auth=oauth(bot), data=form)
    second = session.post(test_wiki.api_url, auth=oauth(bot), data={**form, 'text': 'two'})
    assert set(second.json()['edit']) == set(success['body']['edit'])
    assert {c.name for c in second.cookies} == set(success['headers']['Set-Cookie (names only)'])
    again = session.post(test_wiki.api_url, auth=oauth(bot), data={**form, 'text': 'two'})
    assert set(again.json()['edit']) == set(nochange['body']['edit'])
    assert [r.text for r in test_wiki.wiki.pages['Sandbox'].revisions] == ['one', 'two']
    assert test_wiki.wiki.pages['Sandbox'].revisions[-1].user == 'BotUser'


def test_edit_with_wrong_token_is_refused(test_wiki: RunningWiki, bot: OAuth1Consumer) -> None:
    response = requests.post(test_wiki.api_url, auth=oauth(bot), data={
        'action': 'edit', 'title': 'Sandbox', 'text': 'x', 'format': 'json', 'token': '+\\'})
    assert response.headers['MediaWiki-API-Error'] == 'badtoken'
    assert 'Sandbox' not in test_wiki.wiki.pages


def test_logout_under_oauth_is_cannotlogout(test_wiki: RunningWiki,
                                            bot: OAuth1Consumer) -> None:
    exchanges = recorded('api-oauth1-logout-cannotlogout.json')['exchanges']
    tokens = requests.post(test_wiki.api_url, auth=oauth(bot),
                           data=exchanges[0]['request']['form']).json()
    csrf = tokens['query']['tokens']['csrftoken']
    form = {**exchanges[1]['request']['form'], 'token': csrf}
    response = requests.post(test_wiki.api_url, auth=oauth(bot), data=form)
    expected = exchanges[1]['response']
    assert response.status_code == 200
    assert response.headers['MediaWiki-API-Error'] == 'cannotlogout'
    assert response.json()['error']['info'] == expected['body']['error']['info']


def test_anonymous_logout_succeeds(test_wiki: RunningWiki) -> None:
    response = requests.post(test_wiki.api_url, data={'action': 'logout', 'token': '+\\',
                                                      'format': 'json'})
    assert 'MediaWiki-API-Error' not in response.headers
    assert response.json() == {}


@pytest.mark.parametrize('test_wiki', [{'mediawiki': '1.39'}], indirect=True)
def test_paraminfo_for_a_bot_matches_pywikibot_recording(test_wiki: RunningWiki,
                                                         bot: OAuth1Consumer) -> None:
    """formatversion=1, and the limits of a caller with apihighlimits (Pywikibot's own run)."""
    run = recorded('pywikibot-run-exchanges.json')['runs']['run_1_empty_apicache']
    step = next(s for s in run if s['request']['form'].get('modules') == 'query+tokens')
    response = requests.post(test_wiki.api_url, data=step['request']['form'], auth=oauth(bot))
    live = json.dumps(step['response']['body']).replace('http://127.0.0.1:8080', test_wiki.url)
    assert response.json() == json.loads(live.replace('RealWiki', 'TestWiki'))


VERSIONS = [('1.39', 'mw-1.39-api'), ('1.43', 'mw-1.43')]


@pytest.mark.parametrize(('version', 'folder'), VERSIONS)
def test_whole_paraminfo_matches_recording(version: str, folder: str) -> None:
    shape = recorded(f'{folder}/api-paraminfo-all.json')
    with run_test_wiki(mediawiki=version) as wiki:
        response = requests.get(wiki.api_url, params=shape['request']['query'])
    server = shape['source'].rsplit(' on ', 1)[1].rstrip('.')
    expected = json.loads(json.dumps(shape['response']['body']).replace(server, wiki.url))
    assert response.json() == expected


@pytest.mark.parametrize(('version', 'folder'), VERSIONS)
def test_whole_siteinfo_matches_recording(version: str, folder: str) -> None:
    shape = recorded(f'{folder}/api-siteinfo-full.json')
    with run_test_wiki(mediawiki=version, sitename='RealWiki') as wiki:
        response = requests.get(wiki.api_url, params=shape['request']['query']).json()
    server = shape['source'].rsplit(' on ', 1)[1].rstrip('.')
    expected = json.loads(json.dumps(shape['response']['body']).replace(server, wiki.url))
    for body in (response, expected):   # the clock and the live wiki's own counts
        body['query']['general'].pop('time')
        body['query'].pop('statistics')
    assert response == expected
    assert expected['query']['restrictions']['types'] == ['create', 'edit', 'move', 'upload']


def test_siteinfo_general_names_the_live_server(test_wiki: RunningWiki) -> None:
    response = requests.post(test_wiki.api_url, data={
        'action': 'query', 'meta': 'siteinfo', 'siprop': 'general|namespaces',
        'formatversion': '2', 'format': 'json'}).json()
    assert response['query']['general']['server'] == test_wiki.url
    assert response['query']['namespaces']['10']['name'] == 'Template'


def test_missing_page_is_reported_missing(test_wiki: RunningWiki) -> None:
    response = requests.post(test_wiki.api_url, data={
        'action': 'query', 'prop': 'info|revisions', 'titles': 'No such page',
        'indexpageids': '', 'format': 'json'}).json()
    pageid = response['query']['pageids'][0]
    assert 'missing' in response['query']['pages'][pageid]


def test_bad_bearer_token_is_invalid(test_wiki: RunningWiki) -> None:
    response = requests.post(test_wiki.api_url, data={'action': 'query', 'meta': 'userinfo',
                                                      'format': 'json'},
                             headers={'Authorization': 'Bearer not-a-jwt'})
    assert response.headers['MediaWiki-API-Error'] == 'mwoauth-invalid-authorization'
    assert response.json()['error']['info'].endswith('Invalid access token')


def test_request_log_records_actions(test_wiki: RunningWiki, bot: OAuth1Consumer) -> None:
    requests.post(test_wiki.api_url, auth=oauth(bot),
                  data={'action': 'query', 'meta': 'userinfo', 'format': 'json'})
    requests.post(test_wiki.api_url, data={'action': 'login', 'lgname': 'BotUser',
                                           'format': 'json'})
    assert ('POST', '/api.php', 'query') in test_wiki.wiki.request_log
    assert test_wiki.app.requests_for('login') == [('POST', '/api.php', 'login')]


def test_many_concurrent_keepalive_clients(test_wiki: RunningWiki, bot: OAuth1Consumer) -> None:
    """40 threads, each with its own requests.Session reusing its connection."""
    names: list[str] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with requests.Session() as session:
                for _ in range(5):
                    reply = session.post(test_wiki.api_url, auth=oauth(bot), timeout=30, data={
                        'action': 'query', 'meta': 'userinfo', 'format': 'json'})
                    names.append(reply.json()['query']['userinfo']['name'])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(40)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120   # one deadline for all (each request has 30 s)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert [thread for thread in threads if thread.is_alive()] == []
    assert errors == []
    assert names == ['BotUser'] * 200


# -- real Pywikibot, in a subprocess ---------------------------------------------------------

PYWIKIBOT_SCRIPT = '''
import pywikibot
from pywikibot.exceptions import APIError
site = pywikibot.Site()
site.login()
print('USER', site.user())
page = pywikibot.Page(site, 'Sandbox')
print('OLD', repr(page.text))
page.text = 'saved by pywikibot'
page.save(summary='pywikibot test', bot=True)
try:
    site.logout()
except APIError as exc:
    print('LOGOUT', exc.code)
else:
    print('LOGOUT ok')
'''


def test_real_pywikibot_reads_saves_and_cannot_logout(test_wiki: RunningWiki, bot: OAuth1Consumer,
                                                      tmp_path: Path) -> None:
    """Plain Pywikibot (no plugin) against the test wiki, as against the recorded MediaWiki."""
    test_wiki.wiki.save_page('Sandbox', 'before', 'BotUser')
    pwb_dir = write_pywikibot_dir(
        tmp_path / 'pwb', test_wiki, username='BotUser',
        authenticate_lines=[f"authenticate['{test_wiki.host}'] = ('{bot.consumer_key}', "
                            f"'{bot.consumer_secret}', '{bot.access_token}', "
                            f"'{bot.access_secret}')"])
    result = run_pywikibot(PYWIKIBOT_SCRIPT, pwb_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["USER BotUser", "OLD 'before'", 'LOGOUT cannotlogout']
    last = test_wiki.wiki.pages['Sandbox'].revisions[-1]
    assert (last.text, last.user, last.comment) == ('saved by pywikibot', 'BotUser',
                                                    'pywikibot test')
    # No password login was ever attempted, and every request was signed POST.
    assert test_wiki.app.requests_for('login') == []
    assert test_wiki.app.requests_for('clientlogin') == []
    assert {method for method, path, _ in test_wiki.wiki.request_log if path == '/api.php'} \
        == {'POST'}
    # Secrets never reach Pywikibot's output.
    for secret in (bot.consumer_secret, bot.access_secret):
        assert secret not in result.stdout + result.stderr


def test_pywikibot_with_wrong_secret_gets_no_user(test_wiki: RunningWiki, bot: OAuth1Consumer,
                                                  tmp_path: Path) -> None:
    pwb_dir = write_pywikibot_dir(
        tmp_path / 'pwb', test_wiki, username='BotUser',
        authenticate_lines=[f"authenticate['{test_wiki.host}'] = ('{bot.consumer_key}', "
                            f"'{'0' * 40}', '{bot.access_token}', '{bot.access_secret}')"])
    result = run_pywikibot('import pywikibot\npywikibot.Site().login()\nprint("LOGGED IN")',
                           pwb_dir)
    assert result.returncode != 0
    assert 'LOGGED IN' not in result.stdout
    assert 'NoUsernameError' in result.stderr
    assert 'The authorization headers in your request are not valid: Invalid signature' \
        in result.stderr
    assert test_wiki.app.requests_for('login') == []


def test_bearer_token_from_the_oauth2_provider_on_api_php(test_wiki: RunningWiki) -> None:
    # a broken install fails here:
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider
    assert isinstance(test_wiki.app.oauth2, OAuth2Provider), 'no OAuth 2.0 provider'
    test_wiki.app.add_bot('BotUser')
    client = test_wiki.app.oauth2.register_client('BotUser', owner_only=True)
    token = requests.post(test_wiki.url + '/rest.php/oauth2/access_token', data={
        'grant_type': 'client_credentials', 'client_id': client.client_id,
        'client_secret': client.client_secret}).json()['access_token']
    headers = {'Authorization': f'Bearer {token}'}
    userinfo = requests.post(test_wiki.api_url, headers=headers, data={
        'action': 'query', 'meta': 'userinfo|tokens', 'format': 'json'}).json()['query']
    assert userinfo['userinfo']['name'] == 'BotUser'
    logout = requests.post(test_wiki.api_url, headers=headers, data={
        'action': 'logout', 'token': userinfo['tokens']['csrftoken'], 'format': 'json'})
    assert logout.headers['MediaWiki-API-Error'] == 'cannotlogout'
    assert test_wiki.app.oauth2.token_requests['client_credentials'] == 1
    # 'bearer' in lower case is not the Bearer scheme: the request stays anonymous.
    lower = requests.post(test_wiki.api_url, headers={'Authorization': f'bearer {token}'},
                          data={'action': 'query', 'meta': 'userinfo', 'format': 'json'})
    assert lower.json()['query']['userinfo']['id'] == 0


@pytest.mark.parametrize(('version', 'status', 'vary'), [('1.39', 500, None),
                                                         ('1.43', 401, 'x-restbase-compat')])
def test_rest_php_answers_as_the_chosen_version(version: str, status: int,
                                                vary: str | None) -> None:
    """mw-1.43/README.md rows 1 and 5: profile without a token, and rest.php's Vary."""
    with run_test_wiki(mediawiki=version) as wiki:
        response = requests.get(wiki.url + '/rest.php/oauth2/resource/profile')
    assert response.status_code == status
    assert response.headers.get('Vary') == vary
