"""MediaWiki's Extension:OAuth as it really behaves: every quirk the client answers, here only.

Each item names the MediaWiki behaviour (and version) it answers and, where
one exists, the recording in the contract pack (``/work/shared/mediawiki-oauth``,
MediaWiki 1.39.17 with Extension:OAuth REL1_39 unless said otherwise) that
shows it. The protocol modules (``oauth1``, ``oauth2``, ``grants``), the login
code of the integration and ``pwb-oauth check`` read these; none of them
spells a MediaWiki path, error code or message text of its own.

Standard library and ``pwb_oauth_ext.errors`` only.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from pwb_oauth_ext.errors import OAuthFlowError, TokenEndpointError
from pwb_oauth_ext.network.text import printable

# --- where things are -----------------------------------------------------

#: Extension:OAuth on Wikimedia keeps every consumer, approval and token on Meta-Wiki
#: ($wgMWOAuthCentralWiki = 'metawiki'); one grant there works on every SUL wiki.
WIKIMEDIA_CENTRAL_WIKI = 'meta.wikimedia.org'
WIKIMEDIA_CENTRAL_URL = 'https://meta.wikimedia.org/w'


_REST_OAUTH2 = '/rest.php/oauth2'
#: The profile endpoint below the script path: it names the user and the token's grants.
PROFILE_PATH = f'{_REST_OAUTH2}/resource/profile'


@dataclass(frozen=True)
class OAuth2Endpoints:
    """Where a wiki's OAuth 2.0 endpoints live (under rest.php)."""

    authorize_url: str
    token_url: str
    profile_url: str


def endpoints_for(script_url: str) -> OAuth2Endpoints:
    """Endpoints below a wiki's script path, e.g. 'https://en.wikipedia.org/w'.

    Extension:OAuth 1.35+ serves OAuth 2.0 from the REST API:
    ``rest.php/oauth2/{authorize,access_token,resource/profile}``
    (oauth2-token-authorization-code-confidential.json, oauth2-profile.json).
    """
    base = script_url.rstrip('/')
    if not urlsplit(base).scheme or not urlsplit(base).netloc:
        raise ValueError(f'not an absolute URL: {script_url!r}')
    return OAuth2Endpoints(
        authorize_url=f'{base}{_REST_OAUTH2}/authorize',
        token_url=f'{base}{_REST_OAUTH2}/access_token',
        profile_url=f'{base}{PROFILE_PATH}',
    )


def special_oauth_url(index_url: str, subpage: str, **params: str) -> str:
    """``index.php?title=Special:OAuth/<subpage>&...`` for the OAuth 1.0a handshake.

    The title goes in the query, as mwoauth sends it: MediaWiki signs and
    checks the URL as requested, and the path form (``index.php/Special:...``)
    depends on $wgArticlePath (oauth1-initiate.json, oauth1-initiate-path-form.json).
    """
    return f'{index_url}?' + urlencode([('title', f'Special:OAuth/{subpage}'), *params.items()])


# --- OAuth 2.0 token endpoint (league/oauth2-server) ------------------------

def token_error_details(text: str) -> dict[str, str] | None:
    """Read a token endpoint error body; None for a body that is not an OAuth error.

    MediaWiki (league/oauth2-server) adds ``hint`` and ``message`` to
    ``error``/``error_description``; the hint is the only part that tells
    e.g. a revoked refresh token from a missing PKCE verifier
    (oauth2-token-error-pkce-missing-verifier.json,
    oauth2-token-error-invalid-grant-reused-code.json).
    """
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get('error'), str):
        return None
    return {key: str(body[key]) for key in ('error', 'error_description', 'hint', 'message')
            if body.get(key) is not None}


def with_client_secret(data: dict[str, str], client_secret: str | None) -> dict[str, str]:
    """Put the client secret in the form body (MediaWiki also takes HTTP Basic).

    Both are accepted (oauth2-token-authorization-code-confidential.json,
    oauth2-token-authorization-code-basic-auth.json); the body keeps the request
    a plain form POST, so the caller's transport adds no Authorization header.
    """
    if client_secret is not None:
        data['client_secret'] = client_secret
    return data


def refresh_failure_reason(exc: TokenEndpointError, *, public_client: bool) -> str | None:
    """Why a refresh failure needs a new authorization, or None if it does not.

    league/oauth2-server answers a used or withdrawn refresh token with
    ``invalid_request`` and a hint (oauth2-token-refresh-rotation.json rotates
    both tokens, so a second use is "revoked"); REL1_39 to 1.45 check a secret
    on every refresh, so a public client gets ``invalid_client``
    (oauth2-token-refresh-public-client.json).
    """
    hint = (exc.hint or '').lower()
    if exc.error == 'invalid_grant':
        return 'the refresh token is invalid or expired'
    if exc.error == 'invalid_request' and 'revoked' in hint:
        return 'the refresh token was revoked (already used, or the grant was withdrawn)'
    if exc.error == 'invalid_request' and ('expired' in hint or 'decrypt' in hint):
        return 'the refresh token is expired or not valid for this wiki'
    if exc.error == 'invalid_client' and public_client:
        return 'this wiki does not let a public client (no secret) refresh its token'
    return None


def is_redirect_denial(params: dict[str, str]) -> bool:
    """MediaWiki's "Cancel" redirect carries ``error`` but no ``state``.

    (oauth2-authorize-deny.json)
    """
    return 'error' in params and 'state' not in params


# --- OAuth 1.0a handshake (Special:OAuth) -----------------------------------

_TAG = re.compile(r'</?(?:a|b|i|p|br|div|span|code|strong|em)\b[^>]*>', re.IGNORECASE)
_SPACE = re.compile(r'\s+')


def _readable(text: str) -> str:
    """MediaWiki's error text without HTML (help links become their code, e.g. E010).

    Control characters are escaped: the text is the wiki's, and it is printed.
    """
    # The help link is real HTML, its wrapping span is escaped HTML: strip both.
    return printable(_SPACE.sub(' ', _TAG.sub('', html.unescape(_TAG.sub('', text)))).strip())


def special_oauth_error(text: str, what: str) -> OAuthFlowError | None:
    """An OAuthFlowError for a Special:OAuth error body, None if it is not one.

    Errors come as HTTP 200: ``text/plain`` ``Error: ...`` or, with
    ``format=json``, ``{"error": key, "message": text}``
    (oauth1-initiate-error-owner-only-consumer.json and its -format-json twin).
    """
    stripped = text.strip()
    if stripped.startswith('Error:'):
        return OAuthFlowError(f'The wiki refused {what}: {_readable(stripped[6:])}')
    if stripped.startswith('{'):
        try:
            body = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        if isinstance(body, dict) and 'error' in body:
            message = _readable(str(body.get('message') or ''))
            code = printable(body['error'])
            return OAuthFlowError(f'The wiki refused {what}: {message or code} ({code})')
    return None


# --- Action API refusals of a signed or bearer request ----------------------

#: The API error code for a consumer registered for another wiki than the one
#: asked (Extension:OAuth's session provider; no recording: the pack's consumers
#: are all registered for every wiki).
WRONG_WIKI = 'mwoauth-invalid-authorization-wrong-wiki'

def is_authorization_refusal(code: str) -> bool:
    """An API error code by which Extension:OAuth refuses the request's credentials.

    ``mwoauth-invalid-authorization`` and its variants, e.g. ``-wrong-wiki``
    (api-oauth1-error-*.json, api-oauth2-bearer-error-*.json).
    """
    return code.startswith('mwoauth-invalid-authorization')


_EXPIRED_TIMESTAMP = re.compile(r'Expired timestamp, yours (\d+), ours (\d+)')
_NONCE_REUSED = 'Nonce already used'


def clock_skew(info: str) -> tuple[int, int] | None:
    """(our timestamp, the wiki's) when the wiki refused a signature as too old or new.

    MediaWiki accepts oauth_timestamp within 300 s of its clock and says what
    both read (api-oauth1-error-timestamp-expired.json, api-oauth1-timestamp-window.json).
    """
    found = _EXPIRED_TIMESTAMP.search(info)
    return (int(found[1]), int(found[2])) if found else None


def is_nonce_reused(info: str) -> bool:
    """The wiki saw this nonce before (api-oauth1-error-nonce-reused.json): a new one may pass."""
    return _NONCE_REUSED in info


#: Marker in the API error ``info`` -> what likely caused it; from the refusals
#: MediaWiki 1.39 sends (api-oauth1-error-*.json, api-oauth2-bearer-error-*.json).
_LIKELY_CAUSES = (
    ('Invalid signature', 'the consumer secret or access secret is wrong, or the wiki'
     ' computes signatures for another URL (http/https, host name or proxy)'),
    ('Invalid consumer', 'the consumer key is wrong, or the consumer is not approved,'
     ' disabled, or registered for another wiki'),
    ('No approved grant', 'the access token is wrong or was revoked, or belongs to'
     ' another consumer'),
    ('Expired timestamp', 'this computer\'s clock is off by more than 5 minutes'),
    (_NONCE_REUSED, 'a request was replayed (a proxy retrying it?)'),
    ('Invalid access token', 'the bearer token expired, was revoked or was damaged;'
     ' for an authorization-code grant run pwb-oauth authorize for this site again'),
)


def likely_causes(info: str) -> list[str]:
    """What probably made the wiki refuse a request, read from the error's ``info``."""
    return [cause for marker, cause in _LIKELY_CAUSES if marker in info]


# --- rights -----------------------------------------------------------------

#: Rights a bot usually needs; without 'edit' the check fails. Only those the wiki
#: has count: MediaWiki 1.43 has no 'writeapi' (and grants no 'purge' under OAuth).
REQUIRED_RIGHTS = ('edit',)
USUAL_RIGHTS = ('edit', 'createpage', 'writeapi', 'bot', 'apihighlimits')
#: Rights removed from MediaWiki core, by the version without them (used when the
#: wiki does not list its groups' rights; mw-1.43/ recordings have no 'writeapi').
REMOVED_RIGHTS = {'writeapi': (1, 43)}
