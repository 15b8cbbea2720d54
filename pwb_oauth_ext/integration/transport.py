"""Requests through Pywikibot's session with none of our credentials: the one path for them.

The OAuth 1.0a handshake, the token endpoint and the new-token check carry
secrets of their own (a signature, a client secret, a bearer token). They go
through Pywikibot's session (User-Agent, SSL setting, timeouts, proxies) with
``config.authenticate`` left out, and never follow a redirect: a 307/308 would
re-send the secret to wherever ``Location`` points.
"""
from __future__ import annotations

from typing import Any

from pwb_oauth_ext.errors import OAuthFlowError
from pwb_oauth_ext.integration.context import no_auth
from pwb_oauth_ext.network.urls import refuse_redirect


def fetch_without_auth(url: str, *, method: str, headers: dict[str, str],
                       data: dict[str, str] | None = None, what: str = 'an OAuth request',
                       endpoint: str | None = None) -> Any:
    """One request without our auth; a 3xx is an OAuthFlowError naming where it pointed.

    ``what`` names the request in that error, ``endpoint`` the target when it
    cannot be reached (default: the URL without its query, which may hold a token).
    """
    from pywikibot.comms import http
    with no_auth():
        response = http.fetch(url, method=method, data=data, headers=headers,
                              default_error_handling=False, allow_redirects=False)
    if isinstance(response, Exception):
        raise OAuthFlowError(f'Cannot reach {endpoint or url.split("?", 1)[0]}:'
                             f' {type(response).__name__}') from None
    refuse_redirect(response, url, what)
    return response


def post_without_auth(url: str, headers: dict[str, str]) -> Any:
    """POST with an empty body (as mwoauth does): the OAuth 1.0a handshake's poster."""
    return fetch_without_auth(url, method='POST', headers=headers)


def pywikibot_transport(url: str, data: dict[str, str], headers: dict[str, str]) -> Any:
    """POST a token request (the OAuth 2.0 client's transport); shown under ``-debug``.

    The debug lines name the endpoint, the grant type and the answer's status,
    never the body (it holds the client secret, the code or the refresh token).
    """
    import pywikibot
    grant_type = data.get('grant_type', '?') if isinstance(data, dict) else '?'
    pywikibot.debug(f'OAuth 2.0 token request: POST {url} (grant_type={grant_type})')
    response = fetch_without_auth(url, method='POST', headers=headers, data=data,
                                  what='a token request',
                                  endpoint=f'the OAuth 2.0 token endpoint {url}')
    pywikibot.debug(f'OAuth 2.0 token answer from {url}: HTTP {response.status_code}')
    return response
