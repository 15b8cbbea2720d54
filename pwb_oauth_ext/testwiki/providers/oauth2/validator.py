"""oauthlib's view of the OAuth 2.0 provider's clients, codes and tokens (its RequestValidator).

Each refusal also records *why*, because oauthlib collapses several distinct
MediaWiki errors into one (every bad code is ``invalid_grant``); the reasons key
``mediawiki_errors.MEDIAWIKI_ERRORS``.
"""
from __future__ import annotations

import base64
import binascii
import secrets
from typing import TYPE_CHECKING, Any

from oauthlib.oauth2 import RequestValidator
from oauthlib.oauth2.rfc6749.grant_types import AuthorizationCodeGrant

from pwb_oauth_ext.testwiki.model import DEFAULT_GRANTS, GRANT_RIGHTS
from pwb_oauth_ext.testwiki.providers.oauth2.mediawiki_errors import TokenRejected
from pwb_oauth_ext.testwiki.providers.oauth2.records import (
    AUTH_ONLY_GRANTS,
    AUTHORIZATION_CODE_TTL,
    AuthorizationCode,
    OAuth2Client,
    opaque_token,
)

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider


class WikiRequestValidator(RequestValidator):
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
        known = set(GRANT_RIGHTS) | set(AUTH_ONLY_GRANTS) | set(DEFAULT_GRANTS)
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
        self.provider.codes[code['code']] = AuthorizationCode(
            client_id=client_id, user=request.user, scopes=list(request.scopes or []),
            redirect_uri=sent_redirect, challenge=request.code_challenge,
            challenge_method=request.code_challenge_method,
            expires=self.provider.wiki.now() + AUTHORIZATION_CODE_TTL)

    # -- /access_token: authorization_code --------------------------------
    def validate_code(self, client_id: str, code: str, client: Any, request: Any,
                      *args: Any, **kwargs: Any) -> bool:
        record = self.provider.codes.get(code)
        if record is None:
            return self._fail('code_revoked' if self.provider.issued_elsewhere(code)
                              else 'code_undecryptable')
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
            return self._fail('refresh_revoked' if provider.issued_elsewhere(refresh_token)
                              else 'refresh_undecryptable')
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
        self.provider.tokens.link_issued(token, request)

    # -- resource endpoints -----------------------------------------------
    def validate_bearer_token(self, token: str | None, scopes: list[str], request: Any) -> bool:
        try:
            user, grants = self.provider.tokens.verify(token)
        except TokenRejected as exc:
            return self._fail(exc.reason)
        request.user = user
        request.scopes = grants
        return True


class MediaWikiAuthorizationCodeGrant(AuthorizationCodeGrant):
    """Codes shaped like MediaWiki's (opaque hex starting 'def50200')."""

    def create_authorization_code(self, request: Any) -> dict[str, str]:
        grant = {'code': opaque_token(400)}
        if getattr(request, 'state', None):
            grant['state'] = request.state
        return grant

