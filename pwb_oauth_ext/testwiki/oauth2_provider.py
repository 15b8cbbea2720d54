"""OAuth 2.0 side of the test wiki: Extension:OAuth REL1_39's ``rest.php/oauth2`` endpoints.

oauthlib does the protocol work (authorization code + PKCE, refresh, client
credentials, bearer checks) through ``_WikiRequestValidator``, which holds the
clients, codes and tokens.  MediaWiki (league/oauth2-server) answers failures
differently from oauthlib, so every failure is translated through one table,
``MEDIAWIKI_ERRORS``, into the status, JSON and HTML recorded from a real wiki
(see ``shared/mediawiki-oauth/oauth2-*.json``).
"""
from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import html
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import (
    AuthorizationEndpoint,
    BearerToken,
    RequestValidator,
    ResourceEndpoint,
    TokenEndpoint,
)
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors
from oauthlib.oauth2.rfc6749.grant_types import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)

from pwb_oauth_ext.testwiki import versions
from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import (
    DEFAULT_GRANTS,
    GRANT_RIGHTS,
    InvalidAuthorization,
    Wiki,
    WikiUser,
    random_hex,
)

#: Browser session cookie of the test wiki (see ``Wiki.browser_login``).
SESSION_COOKIE = 'testwiki_session'
#: League's AuthCodeGrant lifetime (PT10M).
AUTHORIZATION_CODE_TTL = 600.0
#: 'P1000Y' as MediaWiki computed it for the owner-only token (recorded exp - iat).
OWNER_ONLY_TOKEN_TTL = 365242 * 86400.0
#: Grants a client may name although they unlock no rights.
_AUTH_ONLY_GRANTS = ('mwoauth-authonly', 'mwoauth-authonlyprivate')
_OAUTH2_PREFIX = '/rest.php/oauth2/'
_APPROVE_TITLE = 'Special:OAuth/approve'
_REST_REDIRECT_TITLE = 'Special:OAuth/rest redirect'


# ---------------------------------------------------------------------------
# MediaWiki compliance: how league/oauth2-server words each failure
# ---------------------------------------------------------------------------
#: league's error_description per error type.
LEAGUE_DESCRIPTIONS = {
    'invalid_client': 'Client authentication failed',
    'invalid_request': (
        'The request is missing a required parameter, includes an invalid parameter value, '
        'includes a parameter more than once, or is otherwise malformed.'),
    'invalid_grant': (
        'The provided authorization grant (e.g., authorization code, resource owner '
        'credentials) or refresh token is invalid, expired, revoked, does not match the '
        'redirection URI used in the authorization request, or was issued to another client.'),
    'access_denied': 'The resource owner or authorization server denied the request.',
    'invalid_scope': 'The requested scope is invalid, unknown, or malformed',
    'unsupported_grant_type': (
        'The authorization grant type is not supported by the authorization server.'),
    'server_error': (
        'The authorization server encountered an unexpected condition which prevented it '
        'from fulfilling the request.'),
}
#: The "Application Connection Error" page uses MediaWiki's own text where it has one.
ERROR_PAGE_TEXT = {
    'invalid_client': (
        'Client authentication failed (e.g., unknown client, no client authentication '
        'included, or unsupported authentication method)'),
}
_REFRESH_INVALID = 'The refresh token is invalid.'


@dataclass(frozen=True)
class MediaWikiError:
    """One failure as MediaWiki reports it."""

    status: int
    error: str
    hint: str | None = None
    description: str | None = None  # None: LEAGUE_DESCRIPTIONS[error]

    @property
    def text(self) -> str:
        """The error_description (and message) field."""
        return self.description or LEAGUE_DESCRIPTIONS.get(self.error, self.error)


#: Failure reason -> what MediaWiki REL1_39 answers.  Reasons come from the
#: validator (which knows *why* it said no) or from ``OAUTHLIB_REASONS``.
MEDIAWIKI_ERRORS: dict[str, MediaWikiError] = {
    # client authentication (league validateClient): wrong/missing secret, grant not
    # allowed for the client, token redirect_uri not the registered one, public refresh
    'client_auth_failed': MediaWikiError(401, 'invalid_client'),
    # /authorize, shown as an HTML page
    'client_unknown': MediaWikiError(401, 'invalid_client'),
    'redirect_uri_unregistered': MediaWikiError(401, 'invalid_client'),
    'client_owner_only': MediaWikiError(401, 'access_denied'),
    'response_type': MediaWikiError(
        400, 'unsupported_grant_type', 'Check that all required parameters have been provided'),
    'code_challenge_missing': MediaWikiError(
        400, 'invalid_request', 'Code challenge must be provided for public clients'),
    'code_challenge_method': MediaWikiError(
        400, 'invalid_request', 'Code challenge method must be one of `plain` or `S256`'),
    'scope': MediaWikiError(400, 'invalid_scope', 'Check the `scope` parameter'),
    # /access_token
    'grant_type': MediaWikiError(400, 'invalid_request', 'Check the `grant_type` parameter'),
    'code_missing': MediaWikiError(400, 'invalid_request', 'Check the `code` parameter'),
    'code_undecryptable': MediaWikiError(
        400, 'invalid_request', 'Cannot decrypt the authorization code'),
    'code_expired': MediaWikiError(400, 'invalid_request', 'Authorization code has expired'),
    'code_revoked': MediaWikiError(400, 'invalid_request', 'Authorization code has been revoked'),
    'code_wrong_client': MediaWikiError(
        400, 'invalid_request', 'Authorization code was not issued to this client'),
    'redirect_uri_missing': MediaWikiError(
        400, 'invalid_request', 'Check the `redirect_uri` parameter'),
    'redirect_uri_invalid': MediaWikiError(400, 'invalid_request', 'Invalid redirect URI'),
    'code_verifier_missing': MediaWikiError(
        400, 'invalid_request', 'Check the `code_verifier` parameter'),
    'code_verifier_mismatch': MediaWikiError(
        400, 'invalid_grant', 'Failed to verify `code_verifier`.'),
    'refresh_missing': MediaWikiError(
        400, 'invalid_request', 'Check the `refresh_token` parameter'),
    'refresh_undecryptable': MediaWikiError(
        401, 'invalid_request', 'Cannot decrypt the refresh token', _REFRESH_INVALID),
    'refresh_wrong_client': MediaWikiError(
        401, 'invalid_request', 'Token is not linked to client', _REFRESH_INVALID),
    'refresh_expired': MediaWikiError(
        401, 'invalid_request', 'Token has expired', _REFRESH_INVALID),
    'refresh_revoked': MediaWikiError(
        401, 'invalid_request', 'Token has been revoked', _REFRESH_INVALID),
    # /resource/* (league BearerTokenValidator)
    'access_token_malformed': MediaWikiError(
        401, 'access_denied', 'The JWT string must have two dots'),
    'access_token_unverified': MediaWikiError(
        401, 'access_denied', 'Access token could not be verified'),
    'access_token_revoked': MediaWikiError(401, 'access_denied', 'Access token has been revoked'),
    # anything else
    'malformed_request': MediaWikiError(400, 'invalid_request'),
    'server_error': MediaWikiError(500, 'server_error'),
}


def _oauthlib_key(error_class: type[oauth2_errors.OAuth2Error]) -> tuple[str, str]:
    return (error_class.error, error_class.description)


#: oauthlib's own verdicts -> reason.  An exact (error, description) match wins over
#: the validator's reason; an (error, None) entry is the fallback for that error.
OAUTHLIB_REASONS: dict[tuple[str, str | None], str] = {
    _oauthlib_key(oauth2_errors.MissingCodeVerifierError): 'code_verifier_missing',
    _oauthlib_key(oauth2_errors.MissingCodeChallengeError): 'code_challenge_missing',
    _oauthlib_key(oauth2_errors.UnsupportedCodeChallengeMethodError): 'code_challenge_method',
    _oauthlib_key(oauth2_errors.MissingResponseTypeError): 'response_type',
    ('invalid_request', 'Missing code parameter.'): 'code_missing',
    ('invalid_request', 'Missing refresh token parameter.'): 'refresh_missing',
    ('unsupported_response_type', None): 'response_type',
    ('unsupported_grant_type', None): 'grant_type',
    ('invalid_client', None): 'client_auth_failed',
    ('unauthorized_client', None): 'client_auth_failed',
    ('invalid_scope', None): 'scope',
    ('invalid_request', None): 'malformed_request',
}


def mediawiki_error(error: str, description: str | None, validator_reason: str | None
                    ) -> MediaWikiError:
    """Translate an oauthlib failure (plus the validator's reason) into MediaWiki's answer."""
    reason = (OAUTHLIB_REASONS.get((error, description))
              or validator_reason
              or OAUTHLIB_REASONS.get((error, None))
              or 'server_error')
    return MEDIAWIKI_ERRORS[reason]


# ---------------------------------------------------------------------------
# Registrations and stored grants
# ---------------------------------------------------------------------------
@dataclass
class OAuth2Client:
    """A registered OAuth 2.0 client (Special:OAuthConsumerRegistration/propose/oauth2)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    owner: str
    owner_only: bool
    confidential: bool
    redirect_uri: str | None
    grants: list[str]
    allowed_grant_types: list[str]
    #: For owner-only clients: the non-expiring token shown at registration.
    owner_only_token: str | None = field(default=None, repr=False)
    #: Shown on the approval form.
    name: str = ''


@dataclass
class _AuthorizationCode:
    client_id: str
    user: str
    scopes: list[str]
    redirect_uri: str | None  # as sent to /authorize; None when it was omitted
    challenge: str | None
    challenge_method: str | None
    expires: float
    used: bool = False


@dataclass
class _AccessToken:
    client_id: str
    user: str
    scopes: list[str]
    expires: float
    revoked: bool = False


@dataclass
class _RefreshToken:
    client_id: str
    user: str
    scopes: list[str]
    expires: float
    access_jtis: list[str]
    revoked_at: float | None = None
    successor: str | None = field(default=None, repr=False)


class _TokenRejected(Exception):
    """A bearer token failed verification; ``reason`` keys MEDIAWIKI_ERRORS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _opaque_token(n_bytes: int) -> str:
    """Random hex shaped like league's defuse ciphertexts ('def50200...')."""
    return 'def50200' + secrets.token_hex(n_bytes)


# ---------------------------------------------------------------------------
# oauthlib validator
# ---------------------------------------------------------------------------
class _WikiRequestValidator(RequestValidator):
    """oauthlib's view of the wiki's clients, codes and tokens.

    Each ``False`` also records *why* in ``self.reason`` (the provider resets it
    per request under its lock), because oauthlib collapses several distinct
    MediaWiki errors into one (e.g. every bad code is ``invalid_grant``).
    """

    def __init__(self, provider: OAuth2Provider) -> None:
        super().__init__()
        self.provider = provider
        self.reason: str | None = None

    def _fail(self, reason: str) -> bool:
        self.reason = reason
        return False

    # -- clients --------------------------------------------------------
    @staticmethod
    def _presented_credentials(request: Any) -> tuple[str | None, str | None]:
        """(client_id, client_secret) from HTTP Basic, else the form body (league order)."""
        header = request.headers.get('Authorization', '')
        if header.startswith('Basic '):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode('utf-8')
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            client_id, sep, secret = decoded.partition(':')
            return client_id, (secret if sep else None)
        return request.client_id, request.client_secret

    def _client(self, client_id: str | None) -> OAuth2Client | None:
        return self.provider.clients.get(client_id or '')

    def client_authentication_required(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        client = self._client(self._presented_credentials(request)[0])
        # league only authenticates confidential clients on authorization_code;
        # RefreshTokenGrant always does (so public clients cannot refresh in REL1_39).
        return not (client is not None and not client.confidential
                    and request.grant_type == 'authorization_code')

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        client_id, secret = self._presented_credentials(request)
        client = self._client(client_id)
        if (client is None or not client.confidential or client.client_secret is None
                or secret is None or not secrets.compare_digest(secret, client.client_secret)):
            return self._fail('client_auth_failed')
        if request.grant_type not in client.allowed_grant_types:
            return self._fail('client_auth_failed')
        redirect_uri = request.redirect_uri
        if redirect_uri is not None and redirect_uri != client.redirect_uri:
            return self._fail('client_auth_failed')
        request.client = client
        request.client_id = client.client_id
        if request.grant_type == 'client_credentials':
            # Only an owner-only client acts for its owner; other clients for nobody.
            request.user = client.owner if client.owner_only else ''

        return True

    def authenticate_client_id(self, client_id: str, request: Any, *args: Any,
                               **kwargs: Any) -> bool:
        client = self._client(client_id)
        if client is None or client.confidential:
            return self._fail('client_auth_failed')
        if request.grant_type not in client.allowed_grant_types:
            return self._fail('client_auth_failed')
        request.client = client
        return True

    def validate_grant_type(self, client_id: str, grant_type: str, client: Any, request: Any,
                            *args: Any, **kwargs: Any) -> bool:
        if grant_type in client.allowed_grant_types:
            return True
        return self._fail('client_auth_failed')

    # -- /authorize -------------------------------------------------------
    def validate_client_id(self, client_id: str, request: Any, *args: Any, **kwargs: Any) -> bool:
        client = self._client(client_id)
        if client is None:
            return self._fail('client_unknown')
        if client.owner_only:
            return self._fail('client_owner_only')
        request.client = client
        return True

    def validate_redirect_uri(self, client_id: str, redirect_uri: str, request: Any,
                              *args: Any, **kwargs: Any) -> bool:
        client = self._client(client_id)
        if client is not None and redirect_uri == client.redirect_uri:
            return True
        return self._fail('redirect_uri_unregistered')

    def get_default_redirect_uri(self, client_id: str, request: Any, *args: Any,
                                 **kwargs: Any) -> str | None:
        client = self._client(client_id)
        return client.redirect_uri if client else None

    def validate_response_type(self, client_id: str, response_type: str, client: Any,
                               request: Any, *args: Any, **kwargs: Any) -> bool:
        registered = self._client(client_id)
        if (response_type == 'code' and registered is not None
                and 'authorization_code' in registered.allowed_grant_types):
            return True
        return self._fail('response_type')

    def is_pkce_required(self, client_id: str, request: Any) -> bool:
        client = self._client(client_id)
        return client is not None and not client.confidential

    def get_default_scopes(self, client_id: str, request: Any, *args: Any,
                           **kwargs: Any) -> list[str]:
        client = self._client(client_id)
        return list(client.grants) if client else []

    def validate_scopes(self, client_id: str, scopes: list[str], client: Any, request: Any,
                        *args: Any, **kwargs: Any) -> bool:
        known = set(GRANT_RIGHTS) | set(_AUTH_ONLY_GRANTS) | set(DEFAULT_GRANTS)
        if any(scope not in known for scope in scopes):
            return self._fail('scope')
        registered = self._client(client_id)
        allowed = registered.grants if registered else []
        # MediaWiki trims scopes the client was not granted instead of failing.
        scopes[:] = [scope for scope in scopes if scope in allowed]
        return True

    def save_authorization_code(self, client_id: str, code: dict[str, str], request: Any,
                                *args: Any, **kwargs: Any) -> None:
        sent_redirect = None if request.using_default_redirect_uri else request.redirect_uri
        self.provider.codes[code['code']] = _AuthorizationCode(
            client_id=client_id, user=request.user, scopes=list(request.scopes or []),
            redirect_uri=sent_redirect, challenge=request.code_challenge,
            challenge_method=request.code_challenge_method,
            expires=self.provider.wiki.now() + AUTHORIZATION_CODE_TTL)

    # -- /access_token: authorization_code --------------------------------
    def validate_code(self, client_id: str, code: str, client: Any, request: Any,
                      *args: Any, **kwargs: Any) -> bool:
        record = self.provider.codes.get(code)
        if record is None:
            return self._fail('code_undecryptable')
        if record.expires < self.provider.wiki.now():
            return self._fail('code_expired')
        if record.used:
            return self._fail('code_revoked')
        if record.client_id != client_id:
            return self._fail('code_wrong_client')
        # league checks redirect_uri here, before PKCE; oauthlib would do it after.
        if record.redirect_uri is not None and request.redirect_uri is None:
            return self._fail('redirect_uri_missing')
        if request.redirect_uri is not None and request.redirect_uri != record.redirect_uri:
            return self._fail('redirect_uri_invalid')
        request.user = record.user
        request.scopes = list(record.scopes)
        return True

    def get_code_challenge(self, code: str, request: Any) -> str | None:
        record = self.provider.codes.get(code)
        challenge = record.challenge if record else None
        if challenge is not None:
            # The only check oauthlib makes after this one is the verifier itself.
            self.reason = 'code_verifier_mismatch'
        return challenge

    def get_code_challenge_method(self, code: str, request: Any) -> str | None:
        record = self.provider.codes.get(code)
        return record.challenge_method if record else None

    def confirm_redirect_uri(self, client_id: str, code: str, redirect_uri: str, client: Any,
                             request: Any, *args: Any, **kwargs: Any) -> bool:
        return True  # already checked in validate_code, in league's order

    def invalidate_authorization_code(self, client_id: str, code: str, request: Any,
                                      *args: Any, **kwargs: Any) -> None:
        self.provider.codes[code].used = True

    # -- /access_token: refresh_token -------------------------------------
    def validate_refresh_token(self, refresh_token: str, client: Any, request: Any,
                               *args: Any, **kwargs: Any) -> bool:
        provider = self.provider
        record = provider.refresh_tokens.get(refresh_token)
        if record is None:
            return self._fail('refresh_undecryptable')
        if record.client_id != client.client_id:
            return self._fail('refresh_wrong_client')
        now = provider.wiki.now()
        if record.expires < now:
            return self._fail('refresh_expired')
        if record.revoked_at is not None:
            successor = provider.refresh_tokens.get(record.successor or '')
            in_grace = (provider.refresh_grace_seconds > 0
                        and now - record.revoked_at <= provider.refresh_grace_seconds
                        and successor is not None and successor.revoked_at is None)
            if not in_grace:
                return self._fail('refresh_revoked')
            request.mw_grace_successor = record.successor
        request.user = record.user
        return True

    def get_original_scopes(self, refresh_token: str, request: Any, *args: Any,
                            **kwargs: Any) -> list[str]:
        return list(self.provider.refresh_tokens[refresh_token].scopes)

    def rotate_refresh_token(self, request: Any) -> bool:
        return True

    def save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any,
                          **kwargs: Any) -> None:
        self.provider._link_issued_tokens(token, request)

    # -- resource endpoints -----------------------------------------------
    def validate_bearer_token(self, token: str | None, scopes: list[str], request: Any) -> bool:
        try:
            user, grants = self.provider._verify_access_token(token)
        except _TokenRejected as exc:
            return self._fail(exc.reason)
        request.user = user
        request.scopes = grants
        return True


class _MediaWikiAuthorizationCodeGrant(AuthorizationCodeGrant):
    """Codes shaped like MediaWiki's (opaque hex starting 'def50200')."""

    def create_authorization_code(self, request: Any) -> dict[str, str]:
        grant = {'code': _opaque_token(400)}
        if getattr(request, 'state', None):
            grant['state'] = request.state
        return grant


# ---------------------------------------------------------------------------
# The provider
# ---------------------------------------------------------------------------
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
        self.codes: dict[str, _AuthorizationCode] = {}
        self.access_tokens: dict[str, _AccessToken] = {}      # by jti
        self.refresh_tokens: dict[str, _RefreshToken] = {}
        self.approvals: dict[tuple[str, str], list[str]] = {}  # (user, client_id) -> grants
        #: Requests to /oauth2/access_token by grant_type ('' when missing).
        self.token_requests: collections.Counter[str] = collections.Counter()
        self._lock = threading.RLock()
        self._csrf_salt = secrets.token_bytes(16)
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._private_key.public_key()
        self._verified_claims: dict[str, dict[str, Any]] = {}  # token -> claims of a good signature
        self._validator = _WikiRequestValidator(self)
        bearer = BearerToken(self._validator, token_generator=self._issue_access_token,
                             expires_in=self._expires_in,
                             refresh_token_generator=self._issue_refresh_token)
        self._authorization_endpoint = AuthorizationEndpoint(
            default_response_type='code', default_token_type=bearer,
            response_types={'code': _MediaWikiAuthorizationCodeGrant(self._validator)})
        self._token_endpoint = TokenEndpoint(
            default_grant_type='authorization_code', default_token_type=bearer,
            grant_types={
                'authorization_code': _MediaWikiAuthorizationCodeGrant(self._validator),
                'refresh_token': RefreshTokenGrant(self._validator,
                                                   issue_new_refresh_tokens=True),
                'client_credentials': ClientCredentialsGrant(self._validator),
            })
        self._resource_endpoint = ResourceEndpoint(default_token='Bearer',
                                                   token_types={'Bearer': bearer})

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
                client.owner_only_token = self._sign_access_token(
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
                return self._verify_access_token(token)
            except _TokenRejected:
                raise InvalidAuthorization('Invalid access token') from None

    def _verify_access_token(self, token: str | None) -> tuple[WikiUser, list[str]]:
        if not token or token.count('.') != 2:
            raise _TokenRejected('access_token_malformed')
        claims = self._verified_claims.get(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token, self._public_key, algorithms=['RS256'],
                    # time claims are checked below against the wiki's (shiftable) clock
                    options={'verify_exp': False, 'verify_nbf': False, 'verify_iat': False,
                             'verify_aud': False, 'verify_iss': False})
            except jwt.InvalidTokenError:
                raise _TokenRejected('access_token_unverified') from None
            # The signature check is the costly part; remember it (expiry and
            # revocation are still checked on every request, below), so the
            # stand-in wiki does not dominate what benchmarks measure of the bot.
            if len(self._verified_claims) >= 4096:
                self._verified_claims.clear()
            self._verified_claims[token] = claims
        now = self.wiki.now()
        try:
            valid_at = float(claims['nbf']) <= now < float(claims['exp'])
        except (KeyError, TypeError, ValueError):
            valid_at = False
        if not valid_at:
            raise _TokenRejected('access_token_unverified')
        record = self.access_tokens.get(str(claims.get('jti')))
        user = self.wiki.users.get(record.user) if record else None
        if record is not None and not record.revoked and record.user == '':
            return None, list(record.scopes)   # a token for no user: anonymous
        if record is None or record.revoked or user is None:
            raise _TokenRejected('access_token_revoked')
        return user, list(record.scopes)

    def _sign_access_token(self, client_id: str, user_name: str, scopes: list[str],
                           ttl: float) -> tuple[str, str]:
        """A MediaWiki-shaped RS256 access token and its jti; stored for revocation."""
        sub = str(self.wiki.users[user_name].id) if user_name else '0'
        now = self.wiki.now()
        jti = random_hex(80)
        claims = {'aud': client_id, 'jti': jti, 'iat': round(now, 6),
                  'nbf': round(now, 6), 'exp': round(now + ttl, 6), 'sub': sub,
                  'iss': self.wiki.server_url, 'scopes': list(scopes)}
        token = jwt.encode(claims, self._private_key, algorithm='RS256',
                           headers={'typ': 'JWT', 'alg': 'RS256'}, sort_headers=False)
        self.access_tokens[jti] = _AccessToken(client_id=client_id, user=user_name,
                                               scopes=list(scopes), expires=now + ttl)
        return token, jti

    # oauthlib hooks (called with the oauthlib Request) ------------------
    def _expires_in(self, request: Any) -> int:
        return round(self.access_token_ttl)

    def _issue_access_token(self, request: Any) -> str:
        client_id = request.client_id or request.client.client_id
        token, jti = self._sign_access_token(client_id, request.user, request.scopes or [],
                                             float(self.access_token_ttl))
        request.mw_access_jti = jti
        return token

    def _issue_refresh_token(self, request: Any) -> str:
        return getattr(request, 'mw_grace_successor', None) or _opaque_token(431)

    def _link_issued_tokens(self, token: dict[str, Any], request: Any) -> None:
        """Rotation bookkeeping after oauthlib issued ``token``."""
        jti = request.mw_access_jti
        now = self.wiki.now()
        if request.grant_type == 'refresh_token':
            successor = getattr(request, 'mw_grace_successor', None)
            if successor:
                self.refresh_tokens[successor].access_jtis.append(jti)
                return
            old = self.refresh_tokens[request.refresh_token]
            old.revoked_at = now
            old.successor = token['refresh_token']
            for old_jti in old.access_jtis:
                self.access_tokens[old_jti].revoked = True
        if 'refresh_token' in token:
            self.refresh_tokens[token['refresh_token']] = _RefreshToken(
                client_id=request.client_id or request.client.client_id, user=request.user,
                scopes=list(request.scopes or []), expires=now + self.refresh_token_ttl,
                access_jtis=[jti])

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
        if title in (_APPROVE_TITLE, _REST_REDIRECT_TITLE):
            return title
        return None

    def handles(self, req: WikiRequest) -> bool:
        """True for /rest.php/oauth2/..., Special:OAuth/approve and Special:OAuth/rest_redirect."""
        return req.path.startswith(_OAUTH2_PREFIX) or self._special_page(req) is not None

    def handle(self, req: WikiRequest) -> WikiResponse:
        """Answer one request that ``handles`` accepted."""
        routes: dict[tuple[str, str], Callable[[WikiRequest], WikiResponse]] = {
            ('GET', _OAUTH2_PREFIX + 'authorize'): self._authorize,
            ('POST', _OAUTH2_PREFIX + 'access_token'): self._access_token,
            ('GET', _OAUTH2_PREFIX + 'resource/profile'): self._profile,
            ('GET', _OAUTH2_PREFIX + 'resource/scopes'): self._scopes,
        }
        with self._lock:
            self._validator.reason = None
            special = self._special_page(req)
            if special == _APPROVE_TITLE:
                return self._approve(req)
            if special == _REST_REDIRECT_TITLE:
                return self._rest_redirect(req)
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
    def _oauthlib_headers(self, req: WikiRequest) -> dict[str, str]:
        headers = {}
        if req.authorization:
            headers['Authorization'] = req.authorization
        if req.headers.get('content-type'):
            headers['Content-Type'] = req.headers['content-type']
        return headers

    def _user(self, req: WikiRequest) -> WikiUser | None:
        return self.wiki.user_for_session(req.cookies.get(SESSION_COOKIE))

    def _csrf_token(self, req: WikiRequest) -> str:
        session = req.cookies.get(SESSION_COOKIE, '').encode('utf-8')
        return hmac.new(self._csrf_salt, session, hashlib.sha1).hexdigest() + '+\\'

    def _url(self, path_and_query: str) -> str:
        return self.wiki.server_url + path_and_query

    # -- /authorize -------------------------------------------------------
    def _authorize(self, req: WikiRequest) -> WikiResponse:
        pairs = [(k, v) for k, v in parse_qsl(req.query_string, keep_blank_values=True)
                 if k not in ('approval_pass', 'approval_cancel')]
        original_query = urlencode(pairs)
        user = self._user(req)
        if user is None:  # MediaWiki asks for a login before looking at the request
            rest_url = req.path + ('?' + original_query if original_query else '')
            return _temporary_redirect(self._url(
                '/index.php?title=Special:UserLogin&' + urlencode([
                    ('returnto', _REST_REDIRECT_TITLE),
                    ('returntoquery', urlencode([('rest_url', rest_url)]))])))
        uri = self._url(req.path + ('?' + req.query_string if req.query_string else ''))
        headers = self._oauthlib_headers(req)
        try:
            scopes, info = self._authorization_endpoint.validate_authorization_request(
                uri, 'GET', None, headers)
        except oauth2_errors.OAuth2Error as exc:
            return self._error_page(mediawiki_error(exc.error, exc.description,
                                                    self._validator.reason))
        client = self.clients[info['client_id']]
        query = req.query
        if query.get('approval_cancel'):
            message = 'User has rejected the request from client application'
            return _found(add_params_to_uri(info['redirect_uri'], [
                ('error', 'unauthorized_client'), ('error_description', message),
                ('message', message)]))
        approved = self.approvals.get((user.name, client.client_id))
        if query.get('approval_pass') and approved is not None and set(scopes) <= set(approved):
            try:
                out_headers, _, _ = self._authorization_endpoint.create_authorization_response(
                    uri, 'GET', None, headers, scopes, {'user': user.name})
            except oauth2_errors.OAuth2Error as exc:
                return self._error_page(mediawiki_error(exc.error, exc.description,
                                                        self._validator.reason))
            return _found(out_headers['Location'])
        return _temporary_redirect(self._url(
            '/index.php?title=Special:OAuth/approve&' + urlencode([
                ('returnto', req.path), ('returntoquery', original_query),
                ('client_id', client.client_id), ('oauth_version', '2'),
                ('scope', ' '.join(scopes))])))

    def _rest_redirect(self, req: WikiRequest) -> WikiResponse:
        """Where Special:UserLogin sends the user back after logging in."""
        rest_url = req.params.get('rest_url', '')
        if not rest_url.startswith('/rest.php/'):
            return self._error_page(MEDIAWIKI_ERRORS['malformed_request'])
        return _found(self._url(rest_url))

    def _error_page(self, error: MediaWikiError) -> WikiResponse:
        """MediaWiki's HTTP 200 'Application Connection Error' page (no hint shown)."""
        title = f'Application Connection Error - {self.wiki.sitename}'
        text = ERROR_PAGE_TEXT.get(error.error, error.text)
        body = (f'<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head>'
                f'<body><h1 id="firstHeading">Application Connection Error</h1>'
                f'<div id="mw-content-text" data-error="{html.escape(error.error)}">'
                f'<p>{html.escape(text)}</p><p id="mw-returnto">Return to '
                f'<a href="/index.php/Main_Page">Main Page</a>.</p></div></body></html>')
        status = versions.authorize_error_status(
            self.wiki, unknown_client=error is MEDIAWIKI_ERRORS['client_unknown'])
        return WikiResponse.text(body, status, 'text/html;charset=UTF-8', headers=[
            ('Vary', 'Accept-Encoding, Cookie, Authorization'),
            ('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT'),
            ('Cache-Control', 'no-cache, no-store, max-age=0, must-revalidate'),
            ('Pragma', 'no-cache')])

    # -- Special:OAuth/approve --------------------------------------------
    def _approve(self, req: WikiRequest) -> WikiResponse:
        user = self._user(req)
        params = req.params
        if user is None:
            query = urlencode([(k, v) for k, v in req.query.items() if k != 'title'])
            return _found(self._url('/index.php?title=Special:UserLogin&' + urlencode([
                ('returnto', _APPROVE_TITLE), ('returntoquery', query)])))
        client = self.clients.get(params.get('client_id', ''))
        returnto = params.get('returnto', '')
        if client is None or client.owner_only or returnto != _OAUTH2_PREFIX + 'authorize':
            return self._error_page(MEDIAWIKI_ERRORS['client_unknown'])
        if req.method.upper() != 'POST':
            return self._approval_form(req, user, client)
        if not secrets.compare_digest(params.get('wpEditToken', ''), self._csrf_token(req)):
            return self._approval_form(req, user, client, session_failure=True)
        back = self._url(returnto + '?' + params.get('returntoquery', ''))
        if 'cancel' in params:
            return _found(back + '&approval_cancel=1')
        if 'accept' in params and params.get('wpaction', 'accept') == 'accept':
            requested = params.get('scope', '').split()
            self.approvals[(user.name, client.client_id)] = [
                grant for grant in requested if grant in client.grants] or list(client.grants)
            return _found(back + '&approval_pass=1')
        return self._approval_form(req, user, client)

    def _approval_form(self, req: WikiRequest, user: WikiUser, client: OAuth2Client,
                       session_failure: bool = False) -> WikiResponse:
        params = req.params
        scope = params.get('scope') or ' '.join(client.grants)
        groups = _grant_groups(scope.split())
        items = ''.join(f'<ul><li><span class="mw-grantgroup">{html.escape(group)}</span></li>'
                        f'</ul>\n<dl><dd>{html.escape("; ".join(descs))}</dd></dl>\n'
                        for group, descs in groups)
        warning = ('<div class="error">There seems to be a problem with your login session; '
                   'this action has been canceled as a precaution against session hijacking. '
                   'Please resubmit the form.</div>' if session_failure else '')

        def hidden(name: str, value: str) -> str:
            return (f'<input id="mw-input-{name}" name="{name}" type="hidden" '
                    f'value="{html.escape(value, quote=True)}"/>\n')

        form = (
            f"<form id='mw-mwoauth-authorize-form' action='/index.php/{_APPROVE_TITLE}' "
            "method='post' enctype='application/x-www-form-urlencoded'>"
            f'<input type="hidden" value="{_APPROVE_TITLE}" name="title"/>\n'
            f'<p>Hi {html.escape(user.name)},\n</p><p>In order to complete your request, '
            f'<b>{html.escape(client.name)}</b> needs permission to perform the following '
            f'actions on your behalf on all projects of this site:\n</p>\n{items}'
            f'<input id="wpEditToken" type="hidden" value="{html.escape(self._csrf_token(req))}"'
            ' name="wpEditToken"/>\n'
            + hidden('wpaction', 'accept') + hidden('wpconfirmUpdate', '1')
            + hidden('oauth_version', '2') + hidden('client_id', client.client_id)
            + hidden('scope', scope) + hidden('returnto', params.get('returnto', ''))
            + hidden('returntoquery', params.get('returntoquery', ''))
            + '<div class="mw-htmlform-submit-buttons">\n'
            "<span id='mw-mwoauth-accept'><button type='submit' name='accept' value='Allow'>"
            'Allow</button></span>'
            "<span><button type='submit' name='cancel' value='Cancel'>Cancel</button></span>"
            '</div>\n</form>')
        form = versions.approval_form(self.wiki, form)
        page = (f'<!DOCTYPE html>\n<html><head><title>OAuth - {html.escape(self.wiki.sitename)}'
                f'</title></head><body>{warning}{form}</body></html>')
        return WikiResponse.text(page, content_type='text/html; charset=UTF-8', headers=[
            ('Vary', 'Accept-Encoding, Cookie, Authorization'),
            ('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT'),
            ('Cache-Control', 'private, must-revalidate, max-age=0')])

    # -- /access_token ----------------------------------------------------
    def _access_token(self, req: WikiRequest) -> WikiResponse:
        self.token_requests[req.form.get('grant_type', '')] += 1
        invalid = versions.grant_type_error(self.wiki, req.form)
        if invalid is not None:
            return _error_json(MediaWikiError(400, 'invalid_request',
                                              'Check the `grant_type` parameter', invalid), [])
        # rest.php reads the form body only; oauthlib would reject a query string.
        uri = self._url(req.path)
        try:
            _, body, status = self._token_endpoint.create_token_response(
                uri, 'POST', req.body.decode('utf-8', 'replace'), self._oauthlib_headers(req))
            data = json.loads(body)
        except oauth2_errors.OAuth2Error as exc:
            status, data = exc.status_code, {'error': exc.error,
                                             'error_description': exc.description}
        if status == 200:
            out = {'token_type': 'Bearer', 'expires_in': data['expires_in'],
                   'access_token': data['access_token']}
            if 'refresh_token' in data:
                out['refresh_token'] = data['refresh_token']
            return WikiResponse.json(out, content_type='application/json; charset=UTF-8',
                                     headers=[('Pragma', 'no-cache'),
                                              ('Cache-Control', 'no-store')])
        error = mediawiki_error(data.get('error', ''), data.get('error_description'),
                                self._validator.reason)
        headers = []
        if error.error == 'invalid_client' and req.authorization:
            scheme = 'Bearer' if req.authorization.startswith('Bearer') else 'Basic'
            headers.append(('WWW-Authenticate', f'{scheme} realm="OAuth"'))
        return _error_json(error, headers)

    # -- /resource/* -----------------------------------------------------
    def _resource_user(self, req: WikiRequest) -> tuple[WikiUser, list[str]] | WikiResponse:
        if 'authorization' not in req.headers and \
                versions.profile_without_token_crashes(self.wiki):
            # REL1_39 bug: Resource::execute() passes [] to withHeader() and guzzle throws.
            message = 'Header value can not be an empty array.'
            return WikiResponse.json({
                'message': f'Error: exception of type InvalidArgumentException: {message}',
                'exception': {'id': random_hex(24), 'type': 'InvalidArgumentException',
                              'message': message, 'code': 0, 'url': req.path,
                              'caught_by': 'other'},
                'httpCode': 500, 'httpReason': 'Internal Server Error'},
                status=500, content_type='application/json')
        valid, request = self._resource_endpoint.verify_request(
            self._url(req.path), 'GET', None, self._oauthlib_headers(req), scopes=[])
        if not valid:
            reason = self._validator.reason or 'access_token_malformed'
            return _error_json(MEDIAWIKI_ERRORS[reason], [])
        return request.user, list(request.scopes)

    def _profile(self, req: WikiRequest) -> WikiResponse:
        result = self._resource_user(req)
        if isinstance(result, WikiResponse):
            return result
        user, grants = result
        if user is None:
            return _error_json(MEDIAWIKI_ERRORS['access_token_revoked'], [])
        return WikiResponse.json(versions.with_email_verified(self.wiki, {
            'sub': str(user.id), 'username': user.name, 'editcount': user.editcount,
            'confirmed_email': True, 'blocked': False, 'registered': user.registered,
            'groups': list(user.groups), 'rights': list(user.rights), 'grants': grants,
        }), content_type=versions.resource_content_type(self.wiki))

    def _scopes(self, req: WikiRequest) -> WikiResponse:
        result = self._resource_user(req)
        if isinstance(result, WikiResponse):
            return result
        _, grants = result
        # Recorded as a PHP array with a gap at index 1 (an internal grant filtered out).
        keys = [0] + list(range(2, len(grants) + 1))
        return WikiResponse.json({'scopes': {str(k): g for k, g in zip(keys, grants)}},
                                 content_type=versions.resource_content_type(self.wiki))


# ---------------------------------------------------------------------------
# small response helpers
# ---------------------------------------------------------------------------
_GRANT_GROUPS = {
    'highvolume': ('Perform high volume activity', 'High-volume editing'),
    'editpage': ('Interact with pages', 'Edit existing pages'),
    'createeditmovepage': ('Interact with pages', 'Create, edit, and move pages'),
}


def _grant_groups(grants: list[str]) -> list[tuple[str, list[str]]]:
    """Grants grouped as the approval form lists them ('basic' is implicit)."""
    groups: dict[str, list[str]] = {}
    for grant in grants:
        group, description = _GRANT_GROUPS.get(grant, ('Other', grant))
        if grant in ('basic',) + _AUTH_ONLY_GRANTS:
            continue
        groups.setdefault(group, []).append(description)
    return list(groups.items())


def _temporary_redirect(location: str) -> WikiResponse:
    """rest.php's 307 with its tiny HTML body."""
    escaped = html.escape(location)
    body = f'<!doctype html><title>Redirect</title><a href="{escaped}">{escaped}</a>'
    return WikiResponse(307, [('Content-Type', 'text/html; charset=utf-8'),
                              ('Location', location)], body.encode('utf-8'))


def _found(location: str) -> WikiResponse:
    """A 302 as index.php and rest.php send it (empty text/html body)."""
    return WikiResponse(302, [('Location', location),
                              ('Content-Type', 'text/html; charset=UTF-8')], b'')


def _error_json(error: MediaWikiError, headers: list[tuple[str, str]]) -> WikiResponse:
    """league's error JSON: error, error_description, hint (if any), message."""
    body: dict[str, str] = {'error': error.error, 'error_description': error.text}
    if error.hint:
        body['hint'] = error.hint
    body['message'] = error.text
    return WikiResponse.json(body, status=error.status, content_type='application/json',
                             headers=headers)
