"""OAuth 2.0 client side for MediaWiki's Extension:OAuth, apart from the transport.

Token requests are built with oauthlib's client classes, their answers checked
field by field here (``parse_token_answer``), and sent
through a ``Transport`` chosen by the caller: the Pywikibot adapter sends
them through Pywikibot's own HTTP session, tests through the test wiki
in-process. MediaWiki's deviations from RFC 6749 (endpoint paths, error
bodies, client secret, denial redirect) are ``protocol.mediawiki``'s, nowhere else.

oauthlib, requests and filelock are imported lazily: ``user-config.py``
imports this package on every Pywikibot start.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlsplit

from pwb_oauth_ext.errors import (
    OAuthFlowError,
    ReauthorizationRequired,
    TokenEndpointError,
)
from pwb_oauth_ext.network.text import printable
from pwb_oauth_ext.network.urls import refuse_redirect, require_safe_url
from pwb_oauth_ext.protocol.mediawiki import (
    OAuth2Endpoints,
    is_redirect_denial,
    refresh_failure_reason,
    token_error_details,
    with_client_secret,
)
from pwb_oauth_ext.protocol.stores.records import is_b64token
from pwb_oauth_ext.protocol.tokens import BearerTokenSource, TokenSet

#: post_form(url, data, headers) -> response with .status_code, .headers, .text
Transport = Callable[[str, dict[str, str], dict[str, str]], Any]
Clock = Callable[[], float]

DEFAULT_REAUTHORIZE_HINT = 'run: pwb-oauth authorize'
_FORM_HEADERS = {
    'Content-Type': 'application/x-www-form-urlencoded',
    'Accept': 'application/json',
}


# --- endpoints and transport --------------------------------------------

def requests_transport(session: Any = None, timeout: float = 30.0) -> Transport:
    """A Transport over a requests Session (a new one when None)."""
    import requests

    http = session if session is not None else requests.Session()

    def post_form(url: str, data: dict[str, str], headers: dict[str, str]) -> Any:
        return http.post(url, data=data, headers=headers, timeout=timeout,
                         allow_redirects=False)

    return post_form


# --- tokens ----------------------------------------------------------------

# --- authorization request ---------------------------------------------------

def make_pkce_pair() -> tuple[str, str]:
    """A fresh PKCE (code_verifier, S256 code_challenge)."""
    from oauthlib.oauth2 import WebApplicationClient

    client = WebApplicationClient('pkce')
    verifier = client.create_code_verifier(64)
    return verifier, client.create_code_challenge(verifier, 'S256')


def authorization_url(endpoints: OAuth2Endpoints, client_id: str, *,
                      redirect_uri: str | None, state: str, code_challenge: str) -> str:
    """The URL to open in the browser for the authorization code grant.

    ``redirect_uri`` is left out when None: MediaWiki then redirects to the
    registered URI and the token request must omit it as well.
    """
    from oauthlib.common import add_params_to_uri

    # oauthlib's prepare_grant_uri refuses any http URL; a test wiki on
    # 127.0.0.1 is http, so the loopback policy of require_safe_url applies.
    require_safe_url(endpoints.authorize_url, 'an authorization request')
    params = [('response_type', 'code'), ('client_id', client_id)]
    if redirect_uri is not None:
        params.append(('redirect_uri', redirect_uri))
    params += [('state', state), ('code_challenge', code_challenge),
               ('code_challenge_method', 'S256')]
    return add_params_to_uri(endpoints.authorize_url, params)


def parse_redirect(url: str, expected_state: str) -> str:
    """The authorization code from the redirect the browser was sent to."""
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if is_redirect_denial(params):
        raise OAuthFlowError(
            'The authorization was denied on the wiki '
            f'({_redirect_error(params)}).')
    if not same_state(params.get('state', ''), expected_state):
        raise OAuthFlowError(
            'The redirect does not belong to this authorization request (state mismatch); '
            'start the authorization again.')
    if 'error' in params:
        raise OAuthFlowError(f'The wiki refused the authorization ({_redirect_error(params)}).')
    code = params.get('code')
    if not code:
        raise OAuthFlowError('The redirect carries no authorization code.')
    return code


def _redirect_error(params: dict[str, str]) -> str:
    """``error: error_description`` of a redirect, escaped: anyone can send the browser there."""
    return printable(f'{params["error"]}: {params.get("error_description", "no description")}')


def redirect_belongs(params: dict[str, str], expected_state: str) -> bool:
    """True for the redirect of this authorization request: its ``state``, or the wiki's
    "Cancel" redirect, which MediaWiki sends without state (``is_redirect_denial``)."""
    return is_redirect_denial(params) or same_state(params.get('state', ''), expected_state)


def same_state(received: str, expected: str) -> bool:
    """Constant-time ``state`` comparison that takes any text (compared as UTF-8 bytes)."""
    return secrets.compare_digest(received.encode('utf-8', 'surrogatepass'),
                                  expected.encode('utf-8', 'surrogatepass'))


# --- token requests ---------------------------------------------------------

def _post_token_request(transport: Transport, endpoints: OAuth2Endpoints, client: Any,
                        body: str, client_secret: str | None, now: Clock) -> TokenSet:
    require_safe_url(endpoints.token_url, 'a token request')
    data = with_client_secret(dict(parse_qsl(body, keep_blank_values=True)), client_secret)
    requested_at = now()
    response = transport(endpoints.token_url, data, dict(_FORM_HEADERS))
    refuse_redirect(response, endpoints.token_url, 'a token request')
    status = int(response.status_code)
    text = response.text or ''
    details = token_error_details(text)
    if details is not None:
        raise _token_endpoint_error(status, details)
    if status != 200:
        raise TokenEndpointError(
            f'The token endpoint {endpoints.token_url} answered HTTP {status} '
            f'without an OAuth error body.', status=status)
    params = parse_token_answer(text, endpoints.token_url, status)
    return TokenSet.from_token_response(params, requested_at)


#: The longest ``expires_in`` believed: 10 years. Longer is a broken or hostile answer.
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600


def parse_token_answer(text: str, endpoint: str, status: int = 200) -> dict[str, Any]:
    """A successful token endpoint answer, checked field by field (RFC 6749 5.1).

    ``token_type`` must be bearer (any case), tokens non-empty b64token strings,
    ``expires_in`` a positive integer of at most :data:`MAX_EXPIRES_IN` seconds,
    ``refresh_token`` a token if present. Anything else is a TokenEndpointError
    that names the field, never its value.
    """
    def unusable(why: str) -> TokenEndpointError:
        return TokenEndpointError(
            f'The token endpoint {endpoint} sent an unusable answer: {why}.', status=status)

    try:
        params = json.loads(text)
    except RecursionError:
        raise unusable('JSON nested too deeply') from None
    except ValueError:
        raise unusable('not JSON') from None
    if not isinstance(params, dict):
        raise unusable('not a JSON object')
    if not is_b64token(params.get('access_token')):
        raise unusable('access_token is missing or not a token (RFC 6750 characters)')
    token_type = params.get('token_type')
    if not isinstance(token_type, str) or token_type.lower() != 'bearer':
        raise unusable('token_type is not "Bearer"')
    expires_in = params.get('expires_in')
    if expires_in is not None and (
            type(expires_in) is not int or not 0 < expires_in <= MAX_EXPIRES_IN):
        raise unusable(f'expires_in is not a whole number of seconds between 1 and'
                       f' {MAX_EXPIRES_IN} (10 years)')
    refresh_token = params.get('refresh_token')
    if refresh_token is not None and not is_b64token(refresh_token):
        raise unusable('refresh_token is not a token (RFC 6750 characters)')
    if _jwt_payload_too_deep(params['access_token']):
        raise unusable('access_token is a JWT whose payload is nested too deeply')
    return {'access_token': params['access_token'], 'token_type': 'Bearer',
            'expires_in': expires_in, 'refresh_token': refresh_token}


def _jwt_payload_too_deep(token: str) -> bool:
    """True for a JWT-shaped token whose payload JSON nests deeper than Python can read.

    The token's ``sub`` is read later (``grants.jwt_subject``); a payload nested
    thousands deep would raise RecursionError there, after the grant rotated.
    """
    import base64
    parts = token.split('.')
    if len(parts) != 3:
        return False
    try:
        json.loads(base64.urlsafe_b64decode(parts[1] + '=' * (-len(parts[1]) % 4)))
    except RecursionError:
        return True
    except (ValueError, TypeError):
        return False
    return False


def _token_endpoint_error(status: int, details: dict[str, str]) -> TokenEndpointError:
    # The wiki's words (or a proxy's): escaped before they reach any message.
    error = printable(details['error'])
    description = details.get('error_description') or details.get('message')
    description = printable(description) if description else description
    hint = details.get('hint')
    hint = printable(hint) if hint else hint
    message = f'The wiki refused the token request: {error} (HTTP {status})'
    if description:
        message += f': {description}'
    if hint:
        message += f' [{hint}]'
    return TokenEndpointError(message, error=error, description=description, hint=hint,
                              status=status)


def exchange_code(transport: Transport, endpoints: OAuth2Endpoints, client_id: str,
                  client_secret: str | None, *, code: str, code_verifier: str,
                  redirect_uri: str | None, now: Clock = time.time) -> TokenSet:
    """Trade an authorization code for tokens (public client: no secret)."""
    from oauthlib.oauth2 import WebApplicationClient

    client = WebApplicationClient(client_id)
    body = client.prepare_request_body(code=code, redirect_uri=redirect_uri,
                                       include_client_id=True, code_verifier=code_verifier)
    return _post_token_request(transport, endpoints, client, body, client_secret, now)


def fetch_client_credentials(transport: Transport, endpoints: OAuth2Endpoints,
                             client_id: str, client_secret: str, *,
                             now: Clock = time.time) -> TokenSet:
    """A token for the owner of an owner-only client (no refresh token)."""
    from oauthlib.oauth2 import BackendApplicationClient

    client = BackendApplicationClient(client_id)
    body = client.prepare_request_body(include_client_id=True)
    return _post_token_request(transport, endpoints, client, body, client_secret, now)


def refresh(transport: Transport, endpoints: OAuth2Endpoints, client_id: str,
            client_secret: str | None, refresh_token: str, *, now: Clock = time.time,
            reauthorize_hint: str = DEFAULT_REAUTHORIZE_HINT) -> TokenSet:
    """New tokens from a refresh token (MediaWiki rotates both on every refresh).

    A dead refresh token raises ReauthorizationRequired, whose message ends
    with ``reauthorize_hint``.
    """
    from oauthlib.oauth2 import WebApplicationClient

    client = WebApplicationClient(client_id)
    body = client.prepare_refresh_body(refresh_token=refresh_token, client_id=client_id)
    try:
        return _post_token_request(transport, endpoints, client, body, client_secret, now)
    except TokenEndpointError as exc:
        reason = refresh_failure_reason(exc, public_client=client_secret is None)
        if reason is None:
            raise
        raise ReauthorizationRequired(
            f'The OAuth 2.0 grant can no longer be renewed: {reason}. '
            f'Authorize again; {reauthorize_hint}') from exc


def make_obtain(transport: Transport, endpoints: OAuth2Endpoints, client_id: str,
                client_secret: str | None, *, client_credentials: bool = False,
                reauthorize_hint: str = DEFAULT_REAUTHORIZE_HINT,
                now: Clock = time.time) -> Callable[[Optional[TokenSet]], TokenSet]:
    """The ``obtain`` for BearerTokenSource: refresh when possible, else client_credentials."""

    def obtain(current: TokenSet | None) -> TokenSet:
        if current is not None and current.refresh_token:
            return refresh(transport, endpoints, client_id, client_secret,
                           current.refresh_token, now=now, reauthorize_hint=reauthorize_hint)
        if client_credentials:
            if client_secret is None:
                raise OAuthFlowError('client_credentials needs the client secret.')
            return fetch_client_credentials(transport, endpoints, client_id, client_secret,
                                            now=now)
        raise ReauthorizationRequired(
            f'There is no OAuth 2.0 token to renew for this wiki. {reauthorize_hint}')

    return obtain


def new_state() -> str:
    """A random ``state`` for an authorization request."""
    return secrets.token_urlsafe(24)


__all__ = [
    'BearerTokenSource', 'TokenSet', 'Transport', 'authorization_url',
    'exchange_code', 'fetch_client_credentials', 'make_obtain', 'make_pkce_pair',
    'new_state', 'parse_redirect', 'parse_token_answer', 'refresh', 'requests_transport',
]
