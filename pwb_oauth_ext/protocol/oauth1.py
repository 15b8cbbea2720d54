"""The OAuth 1.0a handshake with Extension:OAuth (initiate, authorize, token, identify).

Requests are signed with oauthlib and sent through a caller-supplied ``Poster``,
so Pywikibot's session (User-Agent, SSL settings, timeouts) carries them; mwoauth
is not used because its requests bypass that session. The identify JWT is
checked with PyJWT. oauthlib and jwt are imported lazily. Special:OAuth's
URLs and error pages are read by ``protocol.mediawiki``.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlsplit

from pwb_oauth_ext.errors import OAuthFlowError
from pwb_oauth_ext.network.hosts import split_url
from pwb_oauth_ext.network.text import printable
from pwb_oauth_ext.protocol.mediawiki import special_oauth_error, special_oauth_url

#: post(url, headers) -> response with .status_code, .headers and .text (empty body POST).
Poster = Callable[[str, dict[str, str]], Any]

DEFAULT_LEEWAY_S = 30.0


class IdentityVerificationError(OAuthFlowError):
    """The wiki's identify answer is not a valid statement about our new token."""


@dataclass(frozen=True, repr=False)
class TokenPair:
    """An OAuth 1.0a token and its secret (request or access token)."""

    key: str
    secret: str

    def __repr__(self) -> str:
        return f'TokenPair(key={self.key[:6]!r}..., secret=<hidden>)'

    __str__ = __repr__


def authorize_url(index_url: str, request_token: str, consumer_key: str) -> str:
    """The page where the user approves the request token in a browser."""
    return special_oauth_url(index_url, 'authorize', oauth_token=request_token,
                       oauth_consumer_key=consumer_key)


def _unexpected(response: Any, what: str) -> OAuthFlowError:
    status = getattr(response, 'status_code', '?')
    content_type = printable(getattr(response, 'headers', {}).get('Content-Type',
                                                                  'no content type'))
    return OAuthFlowError(
        f'Unexpected answer to {what} (HTTP {printable(status)}, {content_type}): is'
        ' Extension:OAuth installed on this wiki, and is the site URL right?')


#: What Special:OAuth/initiate and /token answer, form-encoded or (format=json) JSON.
_FORM_FIELDS = frozenset(('oauth_token', 'oauth_token_secret', 'oauth_callback_confirmed'))
_JSON_FIELDS = frozenset(('key', 'secret', 'oauth_callback_confirmed'))
#: A form-encoded field: name=value, no spaces, tags or control characters.
_FORM_PAIR = re.compile(r'[A-Za-z_]+=[A-Za-z0-9._~%+-]*\Z')
_CONTROL = re.compile(r'[\x00-\x20\x7f-\x9f]')


def _token_pair(response: Any, what: str) -> TokenPair:
    """Read ``oauth_token=...&oauth_token_secret=...`` (or the JSON key/secret form).

    Strict: the whole body must be one of the two forms MediaWiki sends, with
    non-empty string values and no other fields, so a page that merely contains
    ``&oauth_token=..&oauth_token_secret=..`` (an HTML error page, say) is refused.
    """
    text = response.text or ''
    error = special_oauth_error(text, what)
    if error is not None:
        raise error
    if int(getattr(response, 'status_code', 200)) != 200:
        raise _unexpected(response, what)
    stripped = text.strip()
    if stripped.startswith('{'):
        try:
            body = json.loads(stripped)
        except (ValueError, RecursionError):
            raise _unexpected(response, what) from None
        if not isinstance(body, dict) or not set(body) <= _JSON_FIELDS:
            raise _unexpected(response, what)
        key, secret = body.get('key'), body.get('secret')
    else:
        pairs = stripped.split('&')
        if not all(_FORM_PAIR.match(pair) for pair in pairs):
            raise _unexpected(response, what)
        params = dict(parse_qsl(stripped, keep_blank_values=True, strict_parsing=True))
        if len(params) != len(pairs) or not set(params) <= _FORM_FIELDS:
            raise _unexpected(response, what)
        key, secret = params.get('oauth_token'), params.get('oauth_token_secret')
    for value in (key, secret):
        if not isinstance(value, str) or not value or _CONTROL.search(value):
            raise _unexpected(response, what)
    return TokenPair(key, secret)


def _signed_headers(url: str, consumer_key: str, consumer_secret: str, *,
                    token: TokenPair | None = None, verifier: str | None = None,
                    callback: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """An Authorization header for an empty-body POST to ``url`` (HMAC-SHA1)."""
    from oauthlib.oauth1 import Client

    client = Client(consumer_key, client_secret=consumer_secret,
                    resource_owner_key=token.key if token else None,
                    resource_owner_secret=token.secret if token else None,
                    verifier=verifier, callback_uri=callback, nonce=nonce)
    _, headers, _ = client.sign(url, http_method='POST')
    return dict(headers)


def _post(post: Poster, url: str, headers: dict[str, str], what: str) -> Any:
    """POST a handshake step: https, or plain http to loopback only (OAuth 2.0's rule).

    The answers carry the request and access token secrets; over plain http to
    another machine anyone on the way could read them.
    """
    from pwb_oauth_ext.network.urls import refuse_redirect, require_safe_url

    require_safe_url(url, f'the OAuth 1.0a handshake request for {what}')
    try:
        response = post(url, headers)
    except OAuthFlowError:
        raise
    except Exception as exc:  # a transport failure: name it, never dump headers
        raise OAuthFlowError(f'Cannot reach the wiki for {what}: {type(exc).__name__}'
                             ) from None
    refuse_redirect(response, url, what)
    return response


def initiate(post: Poster, index_url: str, consumer_key: str, consumer_secret: str) -> TokenPair:
    """Get a request token (callback ``oob``; MediaWiki then uses the registered URL)."""
    url = special_oauth_url(index_url, 'initiate')
    headers = _signed_headers(url, consumer_key, consumer_secret, callback='oob')
    return _token_pair(_post(post, url, headers, 'the request token'), 'the request token')


def parse_verifier(answer: str, request_token: str) -> str:
    """The verifier from what the user pasted: the code itself or the whole callback URL."""
    answer = answer.strip()
    if not answer:
        raise OAuthFlowError('No verification code was entered.')
    if '://' in answer or '?' in answer or 'oauth_verifier=' in answer:
        query = urlsplit(answer).query if '://' in answer or '?' in answer else answer
        params = dict(parse_qsl(query, keep_blank_values=True))
        verifier = params.get('oauth_verifier', '').strip()
        if not verifier:
            raise OAuthFlowError('The URL carries no oauth_verifier: paste the address the'
                                 ' wiki sent the browser to after "Allow".')
        token = params.get('oauth_token')
        if token is not None and token != request_token:
            raise OAuthFlowError('The URL belongs to another authorization request'
                                 ' (oauth_token differs); start again.')
        return verifier
    if any(ch.isspace() for ch in answer):
        raise OAuthFlowError('That does not look like a verification code (it has spaces).')
    return answer


def fetch_access_token(post: Poster, index_url: str, consumer_key: str, consumer_secret: str,
                       request_token: TokenPair, verifier: str) -> TokenPair:
    """Trade the approved request token and verifier for the access token."""
    url = special_oauth_url(index_url, 'token')
    headers = _signed_headers(url, consumer_key, consumer_secret, token=request_token,
                              verifier=verifier)
    return _token_pair(_post(post, url, headers, 'the access token'), 'the access token')


def identify(post: Poster, index_url: str, consumer_key: str, consumer_secret: str,
             access_token: TokenPair, *, server: str,
             leeway: float = DEFAULT_LEEWAY_S) -> dict[str, Any]:
    """Ask the wiki who the access token belongs to; the verified JWT claims."""
    from oauthlib.common import generate_nonce

    nonce = generate_nonce()
    url = special_oauth_url(index_url, 'identify')
    headers = _signed_headers(url, consumer_key, consumer_secret, token=access_token,
                              nonce=nonce)
    response = _post(post, url, headers, 'the identity check')
    text = (response.text or '').strip()
    error = special_oauth_error(text, 'the identity check')
    if error is not None:
        raise error
    if text.count('.') != 2:
        raise _unexpected(response, 'the identity check')
    return verify_identity(text, consumer_key=consumer_key, consumer_secret=consumer_secret,
                           server=server, nonce=nonce, leeway=leeway)


def same_server(issuer: str, server: str) -> bool:
    """True when two server URLs name the same host and port.

    Loose on purpose, like mwoauth: ``$wgCanonicalServer`` may say https
    while the bot reaches the wiki through http behind a proxy, so the scheme
    is ignored and ports 80 and 443 equal no port (the host table's rule,
    ``network.hosts.split_url``).
    """
    def host_port(url: str) -> tuple[str, Optional[int]] | None:
        try:
            return split_url(url if '//' in url else '//' + url)
        except ValueError:
            return None

    issuer_target = host_port(issuer) if issuer else None
    return issuer_target is not None and issuer_target == host_port(server)


_FUTURE_ANSWER = ('The identity answer from the wiki is dated in the future: check this'
                  ' computer\'s clock (NTP) and try again.')


def verify_identity(token: str, *, consumer_key: str, consumer_secret: str, server: str,
                    nonce: str, leeway: float = DEFAULT_LEEWAY_S,
                    now: float | None = None) -> dict[str, Any]:
    """Check an identify JWT (HS256 with the consumer secret) and return its claims.

    The answer proves who approved the grant only if it is signed with our
    secret, meant for our consumer (``aud``), issued by this wiki (``iss``),
    fresh (``iat``/``exp`` within ``leeway``) and an answer to our request
    (``nonce``); otherwise IdentityVerificationError.
    """
    claims = _decoded_identity(token, consumer_key, consumer_secret, leeway)
    _check_freshness(claims, time.time() if now is None else now, leeway)
    if not same_server(str(claims['iss']), server):
        raise IdentityVerificationError(
            f'The identity answer was issued by {printable(claims["iss"])}, not by this wiki'
            f' ({server}).')
    if str(claims.get('nonce', '')) != nonce:
        raise IdentityVerificationError(
            'The identity answer does not answer our request (nonce mismatch): it may have'
            ' been replayed.')
    if not isinstance(claims['username'], str) or not claims['username']:
        raise IdentityVerificationError('The identity answer names no user.')
    return claims


def _decoded_identity(token: str, consumer_key: str, consumer_secret: str,
                      leeway: float) -> dict[str, Any]:
    """The JWT's claims once its signature, audience and required claims are checked."""
    import jwt

    try:
        return jwt.decode(token, consumer_secret, algorithms=['HS256'],
                          audience=consumer_key, leeway=leeway,
                          # exp and iat are checked by _check_freshness, one clock for both.
                          options={'require': ['iss', 'aud', 'exp', 'iat', 'username'],
                                   'verify_exp': False, 'verify_iat': False})
    except jwt.ImmatureSignatureError:
        raise IdentityVerificationError(_FUTURE_ANSWER) from None
    except jwt.InvalidAudienceError:
        raise IdentityVerificationError(
            'The identity answer from the wiki was issued for another consumer (aud does'
            ' not match the consumer key).') from None
    except jwt.MissingRequiredClaimError as exc:
        raise IdentityVerificationError(
            f'The identity answer from the wiki lacks the {exc.claim!r} claim.') from None
    except jwt.InvalidSignatureError:
        raise IdentityVerificationError(
            'The identity answer from the wiki has a bad signature: the consumer secret is'
            ' wrong, or the answer was altered on the way.') from None
    except jwt.InvalidTokenError as exc:
        raise IdentityVerificationError(
            f'The identity answer from the wiki is not a valid JWT ({type(exc).__name__}).'
        ) from None


def _check_freshness(claims: dict[str, Any], current: float, leeway: float) -> None:
    """``iat`` and ``exp`` judged by the caller's clock, within ``leeway``."""
    try:
        issued_at, expires_at = float(claims['iat']), float(claims['exp'])
    except (TypeError, ValueError):
        raise IdentityVerificationError(
            'The identity answer has an unusable iat or exp.') from None
    if expires_at <= current - leeway:
        raise IdentityVerificationError(
            'The identity answer from the wiki has expired: check this computer\'s clock'
            ' (NTP) and try again.')
    if issued_at > current + leeway:
        raise IdentityVerificationError(_FUTURE_ANSWER)


__all__ = [
    'IdentityVerificationError', 'Poster', 'TokenPair', 'authorize_url', 'fetch_access_token',
    'identify', 'initiate', 'parse_verifier', 'same_server', 'verify_identity',
]
