"""The state of the local test wiki: users, pages, OAuth registrations, clock.

Kept apart from the HTTP code so the OAuth 1.0a and OAuth 2.0 providers and
the Action API share one picture of who exists and what they may do.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

#: Rights a logged-in user has at all (MediaWiki 1.39 'user' + 'autoconfirmed').
USER_RIGHTS = [
    'autoconfirmed', 'editsemiprotected', 'read', 'edit', 'createpage',
    'createtalk', 'writeapi', 'move', 'move-subpages', 'move-rootuserpages',
    'move-categorypages', 'minoredit', 'purge', 'applychangetags',
    'changetags', 'editcontentmodel',
]
BOT_RIGHTS = ['bot', 'nominornewtalk', 'autopatrol', 'suppressredirect',
              'apihighlimits', 'noratelimit', 'highbotvolume']

#: Which rights each grant unlocks (subset of Extension:OAuth's $wgGrantPermissions).
GRANT_RIGHTS = {
    'basic': ['autoconfirmed', 'editsemiprotected', 'read', 'writeapi',
              'applychangetags', 'changetags', 'nominornewtalk'],
    'highvolume': ['bot', 'apihighlimits', 'noratelimit', 'highbotvolume'],
    'editpage': ['edit', 'minoredit', 'editcontentmodel', 'autopatrol',
                 'suppressredirect'],
    'createeditmovepage': ['createpage', 'createtalk', 'move', 'move-subpages',
                           'move-rootuserpages', 'move-categorypages',
                           'suppressredirect'],
}
DEFAULT_GRANTS = ['basic', 'highvolume', 'editpage', 'createeditmovepage']


def random_hex(n_chars: int) -> str:
    """Return n_chars of lowercase hex, the shape of MediaWiki's keys."""
    return secrets.token_hex((n_chars + 1) // 2)[:n_chars]


@dataclass
class WikiUser:
    """A registered wiki account."""

    id: int
    name: str
    groups: list[str] = field(default_factory=lambda: ['*', 'user', 'autoconfirmed'])
    editcount: int = 0
    registered: str = '20240101000000'
    password: str = ''

    @property
    def rights(self) -> list[str]:
        """All rights of the user (what identify's JWT reports)."""
        rights = list(USER_RIGHTS)
        if 'bot' in self.groups:
            rights = BOT_RIGHTS + [r for r in rights if r not in BOT_RIGHTS]
        return rights

    def rights_under_grants(self, grants: list[str]) -> list[str]:
        """The user's rights limited to what the grants allow (userinfo under OAuth)."""
        allowed = {right for grant in grants for right in GRANT_RIGHTS.get(grant, [])}
        return [r for r in self.rights if r in allowed]


@dataclass
class Revision:
    """One saved revision of a page."""

    revid: int
    text: str
    user: str
    comment: str
    timestamp: str


@dataclass
class WikiPage:
    """A page kept in memory, with its history."""

    pageid: int
    title: str
    revisions: list[Revision] = field(default_factory=list)


class Wiki:
    """Everything the test wiki knows. Thread-safe through one lock.

    ``clock`` returns Unix seconds; tests shift it (``clock_offset``) to
    exercise timestamp windows and token expiry without sleeping.
    """

    def __init__(self, server_url: str = 'http://127.0.0.1', *,
                 sitename: str = 'TestWiki',
                 clock: Callable[[], float] = time.time) -> None:
        self.server_url = server_url.rstrip('/')
        self.sitename = sitename
        self._clock = clock
        self.clock_offset = 0.0
        self.lock = threading.RLock()
        self.users: dict[str, WikiUser] = {}
        self.pages: dict[str, WikiPage] = {}
        self.sessions: dict[str, str] = {}  # browser session cookie -> user name
        self._next_user_id = 1
        self._next_page_id = 1
        self._next_revid = 1
        #: Every request the wiki has seen, as (method, path, action-or-endpoint).
        self.request_log: list[tuple[str, str, str]] = []
        self._token_salt = secrets.token_bytes(16)

    def edit_token(self, seed: str) -> str:
        """A MediaWiki-shaped token (40 hex + '+\\') bound to ``seed`` (user or session).

        Deterministic per wiki instance, so the csrf token fetched in one request
        is accepted in the next without server-side bookkeeping.
        """
        digest = hmac.new(self._token_salt, seed.encode('utf-8'), hashlib.sha1).hexdigest()
        return digest + '+\\'

    # -- clock ---------------------------------------------------------
    def now(self) -> float:
        """The wiki's idea of the current time."""
        return self._clock() + self.clock_offset

    # -- users ---------------------------------------------------------
    def add_user(self, name: str, *, groups: list[str] | None = None,
                 password: str = '') -> WikiUser:
        """Register an account; ``groups`` extra to '*', 'user', 'autoconfirmed'."""
        with self.lock:
            base = ['*', 'user', 'autoconfirmed']
            user = WikiUser(id=self._next_user_id, name=name,
                            groups=list(groups or []) + base,
                            password=password)
            self._next_user_id += 1
            self.users[name] = user
            return user

    def browser_login(self, name: str) -> str:
        """Start a logged-in browser session for ``name``; return the cookie value.

        This stands in for Special:UserLogin so tests can drive consent pages.
        """
        with self.lock:
            cookie = random_hex(32)
            self.sessions[cookie] = name
            return cookie

    def user_for_session(self, cookie: str | None) -> WikiUser | None:
        """The user behind a browser session cookie, or None."""
        if not cookie:
            return None
        name = self.sessions.get(cookie)
        return self.users.get(name) if name else None

    # -- pages ---------------------------------------------------------
    def save_page(self, title: str, text: str, user: str,
                  comment: str = '') -> tuple[WikiPage, Revision | None]:
        """Save ``text``; return the page and the new revision (None for a no-op)."""
        with self.lock:
            page = self.pages.get(title)
            if page is None:
                page = WikiPage(pageid=self._next_page_id, title=title)
                self._next_page_id += 1
                self.pages[title] = page
            elif page.revisions and page.revisions[-1].text == text:
                return page, None
            rev = Revision(revid=self._next_revid, text=text, user=user,
                           comment=comment,
                           timestamp=time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                                   time.gmtime(self.now())))
            self._next_revid += 1
            page.revisions.append(rev)
            return page, rev


class InvalidAuthorization(Exception):
    """An OAuth check failed; ``str(exc)`` is MediaWiki's detail text.

    The Action API turns it into HTTP 200 with ``MediaWiki-API-Error:
    mwoauth-invalid-authorization`` and info "The authorization headers in
    your request are not valid: <detail>".
    """
