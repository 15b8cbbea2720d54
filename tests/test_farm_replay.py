"""The test farm against the real farm's recordings (shared/mediawiki-oauth/farm-1.43/).

One test per recorded exchange: the file's exchanges up to it are replayed over HTTP
against a served test farm whose wikis stand for the recorded ones (metawiki the
central wiki, enwiki, frwiki in French; the same sitenames and user ids), and each
answer is compared with the recording: status, MediaWiki-API-Error, error codes and
texts, the body's keys and value types, Location (hosts mapped to the test farm's),
placeholders matched by shape (a value bound once must come back the same), and the
JWTs' claim names, types, ``iss`` and lifetime. OAuth 1.0a requests are signed here
for the URL the recording names (``signed_for_url``, mapped to the test farm's host).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
import requests
from conftest import RECORDED
from oauthlib.oauth1 import Client
from placeholders import fill, match_and_bind

from pwb_oauth_ext.testwiki.farm import RunningFarm, run_test_farm
from pwb_oauth_ext.testwiki.model import SESSION_COOKIE

FARM_RECORDINGS = RECORDED / 'farm-1.43'
#: The recorded wikis: URL -> wiki id.
RECORDED_WIKIS = {'https://meta.farm.test:8443': 'metawiki',
                  'https://en.farm.test:8443': 'enwiki', 'https://fr.farm.test:8443': 'frwiki'}
SITENAMES = {'metawiki': 'Farm Meta-Wiki', 'enwiki': 'Farm Wiki (en)', 'frwiki': 'Farm Wiki (fr)'}
OAUTH1_CALLBACK = 'http://127.0.0.1:8765/oauth1/callback'
OAUTH2_CALLBACK = 'http://127.0.0.1:8765/oauth2/callback'
#: '<name>' is a placeholder unless it is one of the HTML/XML tags the bodies contain.
PLACEHOLDER = re.compile(r'<(?!(?:p|b|dd|dl|li|ul|var|title|strong|apis|service|settings)>)'
                         r'[a-z_0-9]+>')
#: Values compared exactly (after mapping the recorded hosts); others by type.
EXACT_KEYS = {'code', 'info', 'error', 'error_description', 'hint', 'message', 'token_type',
              'expires_in', 'id', 'name', 'sub', 'username', 'grants', 'scopes',
              'wikiid', 'lang', 'server', 'sitename', 'docref'}
#: The siteinfo answers are trimmed in the recording (its notes list every key).
TRIMMED = {'general'}
#: A secret for each recorded token placeholder, for signing OAuth 1.0a requests.
TOKEN_SECRETS = {'<request_token>': '<request_token_secret>', '<access_token>': '<access_secret>'}
#: Which placeholder each decoded JWT of the recordings is.
DECODED_JWTS = {'identify_jwt_at_meta_decoded': '<identify_jwt>',
                'identify_jwt_at_en_decoded': '<identify_jwt_2>'}


def _recordings() -> list[tuple[str, int]]:
    if not FARM_RECORDINGS.is_dir():
        return []
    return [(path.name, index) for path in sorted(FARM_RECORDINGS.glob('farm-*.json'))
            for index in range(len(json.loads(path.read_text(encoding='utf-8'))['exchanges']))]


EXCHANGES = _recordings()


# -- the farm and the recordings' principals ---------------------------------------------------

@pytest.fixture(scope='module')
def farm() -> Iterator[RunningFarm]:
    with run_test_farm(('enwiki', 'frwiki'), central_id='metawiki', sitenames=SITENAMES,
                       languages={'frwiki': 'fr'}) as running:
        # The recorded ids: Admin 1, BotUser 3 (bot), HandshakeUser 5.
        for name in ('Admin', 'Someone2', 'BotUser', 'Someone4', 'HandshakeUser'):
            running.farm.add_bot(name, groups=['bot'] if name == 'BotUser' else [])
        yield running


def _owner_only_client(farm: RunningFarm, wiki: str = '*') -> dict[str, str]:
    client = farm.farm.register_oauth2_client('BotUser', owner_only=True, wiki=wiki)
    return {'<client_id>': client.client_id, '<client_secret>': client.client_secret,
            '<owner_only_access_token_jwt>': client.owner_only_token}


def _confidential_client(farm: RunningFarm) -> dict[str, str]:
    client = farm.farm.register_oauth2_client('HandshakeUser', confidential=True,
                                              redirect_uri=OAUTH2_CALLBACK,
                                              name='Judge OAuth2 confidential')
    return {'<client_id>': client.client_id, '<client_secret>': client.client_secret}


def _handshake_consumer(farm: RunningFarm) -> dict[str, str]:
    consumer = farm.farm.register_oauth1_consumer('HandshakeUser', owner_only=False,
                                                  callback=OAUTH1_CALLBACK)
    farm.farm.central.oauth1.consumers[consumer.consumer_key].name = 'Judge OAuth1 handshake'
    return {'<consumer_key>': consumer.consumer_key,
            '<consumer_secret>': consumer.consumer_secret}


def _host_binding(farm: RunningFarm) -> dict[str, str]:
    consumer = farm.farm.register_oauth1_consumer('BotUser', owner_only=True)
    return {**_owner_only_client(farm), '<consumer_key>': consumer.consumer_key,
            '<consumer_secret>': consumer.consumer_secret,
            '<access_token>': consumer.access_token or '',
            '<access_secret>': consumer.access_secret or ''}


def _code_at_meta(farm: RunningFarm) -> dict[str, str]:
    """A code from the consent at metawiki (the recording starts at its exchange)."""
    bindings = _confidential_client(farm)
    from pwb_oauth_ext.testwiki.browser import consent
    query = urlencode({'client_id': bindings['<client_id>'], 'response_type': 'code',
                       'redirect_uri': OAUTH2_CALLBACK, 'state': 'state'})
    location = consent(farm.central, 'HandshakeUser',
                       f'{farm.central.url}/rest.php/oauth2/authorize?{query}')
    bindings['<authorization_code>'] = dict(parse_qsl(urlsplit(location).query))['code']
    return bindings


SETUPS = {
    'farm-api-oauth2-bearer-owner-only-userinfo.json': _owner_only_client,
    'farm-api-oauth2-error-enwiki-only-consumer-wrong-wiki.json':
        lambda farm: _owner_only_client(farm, 'enwiki'),
    'farm-api-siteinfo-meta-en-fr.json': lambda farm: {},
    'farm-api-token-host-binding-across-wikis.json': _host_binding,
    'farm-oauth1-error-request-token-at-other-wiki.json': _handshake_consumer,
    'farm-oauth1-handshake-at-meta-identify-used-on-en-fr.json': _handshake_consumer,
    'farm-oauth2-authorize-confidential-flow-at-meta-refresh-rotation.json':
        _confidential_client,
    'farm-oauth2-authorize-confidential-flow-started-at-en.json': _confidential_client,
    'farm-oauth2-profile-enwiki-only-consumer-on-other-wikis.json':
        lambda farm: _owner_only_client(farm, 'enwiki'),
    'farm-oauth2-profile-meta-en-fr.json': _owner_only_client,
    'farm-oauth2-token-client-credentials-at-meta-used-on-en-fr.json': _owner_only_client,
    'farm-oauth2-token-client-credentials-enwiki-only-consumer.json':
        lambda farm: _owner_only_client(farm, 'enwiki'),
    'farm-oauth2-token-error-refresh-at-other-wiki.json': _code_at_meta,
}


# -- placeholders and hosts ---------------------------------------------------------------------

class Replay:
    """One recording replayed against the farm: bindings, browser logins, host mapping."""

    def __init__(self, farm: RunningFarm, name: str) -> None:
        self.farm = farm
        self.recording = json.loads((FARM_RECORDINGS / name).read_text(encoding='utf-8'))
        self.bindings: dict[str, str] = dict(SETUPS[name](farm))
        self.cookies: dict[str, str] = {}
        self.session = requests.Session()
        self.session.trust_env = False

    def live(self, text: str) -> str:
        """``text`` with every recorded wiki URL replaced by the test farm's."""
        for url, wiki_id in RECORDED_WIKIS.items():
            text = text.replace(url, self.farm.running(wiki_id).url)
        return text

    def signed_for(self, recorded_url: str) -> str:
        """The test farm's URL for a recorded signature URL: other wiki, port or scheme."""
        parts = urlsplit(recorded_url)
        wiki_id = RECORDED_WIKIS[f'https://{parts.hostname}:8443']
        live = urlsplit(self.farm.running(wiki_id).url)
        scheme = live.scheme if parts.scheme == 'https' else \
            {'http': 'https', 'https': 'http'}[live.scheme]
        netloc = live.netloc if parts.port else live.hostname or ''
        return f'{scheme}://{netloc}{parts.path}' + (f'?{parts.query}' if parts.query else '')

    def fill(self, template: str) -> str:
        return fill(template, self.bindings, PLACEHOLDER)

    def match(self, template: str, actual: str) -> None:
        """``actual`` is ``template`` with its placeholders; unbound ones are bound."""
        match_and_bind(template, actual, self.bindings, PLACEHOLDER)

    # -- requests -----------------------------------------------------------------------------
    def wiki_of(self, url: str) -> str:
        parts = urlsplit(url)
        return RECORDED_WIKIS[f'{parts.scheme}://{parts.netloc}']

    def send(self, recorded: dict[str, Any]) -> requests.Response:
        url = self.live(self.fill(recorded['url']))
        wiki_id = self.wiki_of(recorded['url'])
        headers: dict[str, str] = {}
        body = None
        if 'form' in recorded:
            body = urlencode([(k, self.fill(v)) for k, v in recorded['form'].items()])
        for name, value in recorded.get('headers', {}).items():
            if name == 'Cookie':   # a browser logged in at that wiki (logins are per host)
                if wiki_id not in self.cookies:
                    self.cookies[wiki_id] = self.farm.running(wiki_id).wiki.browser_login(
                        'HandshakeUser')
                headers['Cookie'] = f'{SESSION_COOKIE}={self.cookies[wiki_id]}'
            elif name == 'Authorization' and value.startswith('OAuth '):
                headers['Authorization'] = self.oauth1_header(recorded, value, url, body)
            else:
                headers[name] = self.fill(value)
        return self.session.request(recorded['method'], url, data=body, headers=headers,
                                    allow_redirects=False, timeout=60)

    def oauth1_header(self, recorded: dict[str, Any], value: str, url: str,
                      body: str | None) -> str:
        params = dict(re.findall(r'(oauth_[a-z_]+)="([^"]*)"', value))
        token = params.get('oauth_token')
        client = Client(
            self.bindings['<consumer_key>'], client_secret=self.bindings['<consumer_secret>'],
            resource_owner_key=self.fill(token) if token else None,
            resource_owner_secret=self.bindings[TOKEN_SECRETS[token]] if token else None,
            callback_uri=params.get('oauth_callback'),
            verifier=self.fill(params['oauth_verifier']) if 'oauth_verifier' in params else None)
        signed = self.signed_for(recorded['signed_for_url']) if 'signed_for_url' in recorded \
            else url
        form_headers = {'Content-Type': 'application/x-www-form-urlencoded'} if body else {}
        _, headers, _ = client.sign(signed, recorded['method'], body=body, headers=form_headers)
        return headers['Authorization']

    # -- answers ------------------------------------------------------------------------------
    def check(self, recorded: dict[str, Any], response: requests.Response) -> None:
        assert response.status_code == recorded['status'], response.text[:2000]
        headers = recorded.get('headers', {})
        assert response.headers.get('MediaWiki-API-Error') == headers.get('MediaWiki-API-Error')
        if 'Location' in headers:
            self.match(self.live(headers['Location']), response.headers.get('Location', ''))
        body = recorded.get('body')
        if isinstance(body, (dict, list)):
            self.compare(json.loads(self.live(json.dumps(body))), response.json())
        elif isinstance(body, str):
            self.match(self.live(body), response.text)
        summary = recorded.get('body_html_summary')
        if summary:
            self.check_page(summary, response.text)

    def compare(self, recorded: Any, actual: Any, key: str = '') -> None:
        if isinstance(recorded, dict):
            assert isinstance(actual, dict), (key, actual)
            if key in TRIMMED:
                assert set(recorded) <= set(actual), (key, set(recorded) - set(actual))
            else:
                assert set(actual) == set(recorded), (key, sorted(actual), sorted(recorded))
            texts = 'code' in recorded or 'errors' in recorded
            for sub in recorded:
                self.compare(recorded[sub], actual[sub], '*text' if texts and sub == '*' else sub)
        elif isinstance(recorded, list) and recorded and isinstance(recorded[0], dict):
            assert isinstance(actual, list) and actual, (key, actual)
            if key == 'errors':
                assert len(actual) == len(recorded), (key, actual)
                for want, got in zip(recorded, actual):
                    self.compare(want, got, key)
        elif isinstance(recorded, str) and PLACEHOLDER.search(recorded):
            self.match(recorded, actual)
        elif key in EXACT_KEYS or key == '*text':
            assert actual == recorded, (key, actual, recorded)
        elif key == 'rights':   # a wrong-wiki token's profile has none
            assert isinstance(actual, list) and bool(actual) == bool(recorded), (key, actual)
        else:
            assert type(actual) is type(recorded), (key, actual, recorded)

    def check_page(self, summary: dict[str, Any], page: str) -> None:
        parsed = _Page()
        parsed.feed(page)
        if summary['html_title'].startswith('OAuth'):
            assert parsed.title == summary['html_title']
        form = summary.get('authorize_form_html')
        if form is not None or summary.get('authorize_form_present'):
            assert parsed.form_id == 'mw-mwoauth-authorize-form', page[:2000]
        if form is not None:
            recorded = _Page()
            recorded.feed(form)
            assert set(parsed.inputs) == set(recorded.inputs), (parsed.inputs, recorded.inputs)
            self.match(recorded.inputs['wpEditToken'], parsed.inputs['wpEditToken'])
        for code in re.findall(r'E\d{3}', summary.get('content_text', '')):
            assert code in parsed.text, page[:3000]

    def check_jwts(self) -> int:
        """The recording's decoded JWTs whose placeholders are bound by now; how many."""
        checked = 0
        for entry, decoded in (self.recording.get('decoded') or {}).items():
            placeholder = DECODED_JWTS.get(entry) or '<{}>'.format(
                entry[:-len('_decoded')].replace('refreshed_', '', 1))
            if entry.startswith('hs256') or placeholder not in self.bindings:
                continue
            token = self.bindings[placeholder]
            header = jwt.get_unverified_header(token)
            assert header == decoded['header'], (entry, header)
            if header['alg'] == 'HS256':   # identify: signed with the consumer secret
                claims = jwt.decode(token, self.bindings['<consumer_secret>'],
                                    algorithms=['HS256'], options={'verify_aud': False,
                                                                   'verify_exp': False})
            else:
                claims = jwt.decode(token, options={'verify_signature': False})
            want = decoded['claims']
            assert set(claims) == set(want), (entry, sorted(claims), sorted(want))
            assert {k: type(v).__name__ for k, v in claims.items()} == decoded['claim_types']
            assert claims['iss'] == self.live(want['iss']), (entry, claims['iss'])
            for name in ('aud', 'sub', 'scopes', 'grants', 'jti'):
                if isinstance(want.get(name), str) and PLACEHOLDER.search(want[name]):
                    self.match(want[name], claims[name])
                elif name in want:
                    assert claims[name] == want[name], (entry, name, claims[name])
            assert abs((claims['exp'] - claims['iat']) - decoded['exp_minus_iat_s']) < 2
            checked += 1
        return checked


class _Page(HTMLParser):
    """A page's title, visible text, form id and input values by name."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ''
        self.text = ''
        self.form_id = ''
        self.inputs: dict[str, str] = {}
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or '' for k, v in attrs}
        if tag == 'form':
            self.form_id = values.get('id', '')
        if tag == 'input' and values.get('name'):
            self.inputs[values['name']] = values.get('value', '')
        self._in_title = tag == 'title'

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text += data


# -- the tests ----------------------------------------------------------------------------------

@pytest.mark.skipif(not EXCHANGES, reason='shared/mediawiki-oauth/farm-1.43 missing')
@pytest.mark.parametrize(('name', 'index'), EXCHANGES or [('', 0)],
                         ids=[f'{name[5:-5]}-{index}' for name, index in EXCHANGES] or ['none'])
def test_the_test_farm_answers_as_the_recorded_farm(farm: RunningFarm, name: str,
                                                    index: int) -> None:
    replay = Replay(farm, name)
    exchanges = replay.recording['exchanges']
    for number, exchange in enumerate(exchanges[:index + 1]):
        try:
            replay.check(exchange['response'], replay.send(exchange['request']))
        except AssertionError as exc:
            raise AssertionError(f'exchange {number} ({exchange["request"]["method"]} '
                                 f'{exchange["request"]["url"][:120]}): {exc}') from exc
    replay.check_jwts()


@pytest.mark.skipif(not EXCHANGES, reason='shared/mediawiki-oauth/farm-1.43 missing')
def test_every_recorded_jwt_is_compared(farm: RunningFarm) -> None:
    """The JWT checks above are not skipped for want of a binding."""
    decoded = 0
    for name in SETUPS:
        replay = Replay(farm, name)
        for exchange in replay.recording['exchanges']:
            replay.check(exchange['response'], replay.send(exchange['request']))
        decoded += replay.check_jwts()
    expected = sum(len([k for k in json.loads((FARM_RECORDINGS / n).read_text(
        encoding='utf-8')).get('decoded') or {} if not k.startswith('hs256')]) for n in SETUPS)
    assert decoded == expected > 0


def test_every_recording_has_a_setup() -> None:
    assert {name for name, _ in EXCHANGES} <= set(SETUPS)


def test_a_login_at_one_wiki_is_not_a_login_at_another(farm: RunningFarm) -> None:
    """Host-only cookies and no single sign-on: en sends meta's user to its own login."""
    cookie = farm.central.wiki.browser_login('HandshakeUser')
    enwiki = farm.running('enwiki')
    response = requests.get(f'{enwiki.url}/rest.php/oauth2/authorize', params={
        'client_id': _confidential_client(farm)['<client_id>'], 'response_type': 'code'},
        cookies={SESSION_COOKIE: cookie}, allow_redirects=False, timeout=30)
    assert response.status_code == 307
    assert response.headers['Location'].startswith(
        f'{enwiki.url}/index.php?title=Special:UserLogin&')
