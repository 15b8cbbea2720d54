"""RFC 8252 loopback redirect receiver for ``pwb-oauth authorize``.

The wiki sends the browser back to ``http://127.0.0.1:PORT/path?code=...``;
listening there once lets the command pick up the code without asking the
user to copy a URL. It only ever binds a loopback address.
"""
from __future__ import annotations

import html
import socket
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .errors import OAuthFlowError
from .oauth2 import is_loopback_host

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


def is_loopback_redirect(uri: str) -> bool:
    """True for an http redirect URI on 127.0.0.1, ::1 or localhost."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return parts.scheme == 'http' and is_loopback_host(parts.hostname)


class _Server(HTTPServer):
    allow_reuse_address = True
    received: str | None = None
    expected_path: str = '/'
    base_url: str = ''


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path or '/'
        if path != self.server.expected_path:
            self._answer(404, 'Not found', 'This address only receives the OAuth redirect.')
            return
        self.server.received = self.server.base_url + self.path
        params = dict(parse_qsl(urlsplit(self.path).query))
        if 'error' in params:
            self._answer(200, 'Authorization not granted',
                         'The wiki reported: ' + params.get('error_description', params['error'])
                         + '. You can close this window and return to the terminal.')
        else:
            self._answer(200, 'Authorization received',
                         'You can close this window and return to the terminal.')

    def _answer(self, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode('utf-8')
        self.send_response(status)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line carries the authorization code."""


class LoopbackReceiver:
    """Listens on a loopback redirect URI from creation on, so no redirect is missed.

    Use it as a context manager: bind, open the browser, then ``wait()``.
    """

    def __init__(self, redirect_uri: str) -> None:
        if not is_loopback_redirect(redirect_uri):
            raise OAuthFlowError(
                f'{redirect_uri} is not a loopback redirect URI '
                f'(expected http://127.0.0.1:PORT/path or http://localhost:PORT/path).')
        parts = urlsplit(redirect_uri)
        host = parts.hostname or '127.0.0.1'
        bind_host = '127.0.0.1' if host == 'localhost' else host
        server_class = _V6Server if ':' in bind_host else _Server
        try:
            self._server = server_class((bind_host, parts.port or 80), _Handler)
        except OSError as exc:
            raise OAuthFlowError(
                f'Cannot listen on {parts.netloc} for the OAuth redirect: {exc.strerror}. '
                f'Close the program using that port or register another redirect URI.'
            ) from None
        self._server.expected_path = parts.path or '/'
        netloc = parts.netloc
        if parts.port == 0:  # report the port the system picked
            netloc = netloc.rsplit(':', 1)[0] + f':{self.port}'
        self._server.base_url = f'{parts.scheme}://{netloc}'
        self.redirect_uri = redirect_uri

    @property
    def port(self) -> int:
        """The port actually bound (useful when the URI says port 0)."""
        return self._server.server_address[1]

    def wait(self, timeout: float) -> str:
        """The full URL the browser was redirected to; OAuthFlowError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self._server.received is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OAuthFlowError(
                    f'No OAuth redirect arrived at {self.redirect_uri} within {timeout:g} s.')
            self._server.timeout = remaining
            self._server.handle_request()
        return self._server.received

    def close(self) -> None:
        """Stop listening."""
        self._server.server_close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def wait_for_redirect(redirect_uri: str, timeout: float) -> str:
    """Listen once on ``redirect_uri`` and return the URL the browser was sent to."""
    with LoopbackReceiver(redirect_uri) as receiver:
        return receiver.wait(timeout)
