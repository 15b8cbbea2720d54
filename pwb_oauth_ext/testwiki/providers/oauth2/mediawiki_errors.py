"""How MediaWiki (league/oauth2-server in Extension:OAuth) words each OAuth 2.0 failure.

The one table, ``MEDIAWIKI_ERRORS``, holds the status, error and hint recorded from
a real wiki (see ``shared/mediawiki-oauth/oauth2-*.json``); every failure of the
provider is translated through it, whether the validator or oauthlib said no.
"""
from __future__ import annotations

from dataclasses import dataclass

from oauthlib.oauth2.rfc6749 import errors as oauth2_errors

from pwb_oauth_ext.testwiki._http import WikiResponse

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


class TokenRejected(Exception):
    """A bearer token failed verification; ``reason`` keys MEDIAWIKI_ERRORS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def error_json(error: MediaWikiError, headers: list[tuple[str, str]]) -> WikiResponse:
    """league's error JSON: error, error_description, hint (if any), message."""
    body: dict[str, str] = {'error': error.error, 'error_description': error.text}
    if error.hint:
        body['hint'] = error.hint
    body['message'] = error.text
    return WikiResponse.json(body, status=error.status, content_type='application/json',
                             headers=headers)
