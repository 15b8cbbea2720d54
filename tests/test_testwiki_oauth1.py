"""The test wiki's OAuth 1.0a, checked with real clients against the recorded MediaWiki shapes."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
import mwoauth
import pytest
import requests
from conftest import recorded
from oauthlib.oauth1 import Client
from requests_oauthlib import OAuth1

from pwb_oauth_ext.testwiki.model import SESSION_COOKIE
from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

CALLBACK = 'http://127.0.0.1:8765/oauth1/callback'
USERINFO = {'action': 'query', 'meta': 'userinfo',
            'uiprop': 'blockinfo|groups|hasmsg|ratelimits|rights', 'formatversion': '2',
            'format': 'json'}




@pytest.fixture(params=['1.39', '1.43'])
def wiki(request: pytest.FixtureRequest) -> Iterator[RunningWiki]:
    """A wiki whose clock stands still (at the start of the test), with BotUser and
    HandshakeUser, so timestamp offsets are exact; as each recorded MediaWiki version."""
    frozen = float(int(time.time()))
    with run_test_wiki(clock=lambda: frozen, mediawiki=request.param) as running:
        running.app.add_bot('BotUser')
        running.app.wiki.add_user('HandshakeUser')
        yield running


@pytest.fixture
def owner_only(wiki: RunningWiki) -> OAuth1Consumer:
    return wiki.app.register_oauth1_consumer('BotUser', owner_only=True)


@pytest.fixture
def handshake_consumer(wiki: RunningWiki) -> OAuth1Consumer:
    return wiki.app.register_oauth1_consumer('HandshakeUser', owner_only=False,
                                             callback=CALLBACK)


def auth_for(consumer: OAuth1Consumer, **overrides: str) -> OAuth1:
    values = {'client_key': consumer.consumer_key, 'client_secret': consumer.consumer_secret,
              'resource_owner_key': consumer.access_token,
              'resource_owner_secret': consumer.access_secret}
    values.update(overrides)
    return OAuth1(**values)


def signed_at(wiki: RunningWiki, consumer: OAuth1Consumer, timestamp: int,
              uri: str | None = None) -> tuple[str, dict[str, str], Any]:
    """Sign USERINFO as a form POST with a chosen timestamp (oauthlib Client)."""
    client = Client(consumer.consumer_key, client_secret=consumer.consumer_secret,
                    resource_owner_key=consumer.access_token,
                    resource_owner_secret=consumer.access_secret, timestamp=str(timestamp))
    return client.sign(uri or wiki.api_url, 'POST', USERINFO,
                       {'Content-Type': 'application/x-www-form-urlencoded'})


def assert_oauth_error(response: requests.Response, detail: str, docref: bool = True) -> None:
    """The recorded failure shape: 200, header, body with info and help key."""
    shape = recorded('api-oauth1-error-bad-signature.json')['response']   # same on 1.43
    assert response.status_code == shape['status']
    assert response.headers['MediaWiki-API-Error'] == 'mwoauth-invalid-authorization'
    assert response.headers['Content-Type'] == shape['headers']['Content-Type']
    error = response.json()['error']
    assert set(error) - {'*', 'docref'} == set(shape['body']['error']) - {'docref'}
    assert error['code'] == 'mwoauth-invalid-authorization'
    assert error['info'] == f'The authorization headers in your request are not valid: {detail}'
    assert ('docref' in error) is docref


# -- api.php resource checks ----------------------------------------------------------------

def test_valid_request_is_accepted_with_recorded_shape(wiki: RunningWiki,
                                                       owner_only: OAuth1Consumer) -> None:
    shape = recorded('api-oauth1-userinfo.json', wiki.app.wiki.mediawiki)['response']
    response = requests.post(wiki.api_url, data=USERINFO, auth=auth_for(owner_only))
    assert response.status_code == 200
    assert 'MediaWiki-API-Error' not in response.headers
    assert response.headers['Content-Type'] == shape['headers']['Content-Type']
    body = response.json()
    assert set(body) == set(shape['body'])
    userinfo = body['query']['userinfo']
    assert set(userinfo) == set(shape['body']['query']['userinfo'])
    assert userinfo['name'] == 'BotUser'
    assert userinfo['groups'] == shape['body']['query']['userinfo']['groups']
    # Rights are limited by the consumer's grants: 'purge' is not granted here.
    assert 'bot' in userinfo['rights'] and 'edit' in userinfo['rights']
    assert 'noratelimit' in userinfo['rights'] and 'purge' not in userinfo['rights']
    # 1.43 no longer has the writeapi right (mw-1.43/README.md row 10).
    recorded_rights = shape['body']['query']['userinfo']['rights']
    assert ('writeapi' in userinfo['rights']) == ('writeapi' in recorded_rights)
    assert 'Set-Cookie' not in response.headers


def test_signed_get_with_query_parameters_is_accepted(wiki: RunningWiki,
                                                      owner_only: OAuth1Consumer) -> None:
    response = requests.get(wiki.api_url, params=USERINFO, auth=auth_for(owner_only))
    assert response.json()['query']['userinfo']['name'] == 'BotUser'


def test_wrong_consumer_secret_is_invalid_signature(wiki: RunningWiki,
                                                    owner_only: OAuth1Consumer) -> None:
    response = requests.post(wiki.api_url, data=USERINFO,
                             auth=auth_for(owner_only, client_secret='0' * 40))
    assert_oauth_error(response, 'Invalid signature')


def test_error_help_key_follows_formatversion(wiki: RunningWiki,
                                              owner_only: OAuth1Consumer) -> None:
    data = dict(USERINFO)
    del data['formatversion']
    response = requests.post(wiki.api_url, data=data,
                             auth=auth_for(owner_only, client_secret='0' * 40))
    assert_oauth_error(response, 'Invalid signature', docref=False)
    assert '*' in response.json()['error']


def test_unknown_consumer_key(wiki: RunningWiki, owner_only: OAuth1Consumer) -> None:
    response = requests.post(wiki.api_url, data=USERINFO,
                             auth=auth_for(owner_only, client_key='ab' * 16))
    assert_oauth_error(response, 'Invalid consumer')


def test_unknown_access_token(wiki: RunningWiki, owner_only: OAuth1Consumer) -> None:
    response = requests.post(wiki.api_url, data=USERINFO,
                             auth=auth_for(owner_only, resource_owner_key='cd' * 16))
    assert_oauth_error(response, 'No approved grant was found for that authorization token.')


def test_consumer_is_checked_before_token(wiki: RunningWiki, owner_only: OAuth1Consumer) -> None:
    response = requests.post(wiki.api_url, data=USERINFO,
                             auth=auth_for(owner_only, client_key='ab' * 16,
                                           resource_owner_key='cd' * 16))
    assert_oauth_error(response, 'Invalid consumer')


def nonce_of(prepared: requests.PreparedRequest) -> str:
    header = prepared.headers['Authorization']
    if isinstance(header, bytes):
        header = header.decode('ascii')
    return re.search(r'oauth_nonce="([^"]+)"', header).group(1)


def test_identical_request_twice_is_a_nonce_replay(wiki: RunningWiki,
                                                   owner_only: OAuth1Consumer) -> None:
    session = requests.Session()
    prepared = session.prepare_request(
        requests.Request('POST', wiki.api_url, data=USERINFO, auth=auth_for(owner_only)))
    nonce = nonce_of(prepared)
    first = session.send(prepared)
    second = session.send(prepared)
    assert first.json()['query']['userinfo']['name'] == 'BotUser'
    assert_oauth_error(second, f'Nonce already used: {nonce}')


@pytest.mark.parametrize('offset', [-290, 290])
def test_timestamp_inside_window_is_accepted(wiki: RunningWiki, owner_only: OAuth1Consumer,
                                             offset: int) -> None:
    now = int(wiki.wiki.now())
    uri, headers, body = signed_at(wiki, owner_only, now + offset)
    response = requests.post(uri, headers=headers, data=body)
    assert response.json()['query']['userinfo']['name'] == 'BotUser'


@pytest.mark.parametrize('offset', [-310, 310, -3600])
def test_timestamp_outside_window_is_rejected(wiki: RunningWiki, owner_only: OAuth1Consumer,
                                              offset: int) -> None:
    now = int(wiki.wiki.now())
    uri, headers, body = signed_at(wiki, owner_only, now + offset)
    response = requests.post(uri, headers=headers, data=body)
    assert_oauth_error(response,
                       f'Expired timestamp, yours {now + offset}, ours {now}')


def test_request_signed_for_another_host_is_refused(wiki: RunningWiki,
                                                    owner_only: OAuth1Consumer) -> None:
    other = f'http://localhost:{wiki.port}/api.php'
    _uri, headers, body = signed_at(wiki, owner_only, int(wiki.wiki.now()), uri=other)
    headers['Host'] = f'localhost:{wiki.port}'
    response = requests.post(wiki.api_url, headers=headers, data=body)
    assert_oauth_error(response, 'Invalid signature')


def test_tampered_form_body_is_invalid_signature(wiki: RunningWiki,
                                                 owner_only: OAuth1Consumer) -> None:
    uri, headers, body = signed_at(wiki, owner_only, int(wiki.wiki.now()))
    response = requests.post(uri, headers=headers, data={**dict(body), 'meta': 'tokens'})
    assert_oauth_error(response, 'Invalid signature')


# -- the handshake -------------------------------------------------------------------------

def browser(wiki: RunningWiki, user: str) -> requests.Session:
    session = requests.Session()
    session.cookies.set(SESSION_COOKIE, wiki.wiki.browser_login(user), domain='127.0.0.1')
    return session


def approve(wiki: RunningWiki, redirect: str, user: str = 'HandshakeUser') -> str:
    """Open the approval page as a logged-in user, press Allow; return the callback URL."""
    session = browser(wiki, user)
    page = session.get(redirect, allow_redirects=False)
    assert page.status_code == 200
    assert page.headers['Content-Type'] == 'text/html; charset=UTF-8'
    fields = dict(re.findall(r'name="(\w+)" type="hidden" value="([^"]*)"', page.text))
    token = re.search(r'value="([^"]*)" name="wpEditToken"', page.text).group(1)
    action = re.search(r"action='([^']+)'", page.text).group(1)
    form = {**fields, 'title': re.search(r'value="(Special:OAuth/\w+)" name="title"',
                                         page.text).group(1),
            'wpEditToken': token, 'accept': 'Allow'}
    done = session.post(wiki.url + action, data=form, allow_redirects=False)
    assert done.status_code == 302
    return done.headers['Location']


@pytest.fixture(params=['1.39', '1.43'])
def live_wiki(request: pytest.FixtureRequest) -> Iterator[RunningWiki]:
    """Real clock: mwoauth checks identify's iat against time.time()."""
    with run_test_wiki(mediawiki=request.param) as running:
        running.app.add_bot('BotUser')
        running.app.wiki.add_user('HandshakeUser')
        yield running


def test_handshake_end_to_end_with_mwoauth(live_wiki: RunningWiki) -> None:
    consumer = live_wiki.app.register_oauth1_consumer('HandshakeUser', owner_only=False,
                                                      callback=CALLBACK)
    mw_uri = live_wiki.url + '/index.php'
    consumer_token = mwoauth.ConsumerToken(consumer.consumer_key, consumer.consumer_secret)
    redirect, request_token = mwoauth.initiate(mw_uri, consumer_token)
    assert re.fullmatch('[0-9a-f]{32}', request_token.key)
    assert 'Special%3AOAuth%2Fauthenticate' in redirect or 'Special:OAuth/authenticate' in redirect
    location = approve(live_wiki, redirect)
    assert location.startswith(CALLBACK + '?oauth_verifier=')
    query = urlparse(location).query
    assert parse_qs(query)['oauth_token'] == [request_token.key]
    access_token = mwoauth.complete(mw_uri, consumer_token, request_token, query)
    assert re.fullmatch('[0-9a-f]{32}', access_token.key)
    assert re.fullmatch('[0-9a-f]{40}', access_token.secret)

    identity = mwoauth.identify(mw_uri, consumer_token, access_token)
    assert identity['username'] == 'HandshakeUser'

    # The same identify by hand, verified with PyJWT, compared with the recorded claims.
    auth = OAuth1(consumer.consumer_key, consumer.consumer_secret,
                  access_token.key, access_token.secret)
    prepared = requests.Session().prepare_request(requests.Request(
        'POST', mw_uri, params={'title': 'Special:OAuth/identify'}, auth=auth))
    nonce = nonce_of(prepared)
    response = requests.Session().send(prepared)
    shape = recorded('oauth1-identify.json', live_wiki.app.wiki.mediawiki)
    assert response.headers['Content-Type'] == shape['response']['headers']['Content-type']
    assert jwt.get_unverified_header(response.text) == {'typ': 'JWT', 'alg': 'HS256'}
    claims = jwt.decode(response.text, consumer.consumer_secret, algorithms=['HS256'],
                        audience=consumer.consumer_key, issuer=live_wiki.url)
    expected = shape['decoded']['identify_jwt_decoded']
    assert set(claims) == set(expected['claims'])
    assert {k: type(v).__name__ for k, v in claims.items()} == expected['claim_types']
    assert claims['exp'] - claims['iat'] == expected['exp_minus_iat_s']
    assert claims['nonce'] == nonce
    assert claims['sub'] == str(live_wiki.wiki.users['HandshakeUser'].id)

    # The access token works on api.php too.
    userinfo = requests.post(live_wiki.api_url, data=USERINFO, auth=auth).json()
    assert userinfo['query']['userinfo']['name'] == 'HandshakeUser'


def test_identify_with_wrong_secret_is_a_json_error(wiki: RunningWiki,
                                                    owner_only: OAuth1Consumer) -> None:
    shape = recorded('oauth1-identify-error-bad-signature.json',
                     wiki.app.wiki.mediawiki)['response']
    response = requests.post(wiki.url + '/index.php', params={'title': 'Special:OAuth/identify'},
                             auth=auth_for(owner_only, client_secret='0' * 40))
    assert response.status_code == 200
    assert response.headers['Content-Type'] == shape['headers']['Content-type']
    assert response.json() == shape['body']


def initiate(wiki: RunningWiki, consumer: OAuth1Consumer, **kwargs: Any) -> requests.Response:
    auth = OAuth1(consumer.consumer_key, consumer.consumer_secret,
                  callback_uri=kwargs.pop('callback', 'oob'))
    params = {'title': 'Special:OAuth/initiate', **kwargs}
    return requests.post(wiki.url + '/index.php', params=params, auth=auth)


def test_initiate_text_and_json_shapes(wiki: RunningWiki,
                                       handshake_consumer: OAuth1Consumer) -> None:
    text_shape = recorded('oauth1-initiate.json', wiki.app.wiki.mediawiki)['response']
    response = initiate(wiki, handshake_consumer)
    assert response.headers['Content-Type'] == text_shape['headers']['Content-type']
    assert re.fullmatch(r'oauth_token=[0-9a-f]{32}&oauth_token_secret=[0-9a-f]{32}'
                        r'&oauth_callback_confirmed=true', response.text)
    json_shape = recorded('oauth1-initiate-format-json.json', wiki.app.wiki.mediawiki)['response']
    response = initiate(wiki, handshake_consumer, format='json')
    assert response.headers['Content-Type'] == json_shape['headers']['Content-type']
    assert set(response.json()) == set(json_shape['body'])


def test_initiate_path_form_and_title_in_body(wiki: RunningWiki,
                                              handshake_consumer: OAuth1Consumer) -> None:
    auth = OAuth1(handshake_consumer.consumer_key, handshake_consumer.consumer_secret,
                  callback_uri='oob')
    by_path = requests.post(wiki.url + '/index.php/Special:OAuth/initiate', auth=auth)
    in_body = requests.post(wiki.url + '/index.php', data={'title': 'Special:OAuth/initiate'},
                            auth=auth)
    for response in (by_path, in_body):
        assert response.text.startswith('oauth_token='), response.text


def test_initiate_refuses_owner_only_consumer(wiki: RunningWiki,
                                              owner_only: OAuth1Consumer) -> None:
    shape = recorded('oauth1-initiate-error-owner-only-consumer.json',
                     wiki.app.wiki.mediawiki)['response']
    response = initiate(wiki, owner_only)
    assert response.status_code == 200
    assert response.headers['Content-Type'] == shape['headers']['Content-type']
    assert response.text.startswith('Error: &quot;')
    assert response.text.endswith(shape['body'][shape['body'].index('Consumer is owner-only'):])
    as_json = initiate(wiki, owner_only, format='json').json()
    assert as_json['error'] == 'mwoauthserver-consumer-owner-only'
    assert 'E010' in as_json['message']


def test_initiate_requires_oob_callback(wiki: RunningWiki,
                                        handshake_consumer: OAuth1Consumer) -> None:
    shape = recorded('oauth1-initiate-error-callback-not-oob.json',
                     wiki.app.wiki.mediawiki)['response']
    response = initiate(wiki, handshake_consumer, callback='http://127.0.0.1:8765/elsewhere')
    assert response.text == shape['body']


def test_initiate_with_wrong_secret(wiki: RunningWiki,
                                    handshake_consumer: OAuth1Consumer) -> None:
    shape = recorded('oauth1-initiate-error-bad-signature.json',
                     wiki.app.wiki.mediawiki)['response']
    auth = OAuth1(handshake_consumer.consumer_key, '0' * 40, callback_uri='oob')
    response = requests.post(wiki.url + '/index.php',
                             params={'title': 'Special:OAuth/initiate'}, auth=auth)
    assert response.text == shape['body']


def test_authorize_without_login_redirects_to_userlogin(
        wiki: RunningWiki, handshake_consumer: OAuth1Consumer) -> None:
    shape = recorded('oauth1-authorize-anonymous.json', wiki.app.wiki.mediawiki)['response']
    token = parse_qs(initiate(wiki, handshake_consumer).text)['oauth_token'][0]
    response = requests.get(wiki.url + '/index.php', allow_redirects=False, params={
        'title': 'Special:OAuth/authorize', 'oauth_token': token,
        'oauth_consumer_key': handshake_consumer.consumer_key})
    assert response.status_code == shape['status']
    location = shape['headers']['Location']
    if wiki.app.wiki.at_least('1.43'):   # recorded on the 1.43 farm (farm-1.43/README.md)
        location = location.replace('mwoauth-login-required-reason',
                                    'mwoauth-named-account-required-reason')
    expected = (location
                .replace('http://127.0.0.1:8080', wiki.url)
                .replace('<request_token>', token)
                .replace('<consumer_key>', handshake_consumer.consumer_key))
    assert response.headers['Location'] == expected


def token_request(wiki: RunningWiki, consumer: OAuth1Consumer, token: dict[str, str],
                  verifier: str, **params: str) -> requests.Response:
    auth = OAuth1(consumer.consumer_key, consumer.consumer_secret, token['oauth_token'],
                  token['oauth_token_secret'], verifier=verifier)
    return requests.post(wiki.url + '/index.php',
                         params={'title': 'Special:OAuth/token', **params}, auth=auth)


def started_and_approved(wiki: RunningWiki, consumer: OAuth1Consumer) -> tuple[dict, str]:
    token = {k: v[0] for k, v in parse_qs(initiate(wiki, consumer).text).items()}
    location = approve(wiki, f'{wiki.url}/index.php?title=Special:OAuth/authorize'
                             f'&oauth_token={token["oauth_token"]}'
                             f'&oauth_consumer_key={consumer.consumer_key}')
    return token, parse_qs(urlparse(location).query)['oauth_verifier'][0]


def test_token_bad_verifier_then_right_one_then_reuse(
        wiki: RunningWiki, handshake_consumer: OAuth1Consumer) -> None:
    bad = recorded('oauth1-token-error-bad-verifier.json', wiki.app.wiki.mediawiki)['exchanges']
    reused = recorded('oauth1-token-error-request-token-reused.json',
                      wiki.app.wiki.mediawiki)['response']
    token, verifier = started_and_approved(wiki, handshake_consumer)
    wrong = token_request(wiki, handshake_consumer, token, 'e' * 32)
    assert wrong.text == bad[0]['response']['body']
    right = token_request(wiki, handshake_consumer, token, verifier)
    assert right.headers['Content-Type'] == bad[1]['response']['headers']['Content-type']
    assert re.fullmatch(r'oauth_token=[0-9a-f]{32}&oauth_token_secret=[0-9a-f]{40}'
                        r'&oauth_callback_confirmed=true', right.text)
    again = token_request(wiki, handshake_consumer, token, verifier)
    assert again.text == reused['body']


def test_token_for_unapproved_request_token(wiki: RunningWiki,
                                            handshake_consumer: OAuth1Consumer) -> None:
    shape = recorded('oauth1-token-error-unauthorized-request-token.json',
                     wiki.app.wiki.mediawiki)['exchanges'][1]
    token = {k: v[0] for k, v in parse_qs(initiate(wiki, handshake_consumer).text).items()}
    response = token_request(wiki, handshake_consumer, token, 'e' * 32)
    assert response.text == shape['response']['body']


def test_token_for_an_unauthorized_request_token(wiki: RunningWiki,
                                                 handshake_consumer: OAuth1Consumer) -> None:
    """A request token the user never authorized: MediaWiki's bad-token refusal."""
    shape = recorded('oauth1-token-error-unauthorized-request-token.json',
                     wiki.app.wiki.mediawiki)['exchanges'][1]
    token = {k: v[0] for k, v in parse_qs(initiate(wiki, handshake_consumer).text).items()}
    response = token_request(wiki, handshake_consumer, token, 'e' * 32)
    assert response.text == shape['response']['body']


def test_token_for_an_unknown_request_token(wiki: RunningWiki,
                                            handshake_consumer: OAuth1Consumer) -> None:
    """A token this wiki's session cache does not hold: E004, before the signature (which
    could not match), as the farm recorded for another wiki's request token."""
    shape = recorded('farm-1.43/farm-oauth1-error-request-token-at-other-wiki.json')
    unknown = {'oauth_token': 'f' * 32, 'oauth_token_secret': 'f' * 32}
    response = token_request(wiki, handshake_consumer, unknown, 'e' * 32)
    assert response.text == shape['exchanges'][5]['response']['body']


def test_token_format_json(wiki: RunningWiki, handshake_consumer: OAuth1Consumer) -> None:
    shape = recorded('oauth1-token-format-json.json', wiki.app.wiki.mediawiki)['response']
    token, verifier = started_and_approved(wiki, handshake_consumer)
    response = token_request(wiki, handshake_consumer, token, verifier, format='json')
    assert response.headers['Content-Type'] == shape['headers']['Content-type']
    assert set(response.json()) == set(shape['body'])


def test_consumer_repr_hides_secrets(owner_only: OAuth1Consumer) -> None:
    text = repr(owner_only)
    assert owner_only.consumer_secret not in text
    assert owner_only.access_secret not in text
