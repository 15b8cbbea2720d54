"""OAuth 1.0a as Extension:OAuth (REL1_39) does it: the registries and the resource check.

Parsing and signature verification are oauthlib's server-side endpoints; the
checks MediaWiki reports with its own words (version, consumer, token,
timestamp, nonce, in that order) run first, here, so clients see the recorded
error texts. The Special:OAuth pages are ``handshake`` (what bots call) and
``consent`` (what a browser sees).
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import quote

from oauthlib.common import Request
from oauthlib.oauth1 import AccessTokenEndpoint, RequestTokenEndpoint, ResourceEndpoint
from oauthlib.oauth1.rfc5849 import errors

from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import (
    DEFAULT_GRANTS,
    InvalidAuthorization,
    Wiki,
    WikiUser,
    random_hex,
)
from pwb_oauth_ext.testwiki.providers.oauth1.consent import SPECIAL_PREFIX, ConsentPages
from pwb_oauth_ext.testwiki.providers.oauth1.handshake import Handshake
from pwb_oauth_ext.testwiki.providers.oauth1.messages import (
    TOKEN_NOT_FOUND,
    TOKEN_NOT_FOUND_DETAIL,
    HandshakeError,
    details,
)
from pwb_oauth_ext.testwiki.providers.oauth1.records import (
    AccessToken,
    OAuth1Consumer,
    RequestToken,
)
from pwb_oauth_ext.testwiki.providers.oauth1.validator import WikiRequestValidator

#: Checks the token a request names for its consumer (raises MediaWiki's refusal).
TokenCheck = Callable[[OAuth1Consumer, str], None]
TIMESTAMP_WINDOW_S = 300
HANDSHAKE_SUBPAGES = ('initiate', 'authorize', 'authenticate', 'token', 'identify')


class OAuth1Provider:
    """Consumers, tokens and nonces of one wiki, plus the Special:OAuth pages."""

    def __init__(self, wiki: Wiki) -> None:
        self.wiki = wiki
        self.consumers: dict[str, OAuth1Consumer] = {}
        self.request_tokens: dict[str, RequestToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self._nonces: dict[tuple[str, str], dict[str, float]] = {}
        #: Whether a consumer may act on this wiki's api.php (a farm's single-wiki
        #: consumers may not elsewhere; the handshake and identify still answer).
        self.consumer_allowed: Callable[[str], bool] = lambda consumer_key: True
        validator = WikiRequestValidator(self)
        self._resource_endpoint = ResourceEndpoint(validator)
        self.request_token_endpoint = RequestTokenEndpoint(validator)
        self.access_token_endpoint = AccessTokenEndpoint(validator)
        self.handshake = Handshake(self)
        self.consent = ConsentPages(self)

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
                token = AccessToken(random_hex(32), random_hex(40), consumer.consumer_key, owner)
                self.access_tokens[token.key] = token
                consumer.access_token, consumer.access_secret = token.key, token.secret
            self.consumers[consumer.consumer_key] = consumer
            return consumer

    # -- the checks shared by api.php and Special:OAuth ----------------
    def parse(self, req: WikiRequest) -> Request:
        """oauthlib's view of the request, with the wiki's own URL (not the Host header)."""
        uri = self.wiki.server_url + quote(req.path, safe="/:@!$&'()*+,;=~%")
        if req.query_string:
            uri += '?' + req.query_string
        try:
            return self._resource_endpoint._create_request(
                uri, req.method, req.body.decode('utf-8'), dict(req.headers))
        except errors.OAuth1Error as exc:
            raise InvalidAuthorization(exc.description or 'Invalid request') from None

    def precheck(self, request: Request, token_check: TokenCheck | None) -> OAuth1Consumer:
        """MediaWiki's checks up to the signature, in its order: version, consumer,
        token (``token_check``, None where no token is sent yet), timestamp, nonce (stored
        before the signature is checked)."""
        params = request.oauth_params
        version = params.get('oauth_version', '1.0')
        if version != '1.0':
            raise InvalidAuthorization(f"OAuth version '{version}' not supported")
        consumer = self.consumers.get(request.client_key or '')
        if consumer is None:
            raise InvalidAuthorization('Invalid consumer')
        token = request.resource_owner_key
        if token_check is not None:
            token_check(consumer, token or '')
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
        request = self.parse(req)
        consumer = self.precheck(request, self.check_access_token)
        valid, _ = self._resource_endpoint.validate_protected_resource_request(
            request.uri, req.method, request.body, dict(req.headers))
        if not valid:
            raise InvalidAuthorization('Invalid signature')
        user = self.wiki.users[self.access_tokens[request.resource_owner_key].user]
        return user, list(consumer.grants), consumer

    def check_access_token(self, consumer: OAuth1Consumer, token: str) -> None:
        """An access token of ``consumer``, or MediaWiki's refusal."""
        record = self.access_tokens.get(token)
        if record is None or record.consumer_key != consumer.consumer_key:
            raise InvalidAuthorization('No approved grant was found for that authorization token.')

    def check_request_token(self, consumer: OAuth1Consumer, token: str) -> None:
        """A request token of ``consumer``, or MediaWiki's refusal."""
        record = self.request_tokens.get(token)
        if record is None:   # not in this wiki's session cache (say, another farm wiki's)
            raise HandshakeError('mwoauthdatastore-request-token-not-found',
                                 TOKEN_NOT_FOUND + details(TOKEN_NOT_FOUND_DETAIL, 'E004'))
        if record.consumer_key != consumer.consumer_key:
            raise HandshakeError('mwoauthdatastore-bad-token',
                                 'No token was found matching your request.')

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
            return self.consent.authorize(req, subpage)
        return self.handshake.handle(req, subpage)
