"""Can the wiki's host be reached: a TCP connection (and TLS for https), no HTTP request.

Used by ``pwb-oauth check`` and ``pwb-oauth authorize`` before anything else
goes to the wiki. Standard library only.
"""
from __future__ import annotations

from typing import Any


def _address(url: str) -> tuple[str, int]:
    """The host and port a URL connects to (the scheme's default port if none)."""
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return parts.hostname or '', parts.port or (443 if parts.scheme == 'https' else 80)


def host_port(url: str) -> str:
    host, port = _address(url)
    return f'{host}:{port}'


def unreachable(url: str, timeout: Any = 30, *, verify: bool = True,
                proxied: bool = False) -> str | None:
    """Why the wiki's host cannot be reached (DNS, refused, timeout, TLS), or None.

    A TCP connection and, for https, a TLS handshake; no HTTP request, so the
    wiki sees nothing. Skipped behind a proxy, ``proxied`` (only the proxy could tell).
    """
    import socket
    import ssl
    from urllib.parse import urlsplit

    if proxied:
        return None
    host, port = _address(url)
    connect_timeout = float(timeout[0] if isinstance(timeout, (tuple, list)) else timeout)
    try:
        sock = socket.create_connection((host, port), timeout=min(connect_timeout, 30.0))
    except OSError as exc:
        return f'cannot reach {host}:{port}: {describe_connect_error(exc, connect_timeout)}'
    with sock:
        if urlsplit(url).scheme != 'https':
            return None
        context = ssl.create_default_context(cafile=_ca_bundle())
        if not verify:   # the family turns certificate checks off for this site
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with context.wrap_socket(sock, server_hostname=host):
                return None
        except (ssl.SSLError, OSError) as exc:
            return f'cannot reach {host}:{port}: {describe_connect_error(exc, connect_timeout)}'


def _ca_bundle() -> str | None:
    """The CA bundle requests uses (certifi), so the probe trusts what Pywikibot trusts."""
    try:
        import certifi
    except ImportError:
        return None
    return str(certifi.where())


def describe_connect_error(exc: BaseException, timeout: float) -> str:
    """One phrase for a failed connection: which of DNS, refused, timeout, TLS, and why."""
    import socket
    import ssl
    if isinstance(exc, socket.gaierror):
        return (f'DNS lookup failed ({exc.strerror or exc}): check the host name in the'
                ' family file, and the network or DNS settings')
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f'TLS certificate not accepted ({exc.verify_message}): a proxy or the'
                ' wrong host answers, or the certificate expired')
    if isinstance(exc, ssl.SSLError):
        return (f'TLS handshake failed ({getattr(exc, "reason", None) or exc}): is this port'
                ' https? (an http server, or a proxy, answers there)')
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return (f'timeout: no answer within {timeout:g} s (a firewall, the wrong address,'
                ' or the wiki is down)')
    if isinstance(exc, ConnectionRefusedError):
        return ('connection refused: nothing listens on that port (the wiki server is not'
                ' running, or the port in the family file is wrong)')
    return f'{type(exc).__name__}: {getattr(exc, "strerror", None) or exc}'
