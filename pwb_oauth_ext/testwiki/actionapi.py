"""The Action API (api.php), as much of it as Pywikibot 10.x/11.x uses with OAuth.

Answers follow the recorded MediaWiki 1.39 shapes: every error is HTTP 200
with ``MediaWiki-API-Error``; siteinfo and paraminfo come from the captures in
``data/`` with the server URL rewritten to the live one.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ._http import WikiRequest, WikiResponse
from .model import InvalidAuthorization, Wiki, WikiPage, WikiUser

DATA_DIR = Path(__file__).with_name('data')
RECORDED_SERVER = 'http://127.0.0.1:8080'
ANON_TOKEN = '+\\'
TOKEN_TYPES = ('createaccount', 'csrf', 'login', 'patrol', 'rollback', 'userrights', 'watch')
ANON_RIGHTS = ['createaccount', 'read', 'edit', 'createpage', 'createtalk', 'writeapi',
               'viewmywatchlist', 'editmywatchlist', 'viewmyprivateinfo',
               'editmyprivateinfo', 'editmyoptions']
OAUTH_CANNOT_LOGOUT = ('Logging out is not possible when using '
                       'MediaWiki\\Extension\\OAuth\\SessionProvider sessions.')
_API_HEADERS = [('Content-Disposition', 'inline; filename=api-result.json'),
                ('Cache-Control', 'private, must-revalidate, max-age=0')]
_EDIT_COOKIES = ('cpPosIndex', 'UseDC', 'UseCDNCache')

_data_lock = threading.Lock()
_data_cache: dict[str, Any] = {}


def load_data(name: str, server_url: str) -> Any:
    """A recorded JSON file from ``data/`` with the recorded server URL replaced."""
    with _data_lock:
        if name not in _data_cache:
            _data_cache[name] = (DATA_DIR / name).read_text(encoding='utf-8')
        text = _data_cache[name]
    return json.loads(text.replace(RECORDED_SERVER, server_url))


class ApiError(Exception):
    """An API error: code and info, as MediaWiki reports them."""

    def __init__(self, code: str, info: str) -> None:
        super().__init__(code)
        self.code = code
        self.info = info


@dataclass
class Caller:
    """Who is asking: a user (or None for anonymous) and how they authenticated."""

    user: WikiUser | None
    oauth: bool = False
    grants: list[str] | None = None
    session: str | None = None     # browser session cookie, for cookie logins

    @property
    def rights(self) -> list[str]:
        if self.user is None:
            return list(ANON_RIGHTS)
        if self.grants is not None:
            return self.user.rights_under_grants(self.grants)
        return self.user.rights


class ActionApi:
    """Dispatches api.php requests; authentication is delegated to the providers.

    ``oauth1`` needs ``authenticate(req) -> (user, grants, consumer)``; ``oauth2``
    (optional) needs ``authenticate_bearer(token) -> (user, grants)``.
    """

    def __init__(self, wiki: Wiki, oauth1: Any, oauth2_getter: Callable[[], Any]) -> None:
        self.wiki = wiki
        self.oauth1 = oauth1
        self._oauth2 = oauth2_getter

    # -- entry point ------------------------------------------------------
    def handle(self, req: WikiRequest, session_cookie_name: str) -> WikiResponse:
        """Answer one api.php request."""
        params = req.params
        fv2 = params.get('formatversion') in ('2', 'latest')
        try:
            caller = self._authenticate(req, session_cookie_name)
            action = params.get('action', 'help')
            handler = getattr(self, '_action_' + action, None)
            if handler is None:
                raise ApiError('badvalue',
                               f'Unrecognized value for parameter "action": {action}.')
            if params.get('assert') == 'user' and caller.user is None:
                raise ApiError('assertuserfailed',
                               'You are no longer logged in, so the action could not be '
                               'completed.')
            if params.get('assert') == 'bot' and 'bot' not in caller.rights:
                raise ApiError('assertbotfailed',
                               'You do not have the "bot" right, so the action could not '
                               'be completed.')
            return handler(params, caller, fv2)
        except InvalidAuthorization as exc:
            return self.error('mwoauth-invalid-authorization',
                              f'The authorization headers in your request are not valid: {exc}',
                              fv2)
        except ApiError as exc:
            return self.error(exc.code, exc.info, fv2)

    def error(self, code: str, info: str, fv2: bool) -> WikiResponse:
        """MediaWiki's error body and header; the help key depends on formatversion."""
        docref = (f'See {self.wiki.server_url}/api.php for API usage. Subscribe to the '
                  'mediawiki-api-announce mailing list at &lt;https://lists.wikimedia.org/'
                  'postorius/lists/mediawiki-api-announce.lists.wikimedia.org/&gt; for notice '
                  'of API deprecations and breaking changes.')
        body = {'error': {'code': code, 'info': info, ('docref' if fv2 else '*'): docref}}
        return WikiResponse.json(body, headers=[('MediaWiki-API-Error', code), *_API_HEADERS])

    def _authenticate(self, req: WikiRequest, session_cookie_name: str) -> Caller:
        authorization = req.authorization
        if authorization.startswith('OAuth '):
            user, grants, _consumer = self.oauth1.authenticate(req)
            return Caller(user, oauth=True, grants=grants)
        if authorization.startswith('Bearer'):
            oauth2 = self._oauth2()
            if oauth2 is None:
                raise InvalidAuthorization('Invalid access token')
            user, grants = oauth2.authenticate_bearer(authorization[len('Bearer'):].strip())
            return Caller(user, oauth=True, grants=list(grants))
        session = req.cookies.get(session_cookie_name)
        user = self.wiki.user_for_session(session)
        return Caller(user, session=session if user else None)

    @staticmethod
    def _ok(body: dict[str, Any], headers: list[tuple[str, str]] | None = None) -> WikiResponse:
        return WikiResponse.json(body, headers=_API_HEADERS + list(headers or []))

    def _token_for(self, caller: Caller, token_type: str) -> str:
        if caller.user is None:
            if token_type in ('login', 'createaccount'):
                return self.wiki.edit_token(f'{token_type}:anon')
            return ANON_TOKEN
        return self.wiki.edit_token(f'{token_type}:{caller.user.name}')

    def _check_token(self, params: dict[str, str], caller: Caller,
                     token_type: str = 'csrf') -> None:
        if 'token' not in params:
            raise ApiError('missingparam', 'The "token" parameter must be set.')
        if params['token'] != self._token_for(caller, token_type):
            raise ApiError('badtoken', 'Invalid CSRF token.')

    # -- action=query ---------------------------------------------------------
    def _action_query(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        query: dict[str, Any] = {}
        body: dict[str, Any] = {'batchcomplete': True if fv2 else ''}
        metas = [m for m in params.get('meta', '').split('|') if m]
        for meta in metas:
            if meta == 'siteinfo':
                query.update(self._siteinfo(params))
            elif meta == 'tokens':
                types = params.get('type', 'csrf').split('|')
                query['tokens'] = {f'{t}token': self._token_for(caller, t)
                                   for t in TOKEN_TYPES if t in types}
        self._pages(params, caller, fv2, query, body)
        if 'userinfo' in metas:
            query['userinfo'] = self._userinfo(params, caller, fv2)
        if query:
            body['query'] = query
        return self._ok(body)

    def _userinfo(self, params: dict[str, str], caller: Caller, fv2: bool) -> dict[str, Any]:
        props = params.get('uiprop', '').split('|')
        user = caller.user
        info: dict[str, Any] = ({'id': user.id, 'name': user.name} if user else
                                {'id': 0, 'name': '127.0.0.1', 'anon': True if fv2 else ''})
        if 'hasmsg' in props and fv2:
            info['messages'] = False
        if 'groups' in props:
            info['groups'] = list(user.groups) if user else ['*']
        if 'rights' in props:
            info['rights'] = caller.rights
        if 'ratelimits' in props:
            info['ratelimits'] = {}
        if 'editcount' in props and user:
            info['editcount'] = user.editcount
        return info

    def _siteinfo(self, params: dict[str, str]) -> dict[str, Any]:
        recorded = load_data('siteinfo.json', self.wiki.server_url)
        result: dict[str, Any] = {}
        for prop in params.get('siprop', 'general').split('|'):
            if prop in recorded:
                result[prop] = recorded[prop]
            elif prop in ('interwikimap', 'specialpagealiases', 'magicwords', 'libraries',
                          'skins', 'extensiontags', 'functionhooks', 'protocols',
                          'usergroups', 'fileextensions', 'restrictions', 'languages'):
                result[prop] = []
            elif prop == 'statistics':
                result[prop] = {'pages': len(self.wiki.pages), 'articles': len(self.wiki.pages),
                                'edits': 0, 'images': 0, 'users': len(self.wiki.users),
                                'activeusers': 0, 'admins': 0, 'jobs': 0}
        if 'general' in result:
            result['general']['sitename'] = self.wiki.sitename
            result['general']['time'] = _iso(self.wiki.now())
        return result

    # -- titles, pages ----------------------------------------------------------
    def _namespace_of(self, title: str) -> tuple[int, str]:
        """(namespace id, normalised title) for the recorded namespace names."""
        title = title.replace('_', ' ').strip()
        if ':' in title:
            prefix, rest = title.split(':', 1)
            namespaces = load_data('siteinfo.json', self.wiki.server_url)['namespaces']
            for ns in namespaces.values():
                names = {ns.get('name', ''), ns.get('canonical', '')} - {''}
                if prefix.replace('_', ' ').lower() in {n.lower() for n in names}:
                    rest = rest.strip()
                    return ns['id'], f'{ns["name"]}:{rest[:1].upper()}{rest[1:]}'
        return 0, title[:1].upper() + title[1:]

    def _pages(self, params: dict[str, str], caller: Caller, fv2: bool,
               query: dict[str, Any], body: dict[str, Any]) -> None:
        titles = [t for t in params.get('titles', '').split('|') if t]
        if not titles:
            return
        if params.get('iilimit') == 'max':
            body['limits'] = {'imageinfo': 5000 if 'apihighlimits' in caller.rights else 500}
        if params.get('generator'):
            return   # pages here use no templates, links or categories
        props = params.get('prop', '').split('|')
        pages: list[dict[str, Any]] = []
        missing_id = -1
        for raw in titles:
            ns, title = self._namespace_of(raw)
            with self.wiki.lock:
                page = self.wiki.pages.get(title)
                entry = (self._page_entry(page, ns, props, params, fv2) if page
                         else None)
            if entry is None:
                entry = {'ns': ns, 'title': title, 'missing': True if fv2 else ''}
                if fv2:
                    entry = {'ns': ns, 'title': title, 'missing': True}
                entry['_id'] = missing_id
                missing_id -= 1
                if 'info' in props:
                    entry.update({'contentmodel': 'wikitext', 'pagelanguage': 'en',
                                  'pagelanguagehtmlcode': 'en', 'pagelanguagedir': 'ltr'})
                    if 'protection' in params.get('inprop', ''):
                        entry['protection'] = []
            pages.append(entry)
        ids = [str(p.pop('_id')) for p in pages]
        if 'indexpageids' in params:
            query['pageids'] = ids
        query['pages'] = pages if fv2 else dict(zip(ids, pages))

    def _page_entry(self, page: WikiPage, ns: int, props: list[str],
                    params: dict[str, str], fv2: bool) -> dict[str, Any]:
        last = page.revisions[-1]
        entry: dict[str, Any] = {'_id': page.pageid, 'pageid': page.pageid, 'ns': ns,
                                 'title': page.title}
        if 'info' in props:
            entry.update({
                'contentmodel': 'wikitext', 'pagelanguage': 'en',
                'pagelanguagehtmlcode': 'en', 'pagelanguagedir': 'ltr',
                'touched': last.timestamp, 'lastrevid': last.revid,
                'length': len(last.text.encode('utf-8'))})
            if len(page.revisions) == 1:
                entry['new'] = True if fv2 else ''
            if 'protection' in params.get('inprop', ''):
                entry['protection'] = []
                entry['restrictiontypes'] = ['edit', 'move']
        if 'revisions' in props:
            parent = page.revisions[-2].revid if len(page.revisions) > 1 else 0
            user = self.wiki.users.get(last.user)
            text_key = 'content' if fv2 else '*'
            entry['revisions'] = [{
                'revid': last.revid, 'parentid': parent, 'user': last.user,
                'userid': user.id if user else 0, 'timestamp': last.timestamp,
                'size': len(last.text.encode('utf-8')),
                'sha1': hashlib.sha1(last.text.encode('utf-8')).hexdigest(),
                'roles': ['main'],
                'slots': {'main': {'contentmodel': 'wikitext', 'contentformat': 'text/x-wiki',
                                   text_key: last.text}},
                'comment': last.comment, 'parsedcomment': last.comment, 'tags': [],
            }]
        return entry

    # -- other actions ---------------------------------------------------------
    def _action_paraminfo(self, params: dict[str, str], caller: Caller,
                          fv2: bool) -> WikiResponse:
        recorded = load_data('paraminfo.json', self.wiki.server_url)
        wanted = [m for m in params.get('modules', '').split('|') if m]
        modules = [recorded['modules'][m] for m in wanted if m in recorded['modules']]
        body: dict[str, Any] = {'paraminfo': {'helpformat': recorded['helpformat'],
                                              'modules': modules}}
        unknown = [m for m in wanted if m not in recorded['modules']]
        if unknown:
            body['warnings'] = {'paraminfo': {
                '*': 'The module "{}" does not exist.'.format('", "'.join(unknown))}}
        return self._ok(body)

    def _action_edit(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        self._check_token(params, caller)
        if 'title' not in params:
            raise ApiError('missingparam', 'The "title" parameter must be set.')
        if caller.user is not None and 'edit' not in caller.rights:
            raise ApiError('permissiondenied',
                           'The action you have requested is limited to users in the group: '
                           'Users.')
        _ns, title = self._namespace_of(params['title'])
        author = caller.user.name if caller.user else '127.0.0.1'
        with self.wiki.lock:
            existing = self.wiki.pages.get(title)
            old = existing.revisions[-1] if existing and existing.revisions else None
            if old is None and 'nocreate' in params:
                raise ApiError('missingtitle', "The page you specified doesn't exist.")
            if old is not None and 'createonly' in params:
                raise ApiError('articleexists', 'The article you tried to create has been '
                               'created already.')
            text = params.get('text')
            if text is None:
                text = (old.text if old else '') + params.get('appendtext', '')
            page, rev = self.wiki.save_page(title, text, author, params.get('summary', ''))
            if rev is not None and caller.user is not None:
                caller.user.editcount += 1
        result: dict[str, Any] = {'result': 'Success', 'pageid': page.pageid,
                                  'title': page.title, 'contentmodel': 'wikitext'}
        if rev is None:
            result['nochange'] = True if fv2 else ''
        else:
            if old is None:
                result['new'] = True if fv2 else ''
            result.update({'oldrevid': old.revid if old else 0, 'newrevid': rev.revid,
                           'newtimestamp': rev.timestamp})
        now = int(self.wiki.now())
        cookies = [('Set-Cookie', f'cpPosIndex=1%40{now}%23{page.pageid}; Max-Age=10; '
                                  'path=/; HttpOnly'),
                   ('Set-Cookie', 'UseDC=master; Max-Age=10; path=/'),
                   ('Set-Cookie', 'UseCDNCache=false; Max-Age=10; path=/')]
        return self._ok({'edit': result}, cookies)

    def _action_logout(self, params: dict[str, str], caller: Caller,
                       fv2: bool) -> WikiResponse:
        if caller.oauth:
            self._check_token(params, caller)
            raise ApiError('cannotlogout', OAUTH_CANNOT_LOGOUT)
        if caller.user is not None:
            self._check_token(params, caller)
            with self.wiki.lock:
                self.wiki.sessions.pop(caller.session or '', None)
        return self._ok({})

    def _action_login(self, params: dict[str, str], caller: Caller,
                      fv2: bool) -> WikiResponse:
        """Bot-password login, present so tests can prove the plugin never uses it."""
        user = self.wiki.users.get(params.get('lgname', ''))
        if caller.oauth:
            return self._ok({'login': {'result': 'Aborted', 'reason': 'Cannot log in when '
                                       'using MediaWiki\\Extension\\OAuth\\SessionProvider '
                                       'sessions.'}})
        if params.get('lgtoken') != self._token_for(caller, 'login'):
            return self._ok({'login': {'result': 'NeedToken',
                                       'token': self._token_for(caller, 'login')}})
        if user is None or not user.password or params.get('lgpassword') != user.password:
            return self._ok({'login': {'result': 'Failed',
                                       'reason': 'Incorrect username or password entered. '
                                                 'Please try again.'}})
        return self._ok({'login': {'result': 'Success', 'lguserid': user.id,
                                   'lgusername': user.name}})

    def _action_clientlogin(self, params: dict[str, str], caller: Caller,
                            fv2: bool) -> WikiResponse:
        """Present so tests can assert it is never called under OAuth."""
        return self._ok({'clientlogin': {'status': 'FAIL', 'messagecode': 'authmanager-'
                                         'authn-no-primary', 'message': 'The supplied '
                                         'credentials could not be authenticated.'}})

    def _action_help(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        return self._ok({'help': {'mime': 'text/plain', 'help': 'TestWiki Action API'}})


def _iso(timestamp: float) -> str:
    import time
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(timestamp))
