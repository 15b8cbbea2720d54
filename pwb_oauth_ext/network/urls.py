"""Where a secret may go: https anywhere, plain http to this machine only, never a redirect.

Judged on the URL requests will really connect to (prepared by requests and
parsed by urllib3, as the connection is).
"""
from __future__ import annotations

import functools
import ipaddress
from typing import Any
from urllib.parse import urljoin

from pwb_oauth_ext.errors import OAuthFlowError
from pwb_oauth_ext.network.hosts import url_target
from pwb_oauth_ext.network.text import printable


@functools.lru_cache(maxsize=256)
def is_loopback_host(host: str | None) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (traffic that never leaves the machine)."""
    if not host:
        return False
    host = host.strip('[]').lower()
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def prepared_url(url: str) -> str:
    """``url`` as requests sends it (its ``prepare_url``); ValueError if it cannot."""
    import requests

    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except (requests.RequestException, ValueError, UnicodeError):
        raise ValueError(f'{url!r} is not a URL requests can send') from None
    return prepared.url or ''


def unsafe_destination(url: str) -> str | None:
    """Why secrets must not go to the (prepared) ``url``, or None when they may.

    https anywhere; plain http to loopback only. Judged on the host requests
    connects to (urllib3's parser), not on what ``urlsplit`` reads.
    """
    try:
        scheme, host, port = url_target(url)
    except ValueError:
        return 'not a URL requests can send'
    if scheme == 'https' or (scheme == 'http' and is_loopback_host(host)):
        return None
    shown = f'[{host}]' if ':' in host else host
    return f'{scheme}://{shown}{"" if port is None else f":{port}"} is not https'


def require_safe_url(url: str, what: str) -> None:
    """Refuse to send secrets over plain http except to this machine.

    The check runs on the URL requests will really connect to: prepared by
    requests and parsed by urllib3, as the connection is.
    """
    try:
        problem = unsafe_destination(prepared_url(url))
    except ValueError as exc:
        problem = str(exc)
    if problem is not None:
        raise OAuthFlowError(
            f'Refusing to send {what}: {problem}. OAuth secrets need https (plain http is'
            ' only allowed to 127.0.0.1/localhost).')


def refuse_redirect(response: Any, endpoint: str, what: str) -> None:
    """A 3xx answer to a request carrying a secret is an error; it is never followed.

    Following it would re-send the secret (a 307/308 re-POSTs the body) to
    wherever ``Location`` points, over any scheme.
    """
    try:
        status = int(response.status_code)
    except (TypeError, ValueError, AttributeError):
        return
    if not 300 <= status < 400:
        return
    location = (getattr(response, 'headers', None) or {}).get('Location') or ''
    try:
        target = (url_target(urljoin(endpoint, location))[1] if location
                  else 'nowhere (no Location)')
    except ValueError:
        target = 'an unusable Location'
    raise OAuthFlowError(
        f'{endpoint} answered {what} with a redirect (HTTP {status}) to'
        f' {printable(target)}; redirects are not followed for requests that carry OAuth secrets,'
        ' and nothing was re-sent. Configure the final URL of the endpoint.')


def server_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (what an identify JWT's ``iss`` names)."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return f'{parts.scheme}://{parts.netloc}'
