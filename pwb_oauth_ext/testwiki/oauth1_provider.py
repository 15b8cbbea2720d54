"""OAuth 1.0a as Extension:OAuth (REL1_39) does it: resource checks and the handshake.

Parsing and signature verification are oauthlib's server-side endpoints; the
checks MediaWiki reports with its own words (version, consumer, token,
timestamp, nonce, in that order) run first, here, so clients see the recorded
error texts. oauthlib's own limits (key lengths, 600 s window, wall clock) are
widened in the validator because this wiki's clock is ``Wiki.now()``.
"""
from __future__ import annotations

import html
import re
import string
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import jwt
from oauthlib.common import Request
from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1, SIGNATURE_RSA_SHA1, errors

from pwb_oauth_ext.testwiki import versions
from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import (
    DEFAULT_GRANTS,
    InvalidAuthorization,
    Wiki,
    WikiUser,
    random_hex,
)

TIMESTAMP_WINDOW_S = 300
IDENTIFY_LIFETIME_S = 100
SESSION_COOKIE = 'testwiki_session'
SPECIAL_PREFIX = 'Special:OAuth/'
HANDSHAKE_SUBPAGES = ('initiate', 'authorize', 'authenticate', 'token', 'identify')

_NO_CACHE_HEADERS = [
    ('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT'),
    ('Cache-Control', 'no-cache, no-store, max-age=0, must-revalidate'),
    ('Pragma', 'no-cache'),
]
_PRIVATE_HEADERS = [
    ('Vary', 'Accept-Encoding, Cookie, Authorization'),
    ('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT'),
    ('Cache-Control', 'private, must-revalidate, max-age=0'),
]
_TEXT_PLAIN = 'text/plain;charset=UTF-8'


def _error_link(code: str) -> str:
    return (f'<a class="external" href="https://www.mediawiki.org/wiki/Help:OAuth/Errors#{code}">'
            f'{code}</a>')


def _details(text: str, code: str) -> str:
    return f'<span class="plainlinks mw-mwoautherror-details">{text}, {_error_link(code)}</span>'


@dataclass
class OAuth1Consumer:
    """A registered OAuth 1.0a consumer ("Connected App"); secrets stay out of repr."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    owner: str
    name: str
    owner_only: bool
    callback: str | None
    grants: list[str]
    access_token: str | None = None
    access_secret: str | None = field(default=None, repr=False)


@dataclass
class _RequestToken:
    key: str
    secret: str = field(repr=False)
    consumer_key: str
    verifier: str | None = field(default=None, repr=False)
    user: str | None = None
    used: bool = False


@dataclass
class _AccessToken:
    key: str
    secret: str = field(repr=False)
    consumer_key: str
    user: str


class HandshakeError(Exception):
    """A Special:OAuth error: message key plus MediaWiki's text (may hold error links)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key)
        self.key = key
        self.message = message

    def as_text(self) -> str:
        """'Error: <escaped message>' with the help links left as HTML, as recorded."""
        parts = re.split(r'(<a class="external" [^>]*>[^<]*</a>)', self.message)
        escaped = ''.join(p if p.startswith('<a class="external"') else html.escape(p)
                          for p in parts)
        return 'Error: ' + escaped


class _Validator(RequestValidator):
    """oauthlib validator over the provider's registries.

    Existence, timestamp and nonce were already checked (with MediaWiki's
    messages) before oauthlib runs, so those hooks only confirm; what oauthlib
    decides on its own here is the signature.
    """

    def __init__(self, provider: OAuth1Provider) -> None:
        super().__init__()
        self.provider = provider

    allowed_signature_methods = (SIGNATURE_HMAC_SHA1, SIGNATURE_RSA_SHA1)
    safe_characters = set(string.ascii_letters + string.digits + '-._~+/=')
    client_key_length = (1, 64)
    request_token_length = (1, 64)
    access_token_length = (1, 64)
    nonce_length = (1, 255)
    verifier_length = (1, 64)
    timestamp_lifetime = 10 ** 10   # the real window is checked against Wiki.now()
    enforce_ssl = False
    dummy_client = 'dummy-client'
    dummy_request_token = 'dummy-request-token'
    dummy_access_token = 'dummy-access-token'

    def get_client_secret(self, client_key: str, request: Request) -> str:
        consumer = self.provider.consumers.get(client_key)
        return consumer.consumer_secret if consumer else 'dummy'

    def get_request_token_secret(self, client_key: str, token: str, request: Request) -> str:
        record = self.provider.request_tokens.get(token)
        return record.secret if record else 'dummy'

    def get_access_token_secret(self, client_key: str, token: str, request: Request) -> str:
        record = self.provider.access_tokens.get(token)
        return record.secret if record else 'dummy'

    def get_default_realms(self, client_key: str, request: Request) -> list[str]:
        return []

    def validate_client_key(self, client_key: str, request: Request) -> bool:
        return client_key in self.provider.consumers

    def validate_request_token(self, client_key: str, token: str, request: Request) -> bool:
        record = self.provider.request_tokens.get(token)
        return record is not None and record.consumer_key == client_key

    def validate_access_token(self, client_key: str, token: str, request: Request) -> bool:
        record = self.provider.access_tokens.get(token)
        return record is not None and record.consumer_key == client_key

    def validate_timestamp_and_nonce(self, client_key: str, timestamp: str, nonce: str,
                                     request: Request, request_token: str | None = None,
                                     access_token: str | None = None) -> bool:
        return True

    def validate_redirect_uri(self, client_key: str, redirect_uri: str,
                              request: Request) -> bool:
        return True   # 'oob' is enforced with MediaWiki's message after the signature

    def validate_requested_realms(self, client_key: str, realms: list[str],
                                  request: Request) -> bool:
        return True

    def validate_realms(self, client_key: str, token: str, request: Request,
                        uri: str | None = None, realms: list[str] | None = None) -> bool:
        return True

    def validate_verifier(self, client_key: str, token: str, verifier: str,
                          request: Request) -> bool:
        return True   # checked afterwards, to give MediaWiki's E-codes


class OAuth1Provider:
    """Consumers, tokens and nonces of one wiki, plus the Special:OAuth pages."""

    def __init__(self, wiki: Wiki) -> None:
        self.wiki = wiki
        self.consumers: dict[str, OAuth1Consumer] = {}
        self.request_tokens: dict[str, _RequestToken] = {}
        self.access_tokens: dict[str, _AccessToken] = {}
        self._nonces: dict[tuple[str, str], dict[str, float]] = {}
        validator = _Validator(self)
        self._resource_endpoint = ResourceEndpoint(validator)
        self._request_token_endpoint = RequestTokenEndpoint(validator)
        self._access_token_endpoint = AccessTokenEndpoint(validator)

    # -- registration -------------------------------------------------
    def register_consumer(self, owner: str, *, owner_only: bool, callback: str | None = None,
                          grants: list[str] | None = None,
                          name: str | None = None) -> OAuth1Consumer:
        """Register a consumer; an owner-only one comes with its fixed access token."""
        if owner not in self.wiki.users:
            raise ValueError(f'unknown user {owner!r}')
        if not owner_only and not callback:
            raise ValueError('a non-owner-only consumer needs a callback URL')
        with self.wiki.lock:
            consumer = OAuth1Consumer(
                consumer_key=random_hex(32), consumer_secret=random_hex(40), owner=owner,
                name=name or f'{owner}App{len(self.consumers) + 1}', owner_only=owner_only,
                callback=callback, grants=list(grants or DEFAULT_GRANTS))
            if owner_only:
                token = _AccessToken(random_hex(32), random_hex(40), consumer.consumer_key, owner)
                self.access_tokens[token.key] = token
                consumer.access_token, consumer.access_secret = token.key, token.secret
            self.consumers[consumer.consumer_key] = consumer
            return consumer

    # -- the checks shared by api.php and Special:OAuth ----------------
    def _parse(self, req: WikiRequest) -> Request:
        """oauthlib's view of the request, with the wiki's own URL (not the Host header)."""
        uri = self.wiki.server_url + quote(req.path, safe="/:@!$&'()*+,;=~%")
        if req.query_string:
            uri += '?' + req.query_string
        try:
            return self._resource_endpoint._create_request(
                uri, req.method, req.body.decode('utf-8'), dict(req.headers))
        except errors.OAuth1Error as exc:
            raise InvalidAuthorization(exc.description or 'Invalid request') from None

    def _precheck(self, request: Request, token_kind: str) -> OAuth1Consumer:
        """MediaWiki's checks up to the signature, in its order: version, consumer,
        token, timestamp, nonce (stored before the signature is checked)."""
        params = request.oauth_params
        version = params.get('oauth_version', '1.0')
        if version != '1.0':
            raise InvalidAuthorization(f"OAuth version '{version}' not supported")
        consumer = self.consumers.get(request.client_key or '')
        if consumer is None:
            raise InvalidAuthorization('Invalid consumer')
        token = request.resource_owner_key
        if token_kind == 'access':
            record = self.access_tokens.get(token or '')
            if record is None or record.consumer_key != consumer.consumer_key:
                raise InvalidAuthorization(
                    'No approved grant was found for that authorization token.')
        elif token_kind == 'request':
            rtoken = self.request_tokens.get(token or '')
            if rtoken is None or rtoken.consumer_key != consumer.consumer_key:
                raise HandshakeError('mwoauthdatastore-bad-token',
                                     'No token was found matching your request.')
        try:
            timestamp = int(request.timestamp or '')
        except ValueError:
            raise InvalidAuthorization('Missing timestamp parameter') from None
        now = self.wiki.now()
        if abs(now - timestamp) > TIMESTAMP_WINDOW_S:
            raise InvalidAuthorization(f'Expired timestamp, yours {timestamp}, ours {int(now)}')
        nonce = request.nonce or ''
        with self.wiki.lock:
            seen = self._nonces.setdefault((consumer.consumer_key, token or ''), {})
            for old, expiry in list(seen.items()):
                if expiry < now:
                    del seen[old]
            if nonce in seen:
                raise InvalidAuthorization(f'Nonce already used: {nonce}')
            seen[nonce] = timestamp + TIMESTAMP_WINDOW_S
        return consumer

    def authenticate(self, req: WikiRequest) -> tuple[WikiUser, list[str], OAuth1Consumer]:
        """Check an api.php (or identify) request; return the user, grants, consumer.

        Raises InvalidAuthorization with MediaWiki's detail text.
        """
        request = self._parse(req)
        consumer = self._precheck(request, 'access')
        valid, _ = self._resource_endpoint.validate_protected_resource_request(
            request.uri, req.method, request.body, dict(req.headers))
        if not valid:
            raise InvalidAuthorization('Invalid signature')
        user = self.wiki.users[self.access_tokens[request.resource_owner_key].user]
        return user, list(consumer.grants), consumer

    # -- Special:OAuth/... ------------------------------------------------
    @staticmethod
    def special_title(req: WikiRequest) -> str:
        """The page an index.php request addresses: query title, body title or path form."""
        title = req.query.get('title') or req.form.get('title')
        if not title and req.path.startswith('/index.php/'):
            title = req.path[len('/index.php/'):]
        return (title or '').replace('_', ' ')

    def handles(self, req: WikiRequest) -> bool:
        """True for index.php requests to the OAuth 1.0a Special:OAuth sub-pages."""
        if not req.path.startswith('/index.php'):
            return False
        title = self.special_title(req)
        return title.startswith(SPECIAL_PREFIX) and \
            title[len(SPECIAL_PREFIX):] in HANDSHAKE_SUBPAGES

    def handle(self, req: WikiRequest) -> WikiResponse:
        """Serve initiate / authorize / authenticate / token / identify."""
        subpage = self.special_title(req)[len(SPECIAL_PREFIX):]
        if subpage in ('authorize', 'authenticate'):
            return self._authorize(req, subpage)
        if subpage == 'identify':
            return self._identify(req)
        as_json = req.params.get('format') == 'json'
        try:
            data = self._initiate(req) if subpage == 'initiate' else self._token(req)
        except InvalidAuthorization as exc:
            error = HandshakeError('mwoauth-oauth-exception',
                                   f'An error occurred in the OAuth protocol: {exc}')
            return self._handshake_error(error, as_json)
        except HandshakeError as exc:
            return self._handshake_error(exc, as_json)
        if as_json:
            body = {'key': data['oauth_token'], 'secret': data['oauth_token_secret']}
            if subpage == 'initiate':
                body['oauth_callback_confirmed'] = 'true'
            return WikiResponse.json(body, content_type='application/json',
                                     headers=_NO_CACHE_HEADERS)
        return WikiResponse.text(urlencode(data), content_type=_TEXT_PLAIN,
                                 headers=_NO_CACHE_HEADERS)

    @staticmethod
    def _handshake_error(error: HandshakeError, as_json: bool) -> WikiResponse:
        if as_json:
            return WikiResponse.json({'error': error.key, 'message': error.message},
                                     content_type='application/json',
                                     headers=_NO_CACHE_HEADERS)
        return WikiResponse.text(error.as_text(), content_type=_TEXT_PLAIN,
                                 headers=_NO_CACHE_HEADERS)

    def _initiate(self, req: WikiRequest) -> dict[str, str]:
        request = self._parse(req)
        consumer = self._precheck(request, 'none')
        try:
            valid, _ = self._request_token_endpoint.validate_request_token_request(request)
        except errors.OAuth1Error:
            valid = False
        if not valid:
            raise InvalidAuthorization('Invalid signature')
        if consumer.owner_only:
            raise HandshakeError(
                'mwoauthserver-consumer-owner-only',
                f'"{consumer.name}" is an owner-only Connected App. To fetch the access token, '
                f'see [[Special:OAuthConsumerRegistration/update/{consumer.consumer_key}]].\n\n'
                + _details('Consumer is owner-only', 'E010'))
        if request.redirect_uri != 'oob':
            raise HandshakeError(
                'mwoauth-callback-not-oob',
                'oauth_callback must be set, and must be set to "oob" (case-sensitive)')
        token = _RequestToken(random_hex(32), random_hex(32), consumer.consumer_key)
        with self.wiki.lock:
            self.request_tokens[token.key] = token
        return {'oauth_token': token.key, 'oauth_token_secret': token.secret,
                'oauth_callback_confirmed': 'true'}

    def _token(self, req: WikiRequest) -> dict[str, str]:
        request = self._parse(req)
        consumer = self._precheck(request, 'request')
        try:
            valid, _ = self._access_token_endpoint.validate_access_token_request(request)
        except errors.OAuth1Error:
            valid = False
        if not valid:
            raise InvalidAuthorization('Invalid signature')
        with self.wiki.lock:
            rtoken = self.request_tokens[request.resource_owner_key]
            if rtoken.used:
                raise HandshakeError(
                    'mwoauthdatastore-request-token-already-used',
                    'This request has already been completed and cannot be resubmitted.\n'
                    'Go back to the application and try to connect your account again, '
                    'or contact the application author.\n\n'
                    + _details('OAuth token already used', 'E009'))
            if rtoken.verifier is None or rtoken.user is None:
                raise HandshakeError('mwoauthdatastore-bad-token',
                                     'No token was found matching your request.')
            if request.verifier != rtoken.verifier:
                raise HandshakeError('mwoauthdatastore-bad-verifier',
                                     'The verification code provided was not valid.')
            rtoken.used = True
            access = _AccessToken(random_hex(32), random_hex(40), consumer.consumer_key,
                                  rtoken.user)
            self.access_tokens[access.key] = access
        return {'oauth_token': access.key, 'oauth_token_secret': access.secret,
                'oauth_callback_confirmed': 'true'}

    def _identify(self, req: WikiRequest) -> WikiResponse:
        """A bare HS256 JWT about the user, signed with the consumer secret."""
        try:
            request = self._parse(req)
            user, _grants, consumer = self.authenticate(req)
        except InvalidAuthorization as exc:
            return WikiResponse.json(
                {'error': 'mwoauth-oauth-exception',
                 'message': f'An error occurred in the OAuth protocol: {exc}'},
                content_type='application/json', headers=_NO_CACHE_HEADERS)
        now = int(self.wiki.now())
        # MediaWiki's stored grant list has a gap at index 1, so PHP emits an object.
        grants: object = list(consumer.grants)
        if consumer.grants == DEFAULT_GRANTS:
            grants = {'0': 'basic', '2': 'highvolume', '3': 'editpage',
                      '4': 'createeditmovepage'}
        claims = versions.with_email_verified(self.wiki, {
            'iss': self.wiki.server_url, 'aud': consumer.consumer_key,
            'exp': now + IDENTIFY_LIFETIME_S, 'iat': now, 'sub': str(user.id),
            'username': user.name, 'editcount': user.editcount, 'confirmed_email': True,
            'blocked': False, 'registered': user.registered, 'groups': list(user.groups),
            'rights': list(user.rights), 'grants': grants, 'nonce': request.nonce,
        })
        token = jwt.encode(claims, consumer.consumer_secret, algorithm='HS256',
                           headers={'typ': 'JWT'})
        return WikiResponse.text(token, content_type='application/json',
                                 headers=_NO_CACHE_HEADERS)

    # -- the browser side: approval form -------------------------------
    def _authorize(self, req: WikiRequest, subpage: str) -> WikiResponse:
        user = self.wiki.user_for_session(req.cookies.get(SESSION_COOKIE))
        params = req.params
        if user is None:
            returnto = quote(f'{SPECIAL_PREFIX}{subpage}', safe='')
            returntoquery = quote(urlencode({k: params[k] for k in
                                             ('oauth_token', 'oauth_consumer_key')
                                             if k in params}), safe='')
            return self._redirect(f'{self.wiki.server_url}/index.php?title=Special:UserLogin'
                                  f'&returnto={returnto}&returntoquery={returntoquery}'
                                  '&warning=mwoauth-login-required-reason')
        session = req.cookies[SESSION_COOKIE]
        if req.method == 'POST':
            return self._authorize_submit(req, user, session)
        token_key = params.get('oauth_token', '')
        rtoken = self.request_tokens.get(token_key)
        consumer = self.consumers.get(params.get('oauth_consumer_key', ''))
        if rtoken is None or consumer is None or rtoken.consumer_key != consumer.consumer_key:
            return self._html_page('OAuth', '<p class="error">No request was found for that '
                                   'token.</p>')
        form = _AUTHORIZE_FORM.format(
            sub=subpage, user=html.escape(user.name), app=html.escape(consumer.name),
            token=html.escape(self.wiki.edit_token('session:' + session)),
            consumer_key=consumer.consumer_key, request_token=rtoken.key)
        return self._html_page('OAuth', versions.approval_form(self.wiki, form))

    def _authorize_submit(self, req: WikiRequest, user: WikiUser, session: str) -> WikiResponse:
        form = req.form
        if form.get('wpEditToken') != self.wiki.edit_token('session:' + session):
            return self._html_page('OAuth', '<p class="error">Sorry! We could not process '
                                   'your edit due to a loss of session data.</p>')
        consumer = self.consumers.get(form.get('consumerKey', ''))
        with self.wiki.lock:
            rtoken = self.request_tokens.get(form.get('requestToken', ''))
            if rtoken is None or consumer is None or rtoken.consumer_key != consumer.consumer_key:
                return self._html_page('OAuth', '<p class="error">No request was found for '
                                       'that token.</p>')
            if 'accept' not in form:
                return self._html_page('OAuth', '<p>You cancelled the request.</p>')
            rtoken.user = user.name
            rtoken.verifier = random_hex(32)
        callback = consumer.callback or ''
        separator = '&' if '?' in callback else '?'
        location = callback + separator + urlencode(
            {'oauth_verifier': rtoken.verifier, 'oauth_token': rtoken.key})
        return self._redirect(location)

    @staticmethod
    def _redirect(location: str) -> WikiResponse:
        """302 with the headers MediaWiki sends on Special:OAuth redirects."""
        return WikiResponse(302, [*_PRIVATE_HEADERS, ('Content-Type', 'text/html; charset=UTF-8'),
                                  ('Location', location)])

    def _html_page(self, title: str, content: str) -> WikiResponse:
        page = (f'<!DOCTYPE html>\n<html><head><title>{title} - {self.wiki.sitename}</title>'
                f'</head><body>{content}</body></html>')
        return WikiResponse.text(page, content_type='text/html; charset=UTF-8',
                                 headers=_PRIVATE_HEADERS)


_AUTHORIZE_FORM = """\
<form id='mw-mwoauth-authorize-form' action='/index.php/Special:OAuth/{sub}' method='post' \
enctype='application/x-www-form-urlencoded'>\
<input type="hidden" value="Special:OAuth/{sub}" name="title"/>
<p>Hi {user},</p><p>In order to complete your request, <b>{app}</b> needs permission to \
perform the following actions on your behalf on all projects of this site:</p>
<input id="wpEditToken" type="hidden" value="{token}" name="wpEditToken"/>
<input id="mw-input-wpaction" name="wpaction" type="hidden" value="accept"/>
<input id="mw-input-wpconfirmUpdate" name="wpconfirmUpdate" type="hidden" value="1"/>
<input id="mw-input-oauth_version" name="oauth_version" type="hidden" value="1"/>
<input id="mw-input-consumerKey" name="consumerKey" type="hidden" value="{consumer_key}"/>
<input id="mw-input-requestToken" name="requestToken" type="hidden" value="{request_token}"/>
<div class="mw-htmlform-submit-buttons">
<button type='submit' name='accept' value='Allow'>Allow</button>\
<button type='submit' name='cancel' value='Cancel'>Cancel</button></div>
</form>"""
