"""The OAuth 1.0a handshake as bots call it: Special:OAuth/initiate, /token and /identify.

Answers are form-encoded (or JSON with ``format=json``); refusals carry MediaWiki's
message key and text (``messages.HandshakeError``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable
from urllib.parse import urlencode

import jwt
from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import errors

from pwb_oauth_ext.testwiki import versions
from pwb_oauth_ext.testwiki._http import NO_CACHE_HEADERS, WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import DEFAULT_GRANTS, InvalidAuthorization, Wiki, random_hex
from pwb_oauth_ext.testwiki.providers.oauth1.messages import HandshakeError, details
from pwb_oauth_ext.testwiki.providers.oauth1.records import (
    AccessToken,
    OAuth1Consumer,
    RequestToken,
)

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth1.provider import OAuth1Provider, TokenCheck

IDENTIFY_LIFETIME_S = 100
_TEXT_PLAIN = 'text/plain;charset=UTF-8'


class Handshake:
    """initiate, token and identify of one provider."""

    def __init__(self, provider: OAuth1Provider) -> None:
        self.provider = provider

    @property
    def wiki(self) -> Wiki:
        return self.provider.wiki

    def handle(self, req: WikiRequest, subpage: str) -> WikiResponse:
        """Answer Special:OAuth/``subpage`` (initiate, token or identify)."""
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
                                     headers=NO_CACHE_HEADERS)
        return WikiResponse.text(urlencode(data), content_type=_TEXT_PLAIN,
                                 headers=NO_CACHE_HEADERS)

    @staticmethod
    def _handshake_error(error: HandshakeError, as_json: bool) -> WikiResponse:
        if as_json:
            return WikiResponse.json({'error': error.key, 'message': error.message},
                                     content_type='application/json',
                                     headers=NO_CACHE_HEADERS)
        return WikiResponse.text(error.as_text(), content_type=_TEXT_PLAIN,
                                 headers=NO_CACHE_HEADERS)

    def _signed(self, req: WikiRequest, token_check: TokenCheck | None,
                check: Callable[[Request], tuple[bool, object]]
                ) -> tuple[Request, OAuth1Consumer]:
        """MediaWiki's checks up to the signature, then oauthlib's ``check`` of it."""
        request = self.provider.parse(req)
        consumer = self.provider.precheck(request, token_check)
        try:
            valid, _ = check(request)
        except errors.OAuth1Error:
            valid = False
        if not valid:
            raise InvalidAuthorization('Invalid signature')
        return request, consumer

    def _initiate(self, req: WikiRequest) -> dict[str, str]:
        request, consumer = self._signed(
            req, None, self.provider.request_token_endpoint.validate_request_token_request)
        if consumer.owner_only:
            raise HandshakeError(
                'mwoauthserver-consumer-owner-only',
                f'"{consumer.name}" is an owner-only Connected App. To fetch the access token, '
                f'see [[Special:OAuthConsumerRegistration/update/{consumer.consumer_key}]].\n\n'
                + details('Consumer is owner-only', 'E010'))
        if request.redirect_uri != 'oob':
            raise HandshakeError(
                'mwoauth-callback-not-oob',
                'oauth_callback must be set, and must be set to "oob" (case-sensitive)')
        token = RequestToken(random_hex(32), random_hex(32), consumer.consumer_key)
        with self.wiki.lock:
            self.provider.request_tokens[token.key] = token
        return {'oauth_token': token.key, 'oauth_token_secret': token.secret,
                'oauth_callback_confirmed': 'true'}

    def _token(self, req: WikiRequest) -> dict[str, str]:
        request, consumer = self._signed(
            req, self.provider.check_request_token,
            self.provider.access_token_endpoint.validate_access_token_request)
        with self.wiki.lock:
            rtoken = self.provider.request_tokens[request.resource_owner_key]
            if rtoken.used:
                raise HandshakeError(
                    'mwoauthdatastore-request-token-already-used',
                    'This request has already been completed and cannot be resubmitted.\n'
                    'Go back to the application and try to connect your account again, '
                    'or contact the application author.\n\n'
                    + details('OAuth token already used', 'E009'))
            if rtoken.verifier is None or rtoken.user is None:
                raise HandshakeError('mwoauthdatastore-bad-token',
                                     'No token was found matching your request.')
            if request.verifier != rtoken.verifier:
                raise HandshakeError('mwoauthdatastore-bad-verifier',
                                     'The verification code provided was not valid.')
            rtoken.used = True
            access = AccessToken(random_hex(32), random_hex(40), consumer.consumer_key,
                                  rtoken.user)
            self.provider.access_tokens[access.key] = access
        return {'oauth_token': access.key, 'oauth_token_secret': access.secret,
                'oauth_callback_confirmed': 'true'}

    def _identify(self, req: WikiRequest) -> WikiResponse:
        """A bare HS256 JWT about the user, signed with the consumer secret."""
        try:
            request = self.provider.parse(req)
            user, _grants, consumer = self.provider.authenticate(req)
        except InvalidAuthorization as exc:
            return WikiResponse.json(
                {'error': 'mwoauth-oauth-exception',
                 'message': f'An error occurred in the OAuth protocol: {exc}'},
                content_type='application/json', headers=NO_CACHE_HEADERS)
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
                                 headers=NO_CACHE_HEADERS)
