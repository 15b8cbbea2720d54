"""The OAuth 2.0 provider of the test wiki: Extension:OAuth's ``rest.php/oauth2`` endpoints.

oauthlib does the protocol work (authorization code + PKCE, refresh, client
credentials, bearer checks) through ``validator.WikiRequestValidator``, which
holds the clients, codes and tokens kept here; ``consent`` serves the browser
pages, ``endpoints`` the token and resource endpoints, ``tokens`` signs and
rotates, and every failure is worded through ``mediawiki_errors``.
"""
from __future__ import annotations

import collections
import threading
from typing import Callable
from urllib.parse import unquote

from oauthlib.oauth2 import (
    AuthorizationEndpoint,
    BearerToken,
    ResourceEndpoint,
    TokenEndpoint,
)
from oauthlib.oauth2.rfc6749.grant_types import ClientCredentialsGrant, RefreshTokenGrant

from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import (
    DEFAULT_GRANTS,
    InvalidAuthorization,
    Wiki,
    WikiUser,
    WrongWikiAuthorization,
    random_hex,
)
from pwb_oauth_ext.testwiki.providers.oauth2.consent import (
    APPROVE_TITLE,
    REST_REDIRECT_TITLE,
    ConsentPages,
)
from pwb_oauth_ext.testwiki.providers.oauth2.endpoints import RestEndpoints
from pwb_oauth_ext.testwiki.providers.oauth2.mediawiki_errors import (
    MediaWikiError,
    TokenRejected,
    mediawiki_error,
)
from pwb_oauth_ext.testwiki.providers.oauth2.records import (
    OWNER_ONLY_TOKEN_TTL,
    AccessToken,
    AuthorizationCode,
    OAuth2Client,
    RefreshToken,
)
from pwb_oauth_ext.testwiki.providers.oauth2.tokens import TokenIssuer
from pwb_oauth_ext.testwiki.providers.oauth2.validator import (
    MediaWikiAuthorizationCodeGrant,
    WikiRequestValidator,
)

_OAUTH2_PREFIX = '/rest.php/oauth2/'


class OAuth2Provider:
    """Extension:OAuth's OAuth 2.0 endpoints for one ``Wiki``.

    Lifetimes are plain attributes so tests can shorten them at run time.
    ``refresh_grace_seconds`` > 0 models a replay grace after rotation: within it,
    presenting the just-rotated refresh token again succeeds and returns a new
    access token together with the *same* successor refresh token (the chain does
    not fork), and nothing issued by the first use is revoked, so two processes
    racing on one stored token both keep working.  After the grace (and always
    when it is 0, as in REL1_39) reuse gets 401 "Token has been revoked".
    """

    def __init__(self, wiki: Wiki, *, access_token_ttl: float = 14400.0,
                 refresh_token_ttl: float = 30 * 86400,
                 refresh_grace_seconds: float = 0.0) -> None:
        self.wiki = wiki
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.refresh_grace_seconds = refresh_grace_seconds
        self.clients: dict[str, OAuth2Client] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}      # by jti
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.approvals: dict[tuple[str, str], list[str]] = {}  # (user, client_id) -> grants
        #: Requests to /oauth2/access_token by grant_type ('' when missing).
        self.token_requests: collections.Counter[str] = collections.Counter()
        self._lock = threading.RLock()
        #: Whether a client may act on this wiki (a farm's single-wiki clients may not
        #: elsewhere: api.php refuses them, resource/profile shows no rights).
        self.client_allowed: Callable[[str], bool] = lambda client_id: True
        #: Whether another wiki of the farm issued this code or refresh token: it decrypts
        #: here (one $wgOAuthSecretKey) but is not in this wiki's cache, so it is "revoked".
        self.issued_elsewhere: Callable[[str], bool] = lambda token: False
        self.tokens = TokenIssuer(self)
        self.validator = WikiRequestValidator(self)
        bearer = BearerToken(self.validator, token_generator=self.tokens.issue_access_token,
                             expires_in=self.tokens.expires_in,
                             refresh_token_generator=self.tokens.issue_refresh_token)
        self.authorization_endpoint = AuthorizationEndpoint(
            default_response_type='code', default_token_type=bearer,
            response_types={'code': MediaWikiAuthorizationCodeGrant(self.validator)})
        self.token_endpoint = TokenEndpoint(
            default_grant_type='authorization_code', default_token_type=bearer,
            grant_types={
                'authorization_code': MediaWikiAuthorizationCodeGrant(self.validator),
                'refresh_token': RefreshTokenGrant(self.validator,
                                                   issue_new_refresh_tokens=True),
                'client_credentials': ClientCredentialsGrant(self.validator),
            })
        self.resource_endpoint = ResourceEndpoint(default_token='Bearer',
                                                  token_types={'Bearer': bearer})
        self.consent = ConsentPages(self)
        self.rest = RestEndpoints(self)

    # -- registration -----------------------------------------------------
    def register_client(self, owner: str, *, confidential: bool = True,
                        owner_only: bool = False, redirect_uri: str | None = None,
                        grants: list[str] | None = None, name: str | None = None,
                        client_credentials: bool = False) -> OAuth2Client:
        """Register (and approve) a client as Special:OAuthConsumerRegistration would.

        Owner-only clients may only use client_credentials and get their
        non-expiring token here; other clients need a redirect URI and use
        authorization_code + refresh_token (public ones without a secret), and
        with ``client_credentials`` also that grant, whose tokens act for no
        user (MediaWiki's sessions for them are anonymous).
        """
        if owner not in self.wiki.users:
            raise ValueError(f'no such user: {owner}')
        if owner_only:
            confidential = True
            allowed = ['client_credentials']
        else:
            if not redirect_uri:
                raise ValueError('a non-owner-only client needs a redirect URI')
            allowed = ['authorization_code', 'refresh_token']
            if client_credentials:
                allowed.append('client_credentials')
        with self._lock:
            client = OAuth2Client(
                client_id=random_hex(32),
                client_secret=random_hex(40) if confidential else None,
                owner=owner, owner_only=owner_only, confidential=confidential,
                redirect_uri=redirect_uri, grants=list(grants or DEFAULT_GRANTS),
                allowed_grant_types=allowed,
                name=name or f'Client{len(self.clients) + 1}')
            self.clients[client.client_id] = client
            if owner_only:
                client.owner_only_token = self.tokens.sign(
                    client.client_id, owner, client.grants, OWNER_ONLY_TOKEN_TTL)[0]
            return client

    def revoke_grant(self, client_id: str, user: str) -> None:
        """Revoke every refresh and access token of ``user`` for ``client_id``."""
        with self._lock:
            for record in self.refresh_tokens.values():
                if record.client_id == client_id and record.user == user:
                    record.revoked_at = record.revoked_at or self.wiki.now()
            for record in self.access_tokens.values():
                if record.client_id == client_id and record.user == user:
                    record.revoked = True
            self.approvals.pop((user, client_id), None)

    # -- bearer tokens --------------------------------------------------
    def authenticate_bearer(self, token: str) -> tuple[WikiUser, list[str]]:
        """(user, grants) behind a bearer token, for api.php.

        MediaWiki reports every rejected token the same way on api.php.
        """
        with self._lock:
            try:
                user, grants = self.tokens.verify(token)
            except TokenRejected:
                raise InvalidAuthorization('Invalid access token') from None
            if not self.client_allowed(self.tokens.client_of(token)):
                raise WrongWikiAuthorization(self.wiki.wiki_id or '')
            return user, grants


    # -- routing --------------------------------------------------------
    @staticmethod
    def _special_page(req: WikiRequest) -> str | None:
        """'Special:OAuth/approve' etc. when the request addresses one of ours."""
        path = unquote(req.path)
        if path.startswith('/index.php/'):
            title = path[len('/index.php/'):]
        elif path == '/index.php':
            title = req.params.get('title', '')
        else:
            return None
        title = title.replace('_', ' ')
        if title in (APPROVE_TITLE, REST_REDIRECT_TITLE):
            return title
        return None

    def handles(self, req: WikiRequest) -> bool:
        """True for /rest.php/oauth2/..., Special:OAuth/approve and Special:OAuth/rest_redirect."""
        return req.path.startswith(_OAUTH2_PREFIX) or self._special_page(req) is not None

    def handle(self, req: WikiRequest) -> WikiResponse:
        """Answer one request that ``handles`` accepted."""
        routes: dict[tuple[str, str], Callable[[WikiRequest], WikiResponse]] = {
            ('GET', _OAUTH2_PREFIX + 'authorize'): self.consent.authorize,
            ('POST', _OAUTH2_PREFIX + 'access_token'): self.rest.access_token,
            ('GET', _OAUTH2_PREFIX + 'resource/profile'): self.rest.profile,
            ('GET', _OAUTH2_PREFIX + 'resource/scopes'): self.rest.scopes,
        }
        with self._lock:
            self.validator.reason = None
            special = self._special_page(req)
            if special == APPROVE_TITLE:
                return self.consent.approve(req)
            if special == REST_REDIRECT_TITLE:
                return self.consent.rest_redirect(req)
            route = routes.get((req.method.upper(), req.path))
            if route is not None:
                return route(req)
            known_paths = {path for _, path in routes}
            status = 405 if req.path in known_paths else 404
            return WikiResponse.json(
                {'httpCode': status,
                 'httpReason': 'Method Not Allowed' if status == 405 else 'Not Found'},
                status=status, content_type='application/json')

    # -- shared helpers -------------------------------------------------
    @staticmethod
    def oauthlib_headers(req: WikiRequest) -> dict[str, str]:
        """The headers oauthlib looks at."""
        headers = {}
        if req.authorization:
            headers['Authorization'] = req.authorization
        if req.headers.get('content-type'):
            headers['Content-Type'] = req.headers['content-type']
        return headers

    def refusal(self, error: str, description: str | None) -> MediaWikiError:
        """MediaWiki's answer to what oauthlib refused, with the validator's reason."""
        return mediawiki_error(error, description, self.validator.reason)

    def url(self, path_and_query: str) -> str:
        """An absolute URL of this wiki."""
        return self.wiki.server_url + path_and_query
