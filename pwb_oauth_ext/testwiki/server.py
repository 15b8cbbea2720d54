"""Serve the test wiki on 127.0.0.1 with a threaded, keep-alive WSGI server.

``run_test_wiki()`` is the context manager tests use; ``pwb-oauth testwiki``
(``testwiki/command.py``) serves a seeded one for manual poking.
"""
from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from pwb_oauth_ext.testwiki.app import TestWikiApp
from pwb_oauth_ext.testwiki.model import Wiki
from pwb_oauth_ext.testwiki.seed import Seeded, seed

HOST = '127.0.0.1'


class _KeepAliveHandler(WSGIRequestHandler):
    """wsgiref's handler, but HTTP/1.1 with persistent connections.

    Pywikibot and requests.Session reuse connections; every response carries
    Content-Length, so the connection can stay open between requests.
    """

    protocol_version = 'HTTP/1.1'
    timeout = 60   # an idle keep-alive connection ends after this

    def setup(self) -> None:
        super().setup()
        # wsgiref writes headers and body separately; without this the body
        # waits ~40 ms for the client's delayed ACK (Nagle's algorithm).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (socket.timeout, ConnectionError):
            self.close_connection = True
            return
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        handler = ServerHandler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(),
                                multithread=True)
        handler.http_version = '1.1'
        handler.request_handler = self  # type: ignore[attr-defined]
        try:
            handler.run(self.server.get_app())  # type: ignore[attr-defined]
        except (ConnectionError, socket.timeout):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the wiki keeps its own request log."""


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False     # idle keep-alive threads must not hold up shutdown
    request_queue_size = 128   # many processes connect at once in load tests
    allow_reuse_address = True

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (slow with no network)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self.setup_environ()


@dataclass
class RunningWiki:
    """A test wiki being served: where it is and its state."""

    url: str
    app: TestWikiApp
    #: What ``run_test_wiki(pages=..., clients=..., seed=True)`` created.
    seeded: Seeded = field(default_factory=Seeded)

    @property
    def clients(self) -> dict[str, Any]:
        """Seeded credentials by kind: 'oauth1-owner-only', 'oauth2-owner-only', ..."""
        return self.seeded.clients

    @property
    def passwords(self) -> dict[str, str]:
        """Seeded users and their Special:UserLogin passwords."""
        return self.seeded.passwords

    @property
    def api_url(self) -> str:
        return self.url + '/api.php'

    @property
    def host(self) -> str:
        """'127.0.0.1:PORT', the key Pywikibot's config.authenticate looks up."""
        return self.url.split('://', 1)[1]

    @property
    def port(self) -> int:
        return int(self.host.rsplit(':', 1)[1])

    @property
    def wiki(self) -> Wiki:
        return self.app.wiki


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for a loopback redirect URI)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def run_test_wiki(port: int = 0, *, seed_all: bool = False,
                  pages: Mapping[str, str] | bool | None = None,
                  bots: Iterable[str] | None = None,
                  clients: Iterable[str] | bool | None = None,
                  redirect_uri: str | None = None,
                  **options: Any) -> Iterator[RunningWiki]:
    """Serve a fresh ``TestWikiApp(**options)`` on 127.0.0.1 (ephemeral port by default).

    ``options`` include ``mediawiki='1.39'`` (default '1.43'). Seeding in the same call:
    ``seed_all=True`` gives the pages, bots and clients of ``pwb-oauth testwiki``;
    ``pages={title: text}`` (or True for the standard pages), ``bots=[names]`` and
    ``clients=['oauth2-owner-only', ...]`` (or True for every kind) pick parts. The
    results are ``wiki.clients[kind]`` and ``wiki.passwords[user]``.
    """
    app = TestWikiApp(**options)
    server = _ThreadingWSGIServer((HOST, port), _KeepAliveHandler)
    server.set_app(app)
    url = f'http://{HOST}:{server.server_address[1]}'
    app.wiki.server_url = url   # OAuth 1.0a signs against the configured server URL
    seeded = Seeded()
    try:
        if seed_all or any(value is not None for value in (pages, bots, clients)):
            seed_options: dict[str, Any] = {
                'pages': True if pages is None and seed_all else (pages or {}),
                'clients': True if clients is None and seed_all else (clients or []),
                'redirect_uri': redirect_uri
                or f'http://{HOST}:{free_loopback_port()}/callback'}
            if bots is not None:
                seed_options.update(bots=list(bots), admin=None)
            seeded = seed(app, **seed_options)
    except BaseException:
        server.server_close()
        raise
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1},
                              name=f'testwiki-{server.server_address[1]}', daemon=True)
    thread.start()
    try:
        yield RunningWiki(url, app, seeded)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

