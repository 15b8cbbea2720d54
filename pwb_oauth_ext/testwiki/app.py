"""The test wiki as one WSGI callable: routing, logging, cookie login.

``TestWikiApp`` composes the ``Wiki`` state, the OAuth 1.0a and OAuth 2.0
providers and the Action API.
"""
from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, NamedTuple
from urllib.parse import quote

from pwb_oauth_ext.testwiki import versions
from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.actionapi import ActionApi
from pwb_oauth_ext.testwiki.model import (
    DEFAULT_MEDIAWIKI_VERSION,
    SESSION_COOKIE,
    Wiki,
    WikiUser,
)
from pwb_oauth_ext.testwiki.providers import load_oauth2
from pwb_oauth_ext.testwiki.providers.oauth1.provider import OAuth1Provider
from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider

StartResponse = Callable[..., Any]


class Exchange(NamedTuple):
    """One request the wiki handled, its answer, and the wiki's own time for it (s)."""

    request: WikiRequest
    response: WikiResponse
    seconds: float


class TestWikiApp:
    """WSGI app serving /api.php, /index.php (Special:OAuth, Special:UserLogin), /rest.php."""

    __test__ = False   # not a pytest test class despite the name

    def __init__(self, server_url: str = 'http://127.0.0.1', *,
                 clock: Callable[[], float] = time.time,
                 access_token_ttl: float = 14400.0,
                 refresh_token_ttl: float = 30 * 86400,
                 refresh_grace_seconds: float = 0.0,
                 sitename: str = 'TestWiki',
                 mediawiki: str = DEFAULT_MEDIAWIKI_VERSION) -> None:
        self.wiki = Wiki(server_url, sitename=sitename, clock=clock, mediawiki=mediawiki)
        self.oauth1 = OAuth1Provider(self.wiki)
        self.oauth2: OAuth2Provider = load_oauth2(
            self.wiki, access_token_ttl=access_token_ttl, refresh_token_ttl=refresh_token_ttl,
            refresh_grace_seconds=refresh_grace_seconds)
        self.api = ActionApi(self.wiki, self.oauth1, self.oauth2)
        self._watchers: list[list[Exchange]] = []
        self._watch_lock = threading.Lock()

    # -- conveniences for tests ---------------------------------------------
    def add_bot(self, name: str = 'BotUser', groups: list[str] | None = None,
                password: str = '') -> WikiUser:
        """Register a user (by default in the bot group)."""
        return self.wiki.add_user(name, groups=['bot'] if groups is None else groups,
                                  password=password)

    def register_oauth1_consumer(self, owner: str, *, owner_only: bool,
                                 callback: str | None = None,
                                 grants: list[str] | None = None) -> OAuth1Consumer:
        """Shortcut for ``app.oauth1.register_consumer``."""
        return self.oauth1.register_consumer(owner, owner_only=owner_only, callback=callback,
                                             grants=grants)

    def add_page(self, title: str, text: str, user: str = 'MediaWiki default') -> None:
        """Create or replace a page as if ``user`` had saved it (no request, no rights)."""
        self.wiki.save_page(self.api.pages.normalize(title)[1], text, user)

    @contextmanager
    def watch(self) -> Iterator[list[Exchange]]:
        """Every exchange handled while the block runs, headers and timing included.

        ``wiki.request_log`` keeps only (method, path, action); tests that need
        the Authorization header, and benchmarks that need the wiki's own cost,
        watch instead of patching ``dispatch``.
        """
        seen: list[Exchange] = []
        with self._watch_lock:
            self._watchers.append(seen)
        try:
            yield seen
        finally:
            with self._watch_lock:
                self._watchers.remove(seen)

    def requests_for(self, action: str) -> list[tuple[str, str, str]]:
        """Logged requests whose action or endpoint equals ``action``."""
        with self.wiki.lock:
            return [entry for entry in self.wiki.request_log if entry[2] == action]

    # -- WSGI ------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        req = self._request_from(environ)
        started = time.perf_counter()
        try:
            resp = self.dispatch(req)
        except Exception:   # a bug here must show as a 500, not kill the server thread
            import traceback
            traceback.print_exc()
            resp = WikiResponse.text('Internal error in the test wiki', status=500)
        if self._watchers:
            exchange = Exchange(req, resp, time.perf_counter() - started)
            with self._watch_lock:
                for seen in self._watchers:
                    seen.append(exchange)
        headers = list(resp.headers)
        if not any(k.lower() == 'content-length' for k, _ in headers):
            headers.append(('Content-Length', str(len(resp.body))))
        start_response(resp.status_line, headers)
        return [resp.body]

    @staticmethod
    def _request_from(environ: dict[str, Any]) -> WikiRequest:
        headers = {key[5:].replace('_', '-').lower(): value
                   for key, value in environ.items() if key.startswith('HTTP_')}
        if environ.get('CONTENT_TYPE'):
            headers['content-type'] = environ['CONTENT_TYPE']
        try:
            length = int(environ.get('CONTENT_LENGTH') or 0)
        except ValueError:
            length = 0
        body = environ['wsgi.input'].read(length) if length > 0 else b''
        # PEP 3333 hands PATH_INFO over as latin-1-decoded bytes.
        path = environ.get('PATH_INFO', '/').encode('latin-1').decode('utf-8', 'replace')
        return WikiRequest(method=environ.get('REQUEST_METHOD', 'GET'), path=path,
                           query_string=environ.get('QUERY_STRING', ''), headers=headers,
                           body=body, remote_addr=environ.get('REMOTE_ADDR', '127.0.0.1'))

    def dispatch(self, req: WikiRequest) -> WikiResponse:
        """Route one request and record it in ``wiki.request_log``."""
        if req.path == '/api.php':
            self._log(req, req.params.get('action', 'help'))
            return self.api.handle(req, SESSION_COOKIE)
        if req.path.startswith('/rest.php'):
            self._log(req, req.path[len('/rest.php'):])
            if self.oauth2.handles(req):
                resp = self.oauth2.handle(req)
            else:
                resp = WikiResponse.json({'httpCode': 404, 'httpReason': 'Not Found'},
                                         status=404)
            if self.wiki.at_least('1.43'):
                resp.headers.append(versions.REST_VARY)
            return resp
        if req.path == '/index.php' or req.path.startswith('/index.php/'):
            title = OAuth1Provider.special_title(req)
            self._log(req, title)
            if self.oauth2.handles(req):
                return self.oauth2.handle(req)
            if self.oauth1.handles(req):
                return self.oauth1.handle(req)
            if title == 'Special:UserLogin':
                return self._user_login(req)
            return WikiResponse.text(f'<h1>{html.escape(title or "Main Page")}</h1>',
                                     content_type='text/html; charset=UTF-8')
        self._log(req, '')
        return WikiResponse.text('Not found', status=404)

    def _log(self, req: WikiRequest, what: str) -> None:
        with self.wiki.lock:
            self.wiki.request_log.append((req.method, req.path, what))

    def _user_login(self, req: WikiRequest) -> WikiResponse:
        """A bare Special:UserLogin: GET shows a form, POST wpName/wpPassword logs in."""
        params = req.params
        returnto = params.get('returnto', '')
        if req.method == 'POST':
            user = self.wiki.users.get(params.get('wpName', ''))
            if user is not None and user.password and params.get('wpPassword') == user.password:
                cookie = self.wiki.browser_login(user.name)
                target = f'{self.wiki.server_url}/index.php?title={quote(returnto or "Main_Page")}'
                if params.get('returntoquery'):
                    target += '&' + params['returntoquery']
                return WikiResponse(302, [
                    ('Location', target),
                    ('Set-Cookie', f'{SESSION_COOKIE}={cookie}; path=/; HttpOnly')])
            message = '<p class="error">Incorrect username or password entered.</p>'
        else:
            message = ''
        form = (f'{message}<form method="post" action="/index.php?title=Special:UserLogin">'
                f'<input name="wpName"/><input name="wpPassword" type="password"/>'
                f'<input type="hidden" name="returnto" value="{html.escape(returnto)}"/>'
                f'<input type="hidden" name="returntoquery" '
                f'value="{html.escape(params.get("returntoquery", ""))}"/>'
                '<button type="submit" name="wpLoginAttempt">Log in</button></form>')
        return WikiResponse.text(f'<html><head><title>Log in - {self.wiki.sitename}</title>'
                                 f'</head><body>{form}</body></html>',
                                 content_type='text/html; charset=UTF-8')
