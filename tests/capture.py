"""A capture server for security tests: listens on a loopback address and records every request.

Secrets must reach only the host their entry names. A test points something at a
``CaptureServer`` on another loopback address (127.0.0.2, 127.0.0.3, ...; Linux routes
all of 127.0.0.0/8 to this machine) and then checks what it received, usually nothing.
The server can answer with anything (a redirect, a hostile token answer), so it also
stands in for a misbehaving endpoint.

    with CaptureServer('127.0.0.2') as trap:
        ...  # make the bot talk to the wiki
    assert trap.requests == []
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union
from urllib.parse import urlsplit

#: answer(request) -> (status, headers, body)
Answer = Callable[['Captured'], tuple[int, dict[str, str], Union[bytes, str]]]


@dataclass
class Captured:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    raw: bytes = field(repr=False, default=b'')  # request line, headers and body

    def text(self) -> str:
        """Everything received, for "does the secret appear anywhere" checks."""
        return self.raw.decode('latin-1')


def _ok(request: Captured) -> tuple[int, dict[str, str], bytes]:
    return 200, {'Content-Type': 'text/plain'}, b'captured'


def fixed(status: int, body: bytes | str = b'', **headers: str) -> Answer:
    """An answer that is always the same (header names with '_' for '-')."""
    named = {name.replace('_', '-'): value for name, value in headers.items()}
    return lambda request: (status, named, body)


def redirect(location: str, status: int = 307) -> Answer:
    """Always a redirect to ``location``."""
    return fixed(status, b'', Location=location)


def redirect_elsewhere(location: str, status: int = 302) -> Answer:
    """A redirect to ``location`` for every request but one to ``location``'s own path.

    For a redirect to another name of the same server: the request that lands there
    gets the ordinary answer.
    """
    target = urlsplit(location).path

    def answer(request: Captured) -> tuple[int, dict[str, str], Union[bytes, str]]:
        if request.path == target:
            return _ok(request)
        return status, {'Location': location}, b''
    return answer


def free_port(host: str = '127.0.0.1') -> int:
    """A port that was free on ``host`` a moment ago (for URIs that must name one)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class CaptureServer:
    """An HTTP server on ``host`` (ephemeral port) that records every request."""

    def __init__(self, host: str = '127.0.0.2', answer: Answer = _ok) -> None:
        self.host = host
        self.answer = answer
        self.requests: list[Captured] = []
        self.connections = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def _any(self) -> None:
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else b''
                head = f'{self.requestline}\r\n{self.headers}'.encode('latin-1', 'replace')
                captured = Captured(self.command, self.path, dict(self.headers.items()), body,
                                    head + body)
                server.requests.append(captured)
                status, headers, payload = server.answer(captured)
                data = payload.encode('utf-8') if isinstance(payload, str) else payload
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._any()

            def do_POST(self) -> None:
                self._any()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.05}, daemon=True)

    @property
    def netloc(self) -> str:
        return f'{self.host}:{self.port}'

    def url(self, path: str = '/', *, host: str | None = None) -> str:
        """A URL of this server; ``host`` another name for its address ('localhost')."""
        return f'http://{host or self.host}:{self.port}{path}'

    def authorizations(self) -> list[str | None]:
        """The Authorization header of each request received (None when absent)."""
        return [request.headers.get('Authorization') for request in self.requests]

    def received(self, needle: str) -> bool:
        """True when ``needle`` occurs anywhere in what the server received."""
        return any(needle in request.text() for request in self.requests)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
