"""RFC 8252 loopback redirect receiver for ``pwb-oauth authorize``.

The wiki sends the browser back to ``http://127.0.0.1:PORT/path?code=...``;
listening there once lets the command pick up the code without asking the
user to copy a URL. It only ever binds a loopback address.
"""
from __future__ import annotations

import html
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlsplit

from pwb_oauth_ext.errors import ConfigError, OAuthFlowError
from pwb_oauth_ext.network.hosts import url_target
from pwb_oauth_ext.network.text import printable
from pwb_oauth_ext.network.urls import is_loopback_host

#: Seconds one connection may stay idle before it is dropped (a browser preconnect, say).
CONNECTION_TIMEOUT = 10.0

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


def is_loopback_redirect(uri: str) -> bool:
    """True for an http redirect URI on 127.0.0.1, ::1 or localhost.

    Judged on the host urllib3 reads, the parser requests connects with.
    """
    try:
        scheme, host, _port = url_target(uri)
    except ValueError:
        return False
    return scheme == 'http' and is_loopback_host(host)


class _Server(ThreadingHTTPServer):
    """One thread per connection, so an idle connection cannot hold up the redirect."""

    allow_reuse_address = True
    daemon_threads = True
    received: str | None = None
    expected_path: str = '/'
    base_url: str = ''
    arrived: threading.Event
    #: Whether a redirect's query belongs to the authorization being waited for.
    belongs: Callable[[dict[str, str]], bool] = staticmethod(lambda params: True)


class _V6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = CONNECTION_TIMEOUT  # socket timeout per connection (StreamRequestHandler)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path or '/'
        if path != self.server.expected_path:
            self._answer(404, 'Not found', 'This address only receives the OAuth redirect.')
            return
        params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        if not self.server.belongs(params):
            # Anyone can send a GET here (another local user; any web page through an
            # <img>): without this request's state it is not the redirect. It is
            # ignored and the receiver goes on waiting for the real one.
            self._answer(400, 'Not this authorization',
                         'This address only receives the redirect of the authorization'
                         ' that pwb-oauth authorize is waiting for; this request was'
                         ' ignored.')
            return
        try:
            if 'error' in params:
                self._answer(200, 'Authorization not granted',
                             'The wiki reported: '
                             + printable(params.get('error_description', params['error']))
                             + '. You can close this window and return to the terminal.')
            else:
                self._answer(200, 'Authorization received',
                             'You can close this window and return to the terminal.')
        finally:
            # Only once the page is written: the command may close the receiver and
            # exit as soon as the redirect is known, which would cut the page off.
            if self.server.received is None:
                self.server.received = self.server.base_url + self.path
                self.server.arrived.set()

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

    def __init__(self, redirect_uri: str,
                 belongs: Optional[Callable[[dict[str, str]], bool]] = None) -> None:
        """``belongs(query parameters)`` tells the awaited redirect from any other GET
        (the caller's ``state`` check); requests it refuses get an error page and are
        ignored. Without it the first request to the path is taken."""
        parts = urlsplit(redirect_uri)
        if parts.port == 0:
            raise ConfigError(
                f'The redirect URI {redirect_uri} has port 0: MediaWiki compares redirect'
                ' URIs exactly, so configure the fixed port registered with the client'
                ' (e.g. http://127.0.0.1:8765/callback).')
        if not is_loopback_redirect(redirect_uri):
            raise OAuthFlowError(
                f'{redirect_uri} is not a loopback redirect URI '
                f'(expected http://127.0.0.1:PORT/path or http://localhost:PORT/path).')
        _scheme, host, port = url_target(redirect_uri)
        bind_host = '127.0.0.1' if host == 'localhost' else host
        server_class = _V6Server if ':' in bind_host else _Server
        try:
            self._server = server_class((bind_host, port or 80), _Handler)
        except OSError as exc:
            raise OAuthFlowError(
                f'Cannot listen on {parts.netloc} for the OAuth redirect: {exc.strerror}. '
                f'Close the program using that port or register another redirect URI.'
            ) from None
        self._server.expected_path = parts.path or '/'
        self._server.base_url = f'{parts.scheme}://{parts.netloc}'
        self._server.arrived = threading.Event()
        if belongs is not None:
            self._server.belongs = belongs   # type: ignore[method-assign]
        self._thread: threading.Thread | None = None
        self.redirect_uri = redirect_uri

    @property
    def port(self) -> int:
        """The port actually bound."""
        return self._server.server_address[1]

    def wait(self, timeout: float) -> str:
        """The full URL the browser was redirected to; OAuthFlowError after ``timeout`` s.

        Connections are served on their own threads, each with a socket timeout,
        so neither an idle connection nor a slow one stretches ``timeout``.
        """
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={'poll_interval': 0.1},
                                            name='pwb-oauth-redirect', daemon=True)
            self._thread.start()
        if not self._server.arrived.wait(timeout):
            raise OAuthFlowError(
                f'No OAuth redirect arrived at {self.redirect_uri} within {timeout:g} s.')
        assert self._server.received is not None
        return self._server.received

    def close(self) -> None:
        """Stop listening."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LoopbackReceiver:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def wait_for_redirect(redirect_uri: str, timeout: float) -> str:
    """Listen once on ``redirect_uri`` and return the URL the browser was sent to."""
    with LoopbackReceiver(redirect_uri) as receiver:
        return receiver.wait(timeout)
