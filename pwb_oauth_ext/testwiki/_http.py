"""Minimal request/response objects for the test wiki's WSGI app.

The wiki's endpoints take a ``WikiRequest`` and return a ``WikiResponse`` so
that the OAuth providers can be written and unit-tested without WSGI plumbing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl

HTTP_REASONS = {
    200: 'OK', 302: 'Found', 307: 'Temporary Redirect', 400: 'Bad Request',
    401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    405: 'Method Not Allowed', 500: 'Internal Server Error',
}
#: The cache headers MediaWiki sends with its OAuth pages and answers.
VARY_HEADER = ('Vary', 'Accept-Encoding, Cookie, Authorization')
NO_CACHE_HEADERS = [
    ('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT'),
    ('Cache-Control', 'no-cache, no-store, max-age=0, must-revalidate'),
    ('Pragma', 'no-cache'),
]
PRIVATE_PAGE_HEADERS = [
    VARY_HEADER,
    ('Expires', 'Thu, 01 Jan 1970 00:00:00 GMT'),
    ('Cache-Control', 'private, must-revalidate, max-age=0'),
]


@dataclass
class WikiRequest:
    """What the wiki received, already parsed."""

    method: str
    path: str                      # e.g. '/api.php', '/rest.php/oauth2/access_token'
    query_string: str = ''
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b''
    remote_addr: str = '127.0.0.1'

    @property
    def query(self) -> dict[str, str]:
        """Query string parameters (last value wins)."""
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def form(self) -> dict[str, str]:
        """Form body parameters for application/x-www-form-urlencoded bodies."""
        ctype = self.headers.get('content-type', '')
        if self.body and ctype.startswith('application/x-www-form-urlencoded'):
            return dict(parse_qsl(self.body.decode('utf-8'), keep_blank_values=True))
        return {}

    @property
    def params(self) -> dict[str, str]:
        """Query and form parameters together (form wins), as MediaWiki's WebRequest."""
        merged = self.query
        merged.update(self.form)
        return merged

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent by the client."""
        jar = SimpleCookie()
        jar.load(self.headers.get('cookie', ''))
        return {name: morsel.value for name, morsel in jar.items()}

    @property
    def authorization(self) -> str:
        """The Authorization header, or ''."""
        return self.headers.get('authorization', '')


@dataclass
class WikiResponse:
    """What the wiki answers."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b''

    @classmethod
    def json(cls, data: Any, status: int = 200,
             content_type: str = 'application/json; charset=utf-8',
             headers: list[tuple[str, str]] | None = None) -> WikiResponse:
        """A JSON body with MediaWiki's default content type."""
        return cls(status, [('Content-Type', content_type)] + list(headers or []),
                   json.dumps(data).encode('utf-8'))

    @classmethod
    def text(cls, text: str, status: int = 200,
             content_type: str = 'text/plain; charset=UTF-8',
             headers: list[tuple[str, str]] | None = None) -> WikiResponse:
        """A plain-text (or HTML, by content_type) body."""
        return cls(status, [('Content-Type', content_type)] + list(headers or []),
                   text.encode('utf-8'))

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> WikiResponse:
        """A redirect to ``location``."""
        return cls(status, [('Location', location)], b'')

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or None."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def status_line(self) -> str:
        """E.g. '200 OK' for WSGI's start_response."""
        return f'{self.status} {HTTP_REASONS.get(self.status, "Unknown")}'
