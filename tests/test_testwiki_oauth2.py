"""The test wiki's OAuth 2.0 provider against the MediaWiki REL1_39 captures.

Most tests replay a recorded exchange: placeholders in the capture (``<client_id>``,
``<authorization_code>`` ...) are filled from this wiki's registrations, or bound
from its answers, and every recorded status, content type, Location, error, hint
and body key must come back the same.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
import requests
from conftest import RECORDED
from placeholders import PLACEHOLDER, fill, match_and_bind

from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import InvalidAuthorization, Wiki
from pwb_oauth_ext.testwiki.providers.oauth2.mediawiki_errors import MEDIAWIKI_ERRORS
from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider
from pwb_oauth_ext.testwiki.providers.oauth2.records import OAuth2Client

SERVER = 'http://127.0.0.1:8080'   # the captures' server: Locations compare literally
#: The recorded wikis: 1.39 at the top of the recordings, 1.43 in mw-1.43/.
SERVERS = {'1.39': SERVER, '1.43': 'http://127.0.0.1:8081'}
VERSIONS = sorted(SERVERS)
CALLBACK = 'http://127.0.0.1:8765/oauth2/callback'
PUBLIC_CALLBACK = 'http://127.0.0.1:8765/oauth2/public-callback'
STATE = 'state-897cd679'
TOKEN_PATH = '/rest.php/oauth2/access_token'


CAPTURES = RECORDED if RECORDED.is_dir() else None
needs_captures = pytest.mark.skipif(CAPTURES is None, reason='shared/mediawiki-oauth missing')


def load_capture(name: str, version: str = '1.39') -> dict[str, Any]:
    """The capture for that MediaWiki version; mw-1.43/ holds only what changed or was
    re-recorded, the rest holds on 1.43 as recorded from 1.39 (mw-1.43/README.md)."""
    assert CAPTURES is not None
    path = CAPTURES / 'mw-1.43' / name
    if version == '1.39' or not path.exists():
        path = CAPTURES / name
    text = path.read_text(encoding='utf-8')
    if path.parent == CAPTURES:
        text = text.replace(SERVER, SERVERS[version])
    capture = json.loads(text)
    if version != '1.39' and path.parent == CAPTURES:
        # The approval form gained two inputs (README row 11, checked whole in the flows
        # re-recorded on 1.43); a 1.39 form is compared without them.
        for exchange in exchanges_of(capture):
            summary = exchange['response'].get('body_html_summary') or {}
            if 'authorize_form_html' in summary:
                summary['fields_added_later'] = ['wpignorewarnings', 'display']
    return capture


def exchanges_of(capture: dict[str, Any]) -> list[dict[str, Any]]:
    if 'exchanges' in capture:
        return capture['exchanges']
    return [{'request': capture['request'], 'response': capture['response']}]


# ---------------------------------------------------------------------------
# A wiki, its clients and a tiny browser
# ---------------------------------------------------------------------------
class Browser:
    """Drives the provider directly with WikiRequests, optionally logged in."""

    def __init__(self, provider: OAuth2Provider, cookie: str | None = None) -> None:
        self.provider = provider
        self.cookie = cookie

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {k.lower(): v for k, v in (extra or {}).items()}
        if self.cookie:
            headers['cookie'] = f'testwiki_session={self.cookie}'
        return headers

    def get(self, url: str, headers: dict[str, str] | None = None) -> WikiResponse:
        parts = urlsplit(url)
        req = WikiRequest('GET', parts.path, parts.query, self._headers(headers))
        assert self.provider.handles(req), url
        return self.provider.handle(req)

    def post(self, url: str, form: dict[str, str] | list[tuple[str, str]],
             headers: dict[str, str] | None = None) -> WikiResponse:
        parts = urlsplit(url)
        all_headers = self._headers(headers)
        all_headers.setdefault('content-type', 'application/x-www-form-urlencoded')
        req = WikiRequest('POST', parts.path, parts.query, all_headers,
                          urlencode(form).encode('utf-8'))
        assert self.provider.handles(req), url
        return self.provider.handle(req)


class FormParser(HTMLParser):
    """Collects the approval form's attributes, inputs and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str] = {}
        self.fields: list[dict[str, str]] = []
        self.title = ''
        self._in_title = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or '' for k, v in attrs}
        if tag == 'form':
            self.form = values
        elif tag in ('input', 'button'):
            self.fields.append({'tag': tag, **{k: values[k] for k in
                                               ('id', 'name', 'type', 'value') if k in values}})
        self._in_title = tag == 'title'

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.text.append(data)

    @property
    def visible_text(self) -> str:
        return ' '.join(' '.join(self.text).split())


def parse_html(body: bytes | str) -> FormParser:
    parser = FormParser()
    parser.feed(body.decode('utf-8') if isinstance(body, bytes) else body)
    return parser


class WikiSetup:
    """The principals of the captures: BotUser (owner-only client), HandshakeUser."""

    def __init__(self, mediawiki: str = '1.39', **provider_options: Any) -> None:
        self.version = mediawiki
        self.server = SERVERS[mediawiki]
        self.wiki = Wiki(self.server, sitename='RealWiki', mediawiki=mediawiki)
        self.bot = self.wiki.add_user('BotUser', groups=['bot'])
        self.handshake_user = self.wiki.add_user('HandshakeUser')
        self.provider = OAuth2Provider(self.wiki, **provider_options)
        self.owner_only = self.provider.register_client('BotUser', owner_only=True)
        self.confidential = self.provider.register_client(
            'HandshakeUser', redirect_uri=CALLBACK, name='AcceptanceAuthCodeOAuth2')
        self.public = self.provider.register_client(
            'HandshakeUser', confidential=False, redirect_uri=PUBLIC_CALLBACK,
            name='AcceptanceAuthCodePublicOAuth2')
        self.anonymous = Browser(self.provider)
        self.browser = Browser(self.provider, self.wiki.browser_login('HandshakeUser'))

    # -- consent, the way a person clicks through it -----------------------
    def authorize(self, client: OAuth2Client, *, redirect_uri: bool = True,
                  challenge: str | None = None, method: str = 'S256',
                  button: str = 'accept') -> str:
        """Run /authorize -> approve form -> Allow/Cancel; return the final Location."""
        query = {'client_id': client.client_id, 'response_type': 'code', 'state': STATE}
        if redirect_uri:
            query['redirect_uri'] = client.redirect_uri or ''
        if challenge is not None:
            query.update(code_challenge=challenge, code_challenge_method=method)
        first = self.browser.get('/rest.php/oauth2/authorize?' + urlencode(query))
        assert first.status == 307, first.body
        page = self.browser.get(first.header('Location') or '')
        assert page.status == 200
        form = {f['name']: f.get('value', '') for f in parse_html(page.body).fields
                if f['tag'] == 'input'}
        form[button] = 'Allow' if button == 'accept' else 'Cancel'
        back = self.browser.post(f'{self.server}/index.php/Special:OAuth/approve', form)
        assert back.status == 302
        final = self.browser.get(back.header('Location') or '')
        assert final.status == 302
        return final.header('Location') or ''

    def code(self, client: OAuth2Client, **kwargs: Any) -> str:
        location = self.authorize(client, **kwargs)
        params = dict(parse_qsl(urlsplit(location).query))
        assert params['state'] == STATE
        return params['code']

    def exchange(self, client: OAuth2Client, code: str, **extra: str) -> WikiResponse:
        form = {'grant_type': 'authorization_code', 'code': code, 'client_id': client.client_id}
        if client.client_secret:
            form['client_secret'] = client.client_secret
        form.update(extra)
        return self.anonymous.post(TOKEN_PATH, form)

    def tokens(self, client: OAuth2Client) -> dict[str, Any]:
        """A fresh token pair for HandshakeUser via the full authorization-code flow."""
        if client.confidential:
            code = self.code(client)
            resp = self.exchange(client, code, redirect_uri=client.redirect_uri or '')
        else:
            verifier = secrets.token_urlsafe(48)
            code = self.code(client, redirect_uri=False, challenge=s256(verifier))
            resp = self.exchange(client, code, code_verifier=verifier)
        assert resp.status == 200, resp.body
        return json.loads(resp.body)

    def refresh(self, client: OAuth2Client, refresh_token: str) -> WikiResponse:
        form = {'grant_type': 'refresh_token', 'refresh_token': refresh_token,
                'client_id': client.client_id}
        if client.client_secret:
            form['client_secret'] = client.client_secret
        return self.anonymous.post(TOKEN_PATH, form)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode('ascii')).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')


@pytest.fixture(params=VERSIONS)
def site(request: pytest.FixtureRequest) -> WikiSetup:
    return WikiSetup(request.param)


# ---------------------------------------------------------------------------
# Capture replay
# ---------------------------------------------------------------------------
EXACT_KEYS = {'token_type', 'expires_in', 'error', 'error_description', 'hint', 'message',
              'scopes', 'grants', 'httpCode', 'httpReason', 'confirmed_email', 'blocked'}




def header(recorded: dict[str, Any], name: str) -> str | None:
    for key, value in recorded.items():
        if key.lower() == name.lower():
            return value
    return None


def compare_json(recorded: Any, actual: Any, bindings: dict[str, str], key: str = '') -> None:
    if key == 'exception':   # PHP backtrace details: only the kind matters
        assert actual['type'] == recorded['type']
        return
    if isinstance(recorded, dict):
        assert isinstance(actual, dict), (key, actual)
        assert list(actual) == list(recorded), (key, list(actual), list(recorded))
        for sub in recorded:
            compare_json(recorded[sub], actual[sub], bindings, sub)
    elif isinstance(recorded, str) and PLACEHOLDER.search(recorded):
        match_and_bind(recorded, actual, bindings)
    elif key in EXACT_KEYS:
        assert actual == recorded, (key, actual, recorded)
    else:
        assert type(actual) is type(recorded), (key, actual, recorded)


def build_request(recorded: dict[str, Any], bindings: dict[str, str],
                  cookie: str | None) -> WikiRequest:
    parts = urlsplit(fill(recorded['url'], bindings))
    headers: dict[str, str] = {}
    for name, value in recorded.get('headers', {}).items():
        if name.lower() == 'cookie':
            assert cookie, 'capture needs a logged-in browser'
            headers['cookie'] = f'testwiki_session={cookie}'
            continue
        basic = re.fullmatch(r'Basic base64\((.*)\)', value)
        if basic:
            value = 'Basic ' + base64.b64encode(fill(basic.group(1), bindings).encode()).decode()
        headers[name.lower()] = fill(value, bindings)
    body = b''
    if 'form' in recorded:
        body = urlencode([(k, fill(v, bindings)) for k, v in recorded['form'].items()]).encode()
    return WikiRequest(recorded['method'], parts.path, parts.query, headers, body)


def check_response(recorded: dict[str, Any], resp: WikiResponse,
                   bindings: dict[str, str]) -> None:
    assert resp.status == recorded['status'], resp.body
    headers = recorded.get('headers', {})
    content_type = header(headers, 'Content-Type')
    if content_type is not None:
        assert resp.header('Content-Type') == content_type
    location = header(headers, 'Location')
    if location is not None:
        match_and_bind(location, resp.header('Location') or '', bindings)
    assert resp.header('WWW-Authenticate') == header(headers, 'WWW-Authenticate')
    if 'body' in recorded:
        if recorded['body'] == '':
            assert resp.body == b''
        else:
            compare_json(recorded['body'], json.loads(resp.body), bindings)
    summary = recorded.get('body_html_summary')
    if summary and resp.status == 200:
        page = parse_html(resp.body)
        assert page.title == summary['html_title']
        if 'content_text' in summary:
            assert summary['content_text'].split(' Return to ')[0] in page.visible_text
            assert 'Return to Main Page' in page.visible_text
        if 'authorize_form_html' in summary:
            compare_form(summary['authorize_form_html'], resp.body.decode(), bindings,
                         summary.get('fields_added_later', ()))


def compare_form(recorded_html: str, actual_html: str, bindings: dict[str, str],
                 added_later: Sequence[str] = ()) -> None:
    """Same form id/action/method and the same inputs and buttons (ids, names, values)."""
    recorded, actual = parse_html(recorded_html), parse_html(actual_html)
    actual.fields = [f for f in actual.fields if f.get('name') not in added_later]
    for attr in ('id', 'action', 'method', 'enctype'):
        assert actual.form[attr] == recorded.form[attr]
    assert len(actual.fields) == len(recorded.fields)
    for want, got in zip(recorded.fields, actual.fields):
        assert got.keys() == want.keys(), (got, want)
        for attr in want:
            match_and_bind(want[attr], got[attr], bindings)


def replay(site: WikiSetup, name: str, bindings: dict[str, str],
           logged_in: bool = False) -> dict[str, str]:
    cookie = site.browser.cookie if logged_in else None
    for exchange in exchanges_of(load_capture(name, site.version)):
        req = build_request(exchange['request'], bindings, cookie)
        assert site.provider.handles(req)
        check_response(exchange['response'], site.provider.handle(req), bindings)
    return bindings


def client_bindings(client: OAuth2Client) -> dict[str, str]:
    bindings = {'<client_id>': client.client_id}
    if client.client_secret:
        bindings['<client_secret>'] = client.client_secret
    return bindings


# ---------------------------------------------------------------------------
# /authorize and the approval page, replayed
# ---------------------------------------------------------------------------
@needs_captures
def test_authorize_anonymous_redirects_to_login(site: WikiSetup) -> None:
    replay(site, 'oauth2-authorize-anonymous.json', client_bindings(site.confidential))


@needs_captures
@pytest.mark.parametrize('name', ['oauth2-authorize-confidential-flow.json',
                                  'oauth2-authorize-confidential-no-redirect-uri.json',
                                  'oauth2-authorize-confidential-with-pkce.json'])
def test_authorize_confidential_flows(site: WikiSetup, name: str) -> None:
    bindings = client_bindings(site.confidential)
    bindings['<code_challenge>'] = s256(secrets.token_urlsafe(48))
    replay(site, name, bindings, logged_in=True)
    code = bindings['<authorization_code>']
    assert re.fullmatch(r'def50200[0-9a-f]{700,}', code)


@needs_captures
def test_authorize_public_pkce_flow_then_token(site: WikiSetup) -> None:
    verifier = secrets.token_urlsafe(48)
    bindings = client_bindings(site.public)
    bindings['<code_challenge>'] = s256(verifier)
    replay(site, 'oauth2-authorize-public-pkce-flow.json', bindings, logged_in=True)
    resp = site.exchange(site.public, bindings['<authorization_code>'], code_verifier=verifier)
    assert resp.status == 200
    assert site.provider.authenticate_bearer(json.loads(resp.body)['access_token'])[0].name \
        == 'HandshakeUser'


@needs_captures
def test_authorize_deny_redirects_without_state(site: WikiSetup) -> None:
    bindings = replay(site, 'oauth2-authorize-deny.json', client_bindings(site.confidential),
                      logged_in=True)
    assert '<authorization_code>' not in bindings


@needs_captures
@pytest.mark.parametrize('name, client_attr', [
    ('oauth2-authorize-error-owner-only-client.json', 'owner_only'),
    ('oauth2-authorize-error-public-client-no-code-challenge.json', 'public'),
    ('oauth2-authorize-error-unregistered-redirect-uri.json', 'confidential'),
    ('oauth2-authorize-error-unknown-client.json', None),
])
def test_authorize_errors_are_html_pages(site: WikiSetup, name: str,
                                         client_attr: str | None) -> None:
    if client_attr is None:
        bindings = {'<unknown_consumer_key>': secrets.token_hex(16)}
    else:
        bindings = client_bindings(getattr(site, client_attr))
    replay(site, name, bindings, logged_in=True)


def test_approval_pass_without_approval_shows_the_form_again(site: WikiSetup) -> None:
    query = urlencode({'client_id': site.confidential.client_id, 'response_type': 'code',
                       'state': STATE, 'approval_pass': '1'})
    resp = site.browser.get('/rest.php/oauth2/authorize?' + query)
    assert resp.status == 307
    assert 'Special:OAuth/approve' in (resp.header('Location') or '')


def test_approve_post_with_wrong_edit_token_is_refused(site: WikiSetup) -> None:
    form = {'title': 'Special:OAuth/approve', 'wpEditToken': '0' * 40 + '+\\',
            'wpaction': 'accept', 'oauth_version': '2', 'client_id': site.confidential.client_id,
            'scope': 'basic', 'returnto': '/rest.php/oauth2/authorize',
            'returntoquery': f'client_id={site.confidential.client_id}&response_type=code',
            'accept': 'Allow'}
    resp = site.browser.post('/index.php', form)
    assert resp.status == 200
    assert 'session hijacking' in parse_html(resp.body).visible_text
    assert (site.handshake_user.name, site.confidential.client_id) not in site.provider.approvals


def test_login_then_rest_redirect_returns_to_authorize(site: WikiSetup) -> None:
    query = urlencode({'client_id': site.confidential.client_id, 'response_type': 'code'})
    login = site.anonymous.get('/rest.php/oauth2/authorize?' + query)
    params = dict(parse_qsl(urlsplit(login.header('Location') or '').query))
    assert params['title'] == 'Special:UserLogin'
    back = site.browser.get('/index.php?' + urlencode({'title': params['returnto'],
                                                       **dict(parse_qsl(params['returntoquery']))}))
    assert back.status == 302
    assert back.header('Location') == f'{site.server}/rest.php/oauth2/authorize?{query}'


# ---------------------------------------------------------------------------
# /access_token, replayed
# ---------------------------------------------------------------------------
def _code_setup(site: WikiSetup, client_attr: str, **authorize: Any) -> dict[str, str]:
    client = getattr(site, client_attr)
    bindings = client_bindings(client)
    bindings['<authorization_code>'] = site.code(client, **authorize)
    return bindings


def _pkce_setup(site: WikiSetup, client_attr: str, method: str = 'S256') -> dict[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = s256(verifier) if method == 'S256' else verifier
    client = getattr(site, client_attr)
    bindings = client_bindings(client)
    bindings['<authorization_code>'] = site.code(client, redirect_uri=False,
                                                 challenge=challenge, method=method)
    bindings['<code_verifier>'] = verifier
    bindings['<wrong_code_verifier>'] = secrets.token_urlsafe(48)
    return bindings


def _reused_code(site: WikiSetup) -> dict[str, str]:
    bindings = _code_setup(site, 'confidential')
    first = site.exchange(site.confidential, bindings['<authorization_code>'],
                          redirect_uri=CALLBACK)
    assert first.status == 200
    return bindings


def _refresh_setup(site: WikiSetup) -> dict[str, str]:
    bindings = client_bindings(site.confidential)
    bindings['<refresh_token>'] = site.tokens(site.confidential)['refresh_token']
    return bindings


def _public_refresh(site: WikiSetup) -> dict[str, str]:
    bindings = client_bindings(site.public)
    bindings['<refresh_token>'] = site.tokens(site.public)['refresh_token']
    return bindings


def _refresh_wrong_client(site: WikiSetup) -> dict[str, str]:
    bindings = client_bindings(site.public)
    token = site.tokens(site.confidential)['refresh_token']
    bindings['<refresh_token_3>'] = bindings['<refresh_token>'] = token   # 1.39, 1.43 names
    return bindings


TOKEN_CAPTURES = {
    'oauth2-token-authorization-code-basic-auth.json':
        lambda s: _code_setup(s, 'confidential'),
    'oauth2-token-authorization-code-confidential-no-redirect-uri.json':
        lambda s: _code_setup(s, 'confidential', redirect_uri=False),
    'oauth2-token-authorization-code-confidential.json':
        lambda s: _code_setup(s, 'confidential'),
    'oauth2-token-authorization-code-public-pkce-plain.json':
        lambda s: _pkce_setup(s, 'public', 'plain'),
    'oauth2-token-authorization-code-public-pkce-s256.json':
        lambda s: _pkce_setup(s, 'public'),
    'oauth2-token-client-credentials-owner-only.json':
        lambda s: client_bindings(s.owner_only),
    'oauth2-token-error-client-credentials-not-allowed.json':
        lambda s: client_bindings(s.confidential),
    'oauth2-token-error-confidential-pkce-missing-verifier.json':
        lambda s: _pkce_setup(s, 'confidential'),
    'oauth2-token-error-invalid-client-basic-auth-wrong-secret.json':
        lambda s: {**_code_setup(s, 'confidential'), '<wrong_secret>': '0' * 40},
    'oauth2-token-error-invalid-client-wrong-secret.json':
        lambda s: {**_code_setup(s, 'confidential'), '<wrong_secret>': '0' * 40},
    'oauth2-token-error-invalid-grant-bad-code.json':
        lambda s: {**client_bindings(s.confidential), '<bad_code>': secrets.token_hex(40)},
    'oauth2-token-error-invalid-grant-reused-code.json': _reused_code,
    'oauth2-token-error-missing-grant-type.json':
        lambda s: client_bindings(s.confidential),
    'oauth2-token-error-owner-only-authorization-code.json':
        lambda s: {**client_bindings(s.owner_only), '<bad_code>': secrets.token_hex(40)},
    'oauth2-token-error-pkce-missing-verifier.json': lambda s: _pkce_setup(s, 'public'),
    'oauth2-token-error-pkce-wrong-verifier.json': lambda s: _pkce_setup(s, 'public'),
    'oauth2-token-error-redirect-uri-mismatch.json': lambda s: _code_setup(s, 'confidential'),
    'oauth2-token-error-redirect-uri-missing-at-token.json':
        lambda s: _code_setup(s, 'confidential'),
    'oauth2-token-error-redirect-uri-not-sent-at-authorize.json':
        lambda s: _code_setup(s, 'confidential', redirect_uri=False),
    'oauth2-token-error-refresh-wrong-client.json': _refresh_wrong_client,
    'oauth2-token-error-unsupported-grant-type.json':
        lambda s: client_bindings(s.confidential),
    'oauth2-token-refresh-public-client.json': _public_refresh,
    'oauth2-token-refresh-rotation.json': _refresh_setup,
}


@needs_captures
def test_every_token_capture_is_covered() -> None:
    assert CAPTURES is not None
    recorded = {p.name for p in CAPTURES.glob('oauth2-token-*.json')}
    assert recorded == set(TOKEN_CAPTURES)


@needs_captures
@pytest.mark.parametrize('name', sorted(TOKEN_CAPTURES))
def test_token_endpoint_matches_capture(site: WikiSetup, name: str) -> None:
    bindings = TOKEN_CAPTURES[name](site)
    replay(site, name, bindings)
    for placeholder, value in bindings.items():
        if placeholder.startswith('<access_token_jwt'):
            assert len(value.split('.')) == 3
        if placeholder.startswith('<refresh_token'):
            assert value.startswith('def50200')


@needs_captures
@pytest.mark.parametrize('name', ['oauth2-token-authorization-code-confidential.json',
                                  'oauth2-token-client-credentials-owner-only.json'])
def test_access_token_jwt_matches_recorded_claims(site: WikiSetup, name: str) -> None:
    capture = load_capture(name, site.version)
    decoded = capture['decoded']['access_token_jwt_decoded']
    bindings = TOKEN_CAPTURES[name](site)
    replay(site, name, bindings)
    token = bindings['<access_token_jwt>']
    assert jwt.get_unverified_header(token) == decoded['header']
    assert list(jwt.get_unverified_header(token)) == list(decoded['header'])
    claims = jwt.decode(token, options={'verify_signature': False})
    assert list(claims) == list(decoded['claims'])
    assert {k: type(v).__name__ for k, v in claims.items()} == decoded['claim_types']
    assert re.fullmatch(r'[0-9a-f]{80}', claims['jti'])
    assert claims['iss'] == site.server
    assert claims['scopes'] == decoded['claims']['scopes']
    assert abs((claims['exp'] - claims['iat']) - decoded['exp_minus_iat_s']) < 1
    owner = 'BotUser' if 'owner-only' in name else 'HandshakeUser'
    assert claims['sub'] == str(site.wiki.users[owner].id)


def test_owner_only_registration_token_is_non_expiring(site: WikiSetup) -> None:
    token = site.owner_only.owner_only_token
    assert token is not None
    claims = jwt.decode(token, options={'verify_signature': False})
    # recorded exp_minus_iat_s for the P1000Y token: 31556908799.997
    assert abs((claims['exp'] - claims['iat']) - 31556908800) < 1
    user, grants = site.provider.authenticate_bearer(token)
    assert (user.name, grants) == ('BotUser', site.owner_only.grants)


def test_secrets_are_not_in_the_client_repr(site: WikiSetup) -> None:
    text = repr(site.owner_only)
    assert site.owner_only.client_secret not in text
    assert (site.owner_only.owner_only_token or 'x') not in text


# ---------------------------------------------------------------------------
# /resource/*, replayed
# ---------------------------------------------------------------------------
@needs_captures
def test_profile_and_scopes_match_capture(site: WikiSetup) -> None:
    token = site.tokens(site.confidential)['access_token']
    bindings = {'<access_token_jwt_3>': token, '<access_token_jwt>': token,  # 1.39, 1.43 names
                '<owner_only_access_token_jwt>': site.owner_only.owner_only_token or ''}
    replay(site, 'oauth2-profile.json', bindings)
    replay(site, 'oauth2-resource-scopes.json', bindings)
    resp = site.anonymous.get('/rest.php/oauth2/resource/profile', headers={
        'Authorization': 'Bearer ' + bindings['<owner_only_access_token_jwt>']})
    profile = json.loads(resp.body)
    assert (profile['sub'], profile['username']) == (str(site.bot.id), 'BotUser')
    assert 'bot' in profile['groups']


@needs_captures
def test_profile_errors_match_capture(site: WikiSetup) -> None:
    replay(site, 'oauth2-profile-error-no-token-500.json', {})
    owner_token = site.owner_only.owner_only_token or ''
    replay(site, 'oauth2-profile-error-tampered-token.json',
           {'<tampered_access_token_jwt>': tamper(owner_token)})
    first = site.tokens(site.confidential)
    assert site.refresh(site.confidential, first['refresh_token']).status == 200
    replay(site, 'oauth2-profile-error-revoked-token.json',
           {'<access_token_jwt>': first['access_token']})


def tamper(token: str) -> str:
    last = token[-4:]
    replacement = ''.join('A' if c != 'A' else 'B' for c in last)
    return token[:-4] + replacement


# ---------------------------------------------------------------------------
# Behaviour beyond single captures
# ---------------------------------------------------------------------------
def test_public_client_without_secret_gets_no_token_for_a_confidential_code(
        site: WikiSetup) -> None:
    code = site.code(site.confidential)
    resp = site.anonymous.post(TOKEN_PATH, {'grant_type': 'authorization_code', 'code': code,
                                            'client_id': site.confidential.client_id,
                                            'redirect_uri': CALLBACK})
    assert resp.status == 401
    assert json.loads(resp.body)['error'] == 'invalid_client'
    # the failed attempt did not consume the code
    assert site.exchange(site.confidential, code, redirect_uri=CALLBACK).status == 200


def test_code_of_another_client_is_refused(site: WikiSetup) -> None:
    verifier = secrets.token_urlsafe(48)
    code = site.code(site.public, redirect_uri=False, challenge=s256(verifier))
    resp = site.exchange(site.confidential, code)
    assert resp.status == 400
    assert json.loads(resp.body)['hint'] == 'Authorization code was not issued to this client'


def test_code_expires_after_ten_minutes(site: WikiSetup) -> None:
    code = site.code(site.confidential)
    site.wiki.clock_offset = 601
    resp = site.exchange(site.confidential, code, redirect_uri=CALLBACK)
    assert resp.status == 400
    assert json.loads(resp.body)['hint'] == 'Authorization code has expired'


def test_client_credentials_follow_the_access_token_ttl(site: WikiSetup) -> None:
    site.provider.access_token_ttl = 120
    resp = site.anonymous.post(TOKEN_PATH, {
        'grant_type': 'client_credentials', 'client_id': site.owner_only.client_id,
        'client_secret': site.owner_only.client_secret or ''})
    body = json.loads(resp.body)
    assert list(body) == ['token_type', 'expires_in', 'access_token']
    assert body['expires_in'] == 120
    user, _ = site.provider.authenticate_bearer(body['access_token'])
    assert user.name == 'BotUser'
    assert site.provider.token_requests['client_credentials'] == 1


def test_refresh_rotation_revokes_old_tokens(site: WikiSetup) -> None:
    first = site.tokens(site.confidential)
    resp = site.refresh(site.confidential, first['refresh_token'])
    second = json.loads(resp.body)
    assert resp.status == 200
    assert second['refresh_token'] != first['refresh_token']
    assert second['access_token'] != first['access_token']
    with pytest.raises(InvalidAuthorization, match=r'^Invalid access token$'):
        site.provider.authenticate_bearer(first['access_token'])
    assert site.provider.authenticate_bearer(second['access_token'])[0].name == 'HandshakeUser'
    reuse = site.refresh(site.confidential, first['refresh_token'])
    assert reuse.status == 401
    assert json.loads(reuse.body)['hint'] == 'Token has been revoked'
    # the refused reuse did not hurt the live chain
    assert site.refresh(site.confidential, second['refresh_token']).status == 200
    assert site.provider.token_requests['refresh_token'] == 3


def test_refresh_grace_returns_the_same_successor(site: WikiSetup) -> None:
    site.provider.refresh_grace_seconds = 600
    first = site.tokens(site.confidential)
    second = json.loads(site.refresh(site.confidential, first['refresh_token']).body)
    again = site.refresh(site.confidential, first['refresh_token'])
    assert again.status == 200
    replay_body = json.loads(again.body)
    assert replay_body['refresh_token'] == second['refresh_token']
    # both racing processes keep a working access token
    for body in (second, replay_body):
        assert site.provider.authenticate_bearer(body['access_token'])[0].name == 'HandshakeUser'
    site.wiki.clock_offset = 601
    late = site.refresh(site.confidential, first['refresh_token'])
    assert late.status == 401
    assert json.loads(late.body)['hint'] == 'Token has been revoked'
    assert site.refresh(site.confidential, second['refresh_token']).status == 200


def test_refresh_token_expires(site: WikiSetup) -> None:
    site.provider.refresh_token_ttl = 60
    first = site.tokens(site.confidential)
    site.wiki.clock_offset = 61
    resp = site.refresh(site.confidential, first['refresh_token'])
    assert resp.status == 401
    assert json.loads(resp.body)['hint'] == 'Token has expired'


def test_expired_access_token_is_rejected(site: WikiSetup) -> None:
    # Expiry comes from the wiki's clock moving on (clock_offset), not from waiting: a
    # lifetime of seconds on the real clock would fail on a slow machine.
    site.provider.access_token_ttl = 3600
    body = site.tokens(site.confidential)
    assert body['expires_in'] == 3600
    site.wiki.clock_offset = 3599
    assert site.provider.authenticate_bearer(body['access_token'])[0].name == 'HandshakeUser'
    site.wiki.clock_offset = 3601
    with pytest.raises(InvalidAuthorization, match=r'^Invalid access token$'):
        site.provider.authenticate_bearer(body['access_token'])
    resp = site.anonymous.get('/rest.php/oauth2/resource/profile',
                              headers={'Authorization': 'Bearer ' + body['access_token']})
    assert resp.status == 401
    assert json.loads(resp.body)['hint'] == 'Access token could not be verified'


@pytest.mark.parametrize('mangle', [
    tamper,
    lambda token: 'not-a-jwt',
    lambda token: '',
    lambda token: jwt.encode(jwt.decode(token, options={'verify_signature': False}),
                             'not-the-signing-key-of-this-wiki-at-all', algorithm='HS256'),
])
def test_bad_bearer_tokens_are_invalid(site: WikiSetup, mangle: Any) -> None:
    token = site.owner_only.owner_only_token or ''
    with pytest.raises(InvalidAuthorization, match=r'^Invalid access token$') as info:
        site.provider.authenticate_bearer(mangle(token))
    assert token not in str(info.value)


def test_revoke_grant_revokes_access_and_refresh(site: WikiSetup) -> None:
    body = site.tokens(site.confidential)
    site.provider.revoke_grant(site.confidential.client_id, 'HandshakeUser')
    with pytest.raises(InvalidAuthorization):
        site.provider.authenticate_bearer(body['access_token'])
    assert site.refresh(site.confidential, body['refresh_token']).status == 401


def test_error_table_statuses_are_http_errors() -> None:
    assert all(400 <= e.status < 600 for e in MEDIAWIKI_ERRORS.values())


def test_handles_only_its_own_paths(site: WikiSetup) -> None:
    def req(path: str, query: str = '') -> WikiRequest:
        return WikiRequest('GET', path, query)
    assert site.provider.handles(req('/rest.php/oauth2/authorize'))
    assert site.provider.handles(req('/index.php', 'title=Special:OAuth/approve'))
    assert site.provider.handles(req('/index.php/Special:OAuth/approve'))
    assert not site.provider.handles(req('/index.php', 'title=Special:OAuth/initiate'))
    assert not site.provider.handles(req('/api.php'))


# ---------------------------------------------------------------------------
# A real client: requests_oauthlib.OAuth2Session through a transport adapter
# ---------------------------------------------------------------------------
class ProviderAdapter(requests.adapters.BaseAdapter):
    """Hands requests' PreparedRequests to the provider (no sockets)."""

    def __init__(self, provider: OAuth2Provider) -> None:
        super().__init__()
        self.provider = provider
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.seen.append(request)
        parts = urlsplit(request.url or '')
        body = request.body or b''
        wiki_req = WikiRequest(request.method or 'GET', parts.path, parts.query,
                               {k.lower(): v for k, v in request.headers.items()},
                               body.encode('utf-8') if isinstance(body, str) else body)
        answer = self.provider.handle(wiki_req)
        response = requests.Response()
        response.status_code = answer.status
        response.headers.update(dict(answer.headers))
        response._content = answer.body
        response.url = request.url or ''
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_requests_oauthlib_session_drives_the_whole_flow(site: WikiSetup,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from requests_oauthlib import OAuth2Session

    monkeypatch.setenv('OAUTHLIB_INSECURE_TRANSPORT', '1')   # http://127.0.0.1 only
    client = site.confidential
    session = OAuth2Session(client.client_id, redirect_uri=client.redirect_uri, pkce='S256')
    adapter = ProviderAdapter(site.provider)
    session.mount(site.server, adapter)
    url, state = session.authorization_url(f'{site.server}/rest.php/oauth2/authorize')
    # the user consents in a browser
    first = site.browser.get(url)
    page = site.browser.get(first.header('Location') or '')
    form = {f['name']: f.get('value', '') for f in parse_html(page.body).fields
            if f['tag'] == 'input'}
    back = site.browser.post('/index.php/Special:OAuth/approve', {**form, 'accept': 'Allow'})
    callback = site.browser.get(back.header('Location') or '').header('Location') or ''
    assert dict(parse_qsl(urlsplit(callback).query))['state'] == state

    token = session.fetch_token(f'{site.server}{TOKEN_PATH}', authorization_response=callback,
                                client_secret=client.client_secret)
    assert adapter.seen[-1].headers['Authorization'].startswith('Basic ')
    assert token['token_type'] == 'Bearer'
    profile = session.get(f'{site.server}/rest.php/oauth2/resource/profile')
    assert profile.status_code == 200
    assert profile.json()['username'] == 'HandshakeUser'

    old_access = token['access_token']
    refreshed = session.refresh_token(f'{site.server}{TOKEN_PATH}', client_id=client.client_id,
                                      client_secret=client.client_secret)
    assert refreshed['access_token'] != old_access
    assert site.provider.token_requests['refresh_token'] == 1
    assert session.get(f'{site.server}/rest.php/oauth2/resource/scopes').status_code == 200


# ---------------------------------------------------------------------------
# Over HTTP through the WSGI app
# ---------------------------------------------------------------------------
def test_over_http_on_loopback() -> None:
    server = pytest.importorskip('pwb_oauth_ext.testwiki.server')
    with server.run_test_wiki() as running:
        provider: OAuth2Provider = running.app.oauth2
        running.wiki.add_user('BotUser', groups=['bot'])
        client = provider.register_client('BotUser', owner_only=True)
        with requests.Session() as http:
            resp = http.post(running.url + TOKEN_PATH, data={
                'grant_type': 'client_credentials', 'client_id': client.client_id,
                'client_secret': client.client_secret}, timeout=10)
            assert resp.status_code == 200
            assert resp.headers['Content-Type'] == 'application/json; charset=UTF-8'
            token = resp.json()['access_token']
            claims = jwt.decode(token, options={'verify_signature': False})
            assert claims['iss'] == running.url
            profile = http.get(running.url + '/rest.php/oauth2/resource/profile',
                               headers={'Authorization': f'Bearer {token}'}, timeout=10)
            assert profile.json()['username'] == 'BotUser'
            wrong = http.post(running.url + TOKEN_PATH, data={'grant_type': 'client_credentials'},
                              auth=(client.client_id, '0' * 40), timeout=10)
            assert wrong.status_code == 401
            assert wrong.headers['WWW-Authenticate'] == 'Basic realm="OAuth"'
        assert provider.token_requests['client_credentials'] == 2


def test_browser_consent_over_http_with_login() -> None:
    """A person's path: authorize -> log in -> back -> approve -> Allow -> callback."""
    server = pytest.importorskip('pwb_oauth_ext.testwiki.server')
    with server.run_test_wiki() as running:
        provider: OAuth2Provider = running.app.oauth2
        running.wiki.add_user('HandshakeUser', password='pass-word-1')
        client = provider.register_client('HandshakeUser', redirect_uri=CALLBACK)
        with requests.Session() as browser:
            def step(resp: requests.Response, status: int) -> str:
                assert resp.status_code == status, resp.text
                return resp.headers['Location']

            query = urlencode({'client_id': client.client_id, 'response_type': 'code',
                               'state': STATE})
            login_url = step(browser.get(f'{running.url}/rest.php/oauth2/authorize?{query}',
                                         allow_redirects=False, timeout=10), 307)
            login = dict(parse_qsl(urlsplit(login_url).query))
            back = step(browser.post(running.url + '/index.php?title=Special:UserLogin', data={
                'wpName': 'HandshakeUser', 'wpPassword': 'pass-word-1',
                'returnto': login['returnto'], 'returntoquery': login['returntoquery']},
                allow_redirects=False, timeout=10), 302)
            authorize_again = step(browser.get(back, allow_redirects=False, timeout=10), 302)
            approve_url = step(browser.get(authorize_again, allow_redirects=False, timeout=10),
                               307)
            page = browser.get(approve_url, timeout=10)
            assert page.status_code == 200
            form = {f['name']: f.get('value', '') for f in parse_html(page.text).fields
                    if f['tag'] == 'input'}
            allowed = step(browser.post(running.url + '/index.php/Special:OAuth/approve',
                                        data={**form, 'accept': 'Allow'},
                                        allow_redirects=False, timeout=10), 302)
            callback = step(browser.get(allowed, allow_redirects=False, timeout=10), 302)
        params = dict(parse_qsl(urlsplit(callback).query))
        assert callback.startswith(CALLBACK + '?')
        assert params['state'] == STATE
        token = requests.post(running.url + TOKEN_PATH, data={
            'grant_type': 'authorization_code', 'code': params['code'],
            'client_id': client.client_id, 'client_secret': client.client_secret}, timeout=10)
        assert token.status_code == 200
        assert 'refresh_token' in token.json()
