"""Serve the test wiki on 127.0.0.1 with a threaded, keep-alive WSGI server.

``run_test_wiki()`` is the context manager tests use; ``python -m
pwb_oauth_ext.testwiki.server`` serves one for manual poking.
"""
from __future__ import annotations

import argparse
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .app import TestWikiApp
from .model import Wiki

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


@contextmanager
def run_test_wiki(port: int = 0, **options: Any) -> Iterator[RunningWiki]:
    """Serve a fresh ``TestWikiApp(**options)`` on 127.0.0.1 (ephemeral port by default)."""
    app = TestWikiApp(**options)
    server = _ThreadingWSGIServer((HOST, port), _KeepAliveHandler)
    server.set_app(app)
    url = f'http://{HOST}:{server.server_address[1]}'
    app.wiki.server_url = url   # OAuth 1.0a signs against the configured server URL
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1},
                              name=f'testwiki-{server.server_address[1]}', daemon=True)
    thread.start()
    try:
        yield RunningWiki(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    """Serve a wiki with BotUser and an owner-only OAuth 1.0a consumer until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument('--port', type=int, default=0)
    args = parser.parse_args(argv)
    with run_test_wiki(port=args.port) as running:
        running.app.add_bot('BotUser', password='botpassword')
        consumer = running.app.register_oauth1_consumer('BotUser', owner_only=True)
        # Secrets go to a private file, never to the terminal.
        fd, path = tempfile.mkstemp(prefix='testwiki-credentials-', suffix='.py')
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            handle.write(f"authenticate['{running.host}'] = ('{consumer.consumer_key}', "
                         f"'{consumer.consumer_secret}', '{consumer.access_token}', "
                         f"'{consumer.access_secret}')\n")
        print(f'Test wiki at {running.url} (API {running.api_url})')
        print(f'BotUser (password "botpassword"); its owner-only OAuth 1.0a consumer is '
              f'in {path} (mode 0600)')
        print('Ctrl-C to stop.', flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == '__main__':
    main()
