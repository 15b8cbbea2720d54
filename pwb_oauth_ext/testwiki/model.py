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
#: What the 'sysop' group adds (the part of it the test wiki's API checks).
SYSOP_RIGHTS = ['delete', 'undelete', 'deletedhistory', 'protect', 'suppressredirect',
                'move-subpages', 'apihighlimits', 'noratelimit']
#: MediaWiki versions the test wiki can answer as; 1.43 LTS unless asked otherwise.
MEDIAWIKI_VERSIONS = ('1.39', '1.43')
DEFAULT_MEDIAWIKI_VERSION = '1.43'
#: The browser session cookie (``Wiki.browser_login``, Special:UserLogin, consent pages).
SESSION_COOKIE = 'testwiki_session'
#: Rights MediaWiki 1.43 no longer lists (writeapi left core; purge is not reported).
RIGHTS_GONE_IN_1_43 = frozenset({'writeapi', 'purge'})

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
    'delete': ['delete', 'bigdelete', 'deletedhistory', 'deletedtext', 'undelete',
               'browsearchive', 'deletelogentry', 'deleterevision'],
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
    #: Rights this wiki's MediaWiki version does not report (set by ``Wiki.add_user``).
    hidden_rights: frozenset[str] = frozenset()

    @property
    def rights(self) -> list[str]:
        """All rights of the user (what identify's JWT reports)."""
        rights = list(USER_RIGHTS)
        if 'bot' in self.groups:
            rights = BOT_RIGHTS + [r for r in rights if r not in BOT_RIGHTS]
        if 'sysop' in self.groups:
            rights += [r for r in SYSOP_RIGHTS if r not in rights]
        return [r for r in rights if r not in self.hidden_rights]

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
    minor: bool = False


@dataclass
class WikiPage:
    """A page kept in memory, with its history."""

    pageid: int
    title: str
    revisions: list[Revision] = field(default_factory=list)
    #: When the page was last purged (info's 'touched'); '' means its last edit.
    touched: str = ''

    @property
    def text(self) -> str:
        """The current wikitext."""
        return self.revisions[-1].text if self.revisions else ''


@dataclass
class LogEntry:
    """One Special:Log entry (list=logevents)."""

    logid: int
    type: str
    action: str
    title: str
    pageid: int
    user: str
    timestamp: str
    comment: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class RecentChange:
    """One Special:RecentChanges row (list=recentchanges)."""

    rcid: int
    type: str              # 'new', 'edit' or 'log'
    title: str
    pageid: int
    revid: int
    old_revid: int
    user: str
    timestamp: str
    comment: str
    bot: bool = False
    minor: bool = False
    logid: int = 0


class Wiki:
    """Everything the test wiki knows. Thread-safe through one lock.

    ``clock`` returns Unix seconds; tests shift it (``clock_offset``) to
    exercise timestamp windows and token expiry without sleeping.
    """

    def __init__(self, server_url: str = 'http://127.0.0.1', *,
                 sitename: str = 'TestWiki',
                 clock: Callable[[], float] = time.time,
                 mediawiki: str = DEFAULT_MEDIAWIKI_VERSION) -> None:
        if mediawiki not in MEDIAWIKI_VERSIONS:
            raise ValueError(f'mediawiki={mediawiki!r}: the test wiki answers as one of '
                             f'{", ".join(MEDIAWIKI_VERSIONS)}')
        self.server_url = server_url.rstrip('/')
        self.sitename = sitename
        #: The MediaWiki version whose recorded answers the wiki gives ('1.39' or '1.43').
        self.mediawiki = mediawiki
        self._clock = clock
        self.clock_offset = 0.0
        self.lock = threading.RLock()
        self.users: dict[str, WikiUser] = {}
        self.pages: dict[str, WikiPage] = {}
        self.sessions: dict[str, str] = {}  # browser session cookie -> user name
        self._next_user_id = 1
        self._next_page_id = 1
        self._next_revid = 1
        self.log: list[LogEntry] = []
        self.recent_changes: list[RecentChange] = []
        #: Every request the wiki has seen, as (method, path, action-or-endpoint).
        self.request_log: list[tuple[str, str, str]] = []
        self._token_salt = secrets.token_bytes(16)
        #: A farm wiki's id ('enwiki') and content language; None/'en' for a lone wiki
        #: (its siteinfo then keeps the recorded wikiid).
        self.wiki_id: str | None = None
        self.language = 'en'

    def edit_token(self, seed: str) -> str:
        """A MediaWiki-shaped token (40 hex + '+\\') bound to ``seed`` (user or session).

        Deterministic per wiki instance, so the csrf token fetched in one request
        is accepted in the next without server-side bookkeeping.
        """
        digest = hmac.new(self._token_salt, seed.encode('utf-8'), hashlib.sha1).hexdigest()
        return digest + '+\\'

    def at_least(self, version: str) -> bool:
        """Whether the wiki answers as MediaWiki ``version`` or later."""
        def key(text: str) -> tuple[int, ...]:
            return tuple(int(part) for part in text.split('.'))
        return key(self.mediawiki) >= key(version)

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
                            password=password,
                            hidden_rights=RIGHTS_GONE_IN_1_43 if self.at_least('1.43')
                            else frozenset())
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
    def timestamp(self) -> str:
        """The wiki's clock as MediaWiki's ISO 8601 timestamp."""
        return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.now()))

    def save_page(self, title: str, text: str, user: str,
                  comment: str = '', *, bot: bool = False,
                  minor: bool = False) -> tuple[WikiPage, Revision | None]:
        """Save ``text``; return the page and the new revision (None for a no-op)."""
        with self.lock:
            page = self.pages.get(title)
            if page is None:
                page = WikiPage(pageid=self._next_page_id, title=title)
                self._next_page_id += 1
                self.pages[title] = page
            elif page.revisions and page.revisions[-1].text == text:
                return page, None
            old_revid = page.revisions[-1].revid if page.revisions else 0
            rev = Revision(revid=self._next_revid, text=text, user=user,
                           comment=comment, timestamp=self.timestamp(), minor=minor)
            self._next_revid += 1
            page.revisions.append(rev)
            self._record_change('edit' if old_revid else 'new', page, rev.revid, old_revid,
                                user, comment, bot=bot, minor=minor)
            return page, rev

    def move_page(self, old_title: str, new_title: str, user: str, reason: str = '', *,
                  leave_redirect: bool = True) -> None:
        """Rename a page (it keeps its id and history), optionally leaving a redirect."""
        with self.lock:
            page = self.pages.pop(old_title)
            page.title = new_title
            self.pages[new_title] = page
            self.add_log('move', 'move', old_title, page.pageid, user, reason,
                         {'target_title': new_title, 'suppressredirect': not leave_redirect})
            if leave_redirect:
                self.save_page(old_title, f'#REDIRECT [[{new_title}]]', user, reason)

    def delete_page(self, title: str, user: str, reason: str = '') -> LogEntry:
        """Delete a page and its history; return the deletion log entry."""
        with self.lock:
            page = self.pages.pop(title)
            return self.add_log('delete', 'delete', title, page.pageid, user, reason)

    def add_log(self, log_type: str, action: str, title: str, pageid: int, user: str,
                comment: str, params: dict[str, object] | None = None) -> LogEntry:
        """Append a log entry (and its recent-changes row)."""
        with self.lock:
            entry = LogEntry(len(self.log) + 1, log_type, action, title, pageid, user,
                             self.timestamp(), comment, dict(params or {}))
            self.log.append(entry)
            self.recent_changes.append(RecentChange(
                len(self.recent_changes) + 1, 'log', title, pageid, 0, 0, user,
                entry.timestamp, comment, logid=entry.logid))
            return entry

    def _record_change(self, kind: str, page: WikiPage, revid: int, old_revid: int,
                       user: str, comment: str, *, bot: bool, minor: bool) -> None:
        self.recent_changes.append(RecentChange(
            len(self.recent_changes) + 1, kind, page.title, page.pageid, revid, old_revid,
            user, page.revisions[-1].timestamp, comment, bot=bot, minor=minor))
        if kind == 'new':
            self.add_log('create', 'create', page.title, page.pageid, user, comment)
            self.recent_changes.pop()   # MediaWiki shows a creation once, as 'new'


class InvalidAuthorization(Exception):
    """An OAuth check failed; ``str(exc)`` is MediaWiki's detail text.

    The Action API turns it into HTTP 200 with ``MediaWiki-API-Error:
    mwoauth-invalid-authorization`` and info "The authorization headers in
    your request are not valid: <detail>".
    """


class WrongWikiAuthorization(InvalidAuthorization):
    """A farm consumer registered for another wiki: MediaWiki's
    ``mwoauth-invalid-authorization-wrong-wiki``, naming this wiki's id."""

    def __init__(self, wiki_id: str) -> None:
        super().__init__(wiki_id)
        self.wiki_id = wiki_id
