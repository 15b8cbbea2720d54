"""rest.php's machine endpoints: /oauth2/access_token and /oauth2/resource/{profile,scopes}.

oauthlib issues and checks; the answers are reshaped into what MediaWiki sends
(field order, headers, REL1_39's crash on a profile request without a token).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from oauthlib.oauth2.rfc6749 import errors as oauth2_errors

from pwb_oauth_ext.testwiki import versions
from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import Wiki, WikiUser, random_hex
from pwb_oauth_ext.testwiki.providers.oauth2.mediawiki_errors import (
    MEDIAWIKI_ERRORS,
    MediaWikiError,
    error_json,
)

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider


class RestEndpoints:
    """The token and resource endpoints of one provider."""

    def __init__(self, provider: OAuth2Provider) -> None:
        self.provider = provider

    @property
    def wiki(self) -> Wiki:
        return self.provider.wiki

    # -- /access_token ----------------------------------------------------
    def access_token(self, req: WikiRequest) -> WikiResponse:
        """/access_token: a token answer as league words it, or its error JSON."""
        self.provider.token_requests[req.form.get('grant_type', '')] += 1
        invalid = versions.grant_type_error(self.wiki, req.form)
        if invalid is not None:
            return error_json(MediaWikiError(400, 'invalid_request',
                                              'Check the `grant_type` parameter', invalid), [])
        # rest.php reads the form body only; oauthlib would reject a query string.
        uri = self.provider.url(req.path)
        try:
            _, body, status = self.provider.token_endpoint.create_token_response(
                uri, 'POST', req.body.decode('utf-8', 'replace'),
                self.provider.oauthlib_headers(req))
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
        error = self.provider.refusal(data.get('error', ''), data.get('error_description'))
        headers = []
        if error.error == 'invalid_client' and req.authorization:
            scheme = 'Bearer' if req.authorization.startswith('Bearer') else 'Basic'
            headers.append(('WWW-Authenticate', f'{scheme} realm="OAuth"'))
        return error_json(error, headers)

    # -- /resource/* -----------------------------------------------------
    def _resource_user(self, req: WikiRequest) -> tuple[WikiUser, list[str]] | WikiResponse:
        """(user, grants) behind the bearer token, or the refusal to send."""
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
        valid, request = self.provider.resource_endpoint.verify_request(
            self.provider.url(req.path), 'GET', None, self.provider.oauthlib_headers(req),
            scopes=[])
        if not valid:
            reason = self.provider.validator.reason or 'access_token_malformed'
            return error_json(MEDIAWIKI_ERRORS[reason], [])
        return request.user, list(request.scopes)

    def profile(self, req: WikiRequest) -> WikiResponse:
        """/resource/profile: who the token acts for."""
        result = self._resource_user(req)
        if isinstance(result, WikiResponse):
            return result
        user, grants = result
        if user is None:
            return error_json(MEDIAWIKI_ERRORS['access_token_revoked'], [])
        # A farm's single-wiki client elsewhere: the session provider's refusal cannot
        # abort a REST request (T252591), so the session is anonymous: no rights.
        token = req.authorization[len('Bearer'):].strip()
        allowed = self.provider.client_allowed(self.provider.tokens.client_of(token))
        return WikiResponse.json(versions.with_email_verified(self.wiki, {
            'sub': str(user.id), 'username': user.name, 'editcount': user.editcount,
            'confirmed_email': True, 'blocked': False, 'registered': user.registered,
            'groups': list(user.groups), 'rights': list(user.rights) if allowed else [],
            'grants': grants,
        }), content_type=versions.resource_content_type(self.wiki))

    def scopes(self, req: WikiRequest) -> WikiResponse:
        """/resource/scopes: the token's grants."""
        result = self._resource_user(req)
        if isinstance(result, WikiResponse):
            return result
        _, grants = result
        # Recorded as a PHP array with a gap at index 1 (an internal grant filtered out).
        keys = [0] + list(range(2, len(grants) + 1))
        return WikiResponse.json({'scopes': {str(k): g for k, g in zip(keys, grants)}},
                                 content_type=versions.resource_content_type(self.wiki))
