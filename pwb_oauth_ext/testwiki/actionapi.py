"""The Action API (api.php): authentication, tokens, userinfo, siteinfo, paraminfo.

Answers follow the recorded MediaWiki 1.39/1.43 shapes: every error is HTTP 200
with ``MediaWiki-API-Error``; siteinfo and paraminfo are the real wiki's whole
answers (``apidata``) with the server URL rewritten to the live one. Pages, lists
and page actions live in ``pagesapi``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pwb_oauth_ext.testwiki import i18n
from pwb_oauth_ext.testwiki._http import WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.apidata import (
    expand_modules,
    formatversion1,
    paraminfo_module,
    recorded,
)
from pwb_oauth_ext.testwiki.model import (
    InvalidAuthorization,
    Wiki,
    WikiUser,
    WrongWikiAuthorization,
)
from pwb_oauth_ext.testwiki.pagesapi import ApiFailure, PagesApi

ANON_TOKEN = '+\\'
TOKEN_TYPES = ('createaccount', 'csrf', 'login', 'patrol', 'rollback', 'userrights', 'watch')
ANON_RIGHTS = ['createaccount', 'read', 'edit', 'createpage', 'createtalk', 'writeapi',
               'viewmywatchlist', 'editmywatchlist', 'viewmyprivateinfo',
               'editmyprivateinfo', 'editmyoptions']
OAUTH_CANNOT_LOGOUT = ('Logging out is not possible when using '
                       'MediaWiki\\Extension\\OAuth\\SessionProvider sessions.')
#: A farm consumer registered for another wiki (model.WrongWikiAuthorization).
WRONG_WIKI_CODE = 'mwoauth-invalid-authorization-wrong-wiki'
_API_HEADERS = [('Content-Disposition', 'inline; filename=api-result.json'),
                ('Cache-Control', 'private, must-revalidate, max-age=0')]


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


class SignedRequests(Protocol):
    """What api.php needs of the OAuth 1.0a provider."""

    def authenticate(self, req: WikiRequest) -> tuple[WikiUser, list[str], Any]: ...


class BearerTokens(Protocol):
    """What api.php needs of the OAuth 2.0 provider."""

    def authenticate_bearer(self, token: str) -> tuple[WikiUser, list[str]]: ...


class ActionApi:
    """Dispatches api.php requests; authentication is delegated to the providers."""

    def __init__(self, wiki: Wiki, oauth1: SignedRequests, oauth2: BearerTokens) -> None:
        self.wiki = wiki
        self.oauth1 = oauth1
        self.oauth2 = oauth2
        self.pages = PagesApi(wiki)

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
        except WrongWikiAuthorization as exc:
            return self.error(WRONG_WIKI_CODE, i18n.WRONG_WIKI, fv2, params, wiki=exc.wiki_id)
        except InvalidAuthorization as exc:
            return self.error('mwoauth-invalid-authorization',
                              f'The authorization headers in your request are not valid: {exc}',
                              fv2)
        except (ApiError, ApiFailure) as exc:
            return self.error(exc.code, exc.info, fv2)

    def error(self, code: str, info: str | dict[str, str], fv2: bool,
              params: dict[str, str] | None = None, **values: str) -> WikiResponse:
        """MediaWiki's error body and header; the help key depends on formatversion.

        ``info`` is the English text, or messages by language (``i18n``) filled with
        ``values``: ``errorformat=plaintext`` (in ``params``) words them in ``uselang``
        or the wiki's content language, as a list of ``errors``.
        """
        messages = info if isinstance(info, dict) else {'en': info}
        api = f'{self.wiki.server_url}/api.php'
        params = params or {}
        if params.get('errorformat', 'bc') in ('plaintext', 'wikitext', 'html'):
            language = params.get('uselang') or self.wiki.language
            text = i18n.text(messages, language, **values)
            docref = i18n.text(i18n.DOCREF, language, api=api)
            body: dict[str, Any] = {
                'errors': [{'code': code, ('text' if fv2 else '*'): text}],
                ('docref' if fv2 else '*'): docref}
        else:
            body = {'error': {'code': code, 'info': i18n.text(messages, 'en', **values),
                              ('docref' if fv2 else '*'): i18n.text(i18n.DOCREF, 'en', api=api)}}
        return WikiResponse.json(body, headers=[('MediaWiki-API-Error', code), *_API_HEADERS])

    def _authenticate(self, req: WikiRequest, session_cookie_name: str) -> Caller:
        authorization = req.authorization
        if authorization.startswith('OAuth '):
            user, grants, consumer = self.oauth1.authenticate(req)
            if not getattr(self.oauth1, 'consumer_allowed', lambda key: True)(
                    consumer.consumer_key):
                raise WrongWikiAuthorization(self.wiki.wiki_id or '')
            return Caller(user, oauth=True, grants=grants)
        if authorization.startswith('Bearer'):
            user, grants = self.oauth2.authenticate_bearer(authorization[len('Bearer'):].strip())
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
                query.update(self._siteinfo(params, fv2))
            elif meta == 'tokens':
                types = params.get('type', 'csrf').split('|')
                query['tokens'] = {f'{t}token': self._token_for(caller, t)
                                   for t in TOKEN_TYPES if t in types}
            elif meta == 'allmessages':
                query['allmessages'] = self.pages.allmessages(params, fv2)
        if params.get('iilimit') == 'max' and params.get('titles'):
            body['limits'] = {'imageinfo': 5000 if 'apihighlimits' in caller.rights else 500}
        self.pages.query(params, caller, fv2, query, body)
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

    def _siteinfo(self, params: dict[str, str], fv2: bool = True) -> dict[str, Any]:
        result = self._siteinfo_fv2(params)
        if fv2:
            return result
        # formatversion=1 (Pywikibot 10.0 to 10.4 ask for siteinfo so): booleans as '' or
        # absent, and a namespace's (or an alias's) name under the content key '*'
        result = formatversion1(result)
        if 'namespaces' in result:
            result['namespaces'] = {
                key: {('*' if k == 'name' else k): v for k, v in namespace.items()}
                for key, namespace in result['namespaces'].items()}
        if 'namespacealiases' in result:
            result['namespacealiases'] = [
                {('*' if k == 'alias' else k): v for k, v in alias.items()}
                for alias in result['namespacealiases']]
        return result

    def _siteinfo_fv2(self, params: dict[str, str]) -> dict[str, Any]:
        recorded_info = recorded(self.wiki.mediawiki, 'siteinfo', self.wiki.server_url)
        result: dict[str, Any] = {}
        for prop in params.get('siprop', 'general').split('|'):
            if prop == 'statistics':
                with self.wiki.lock:
                    result[prop] = {
                        'pages': len(self.wiki.pages),
                        'articles': sum(1 for t in self.wiki.pages
                                        if self.pages.ns_of(t) == 0),
                        'edits': sum(len(p.revisions) for p in self.wiki.pages.values()),
                        'images': 0, 'users': len(self.wiki.users), 'activeusers': 0,
                        'admins': sum(1 for u in self.wiki.users.values()
                                      if 'sysop' in u.groups),
                        'jobs': 0}
            elif prop in recorded_info:
                result[prop] = recorded_info[prop]
            elif prop in ('libraries', 'skins', 'extensiontags', 'functionhooks', 'protocols',
                          'fileextensions', 'showhooks', 'variables', 'defaultoptions',
                          'uploaddialog', 'languagevariants'):
                result[prop] = []
        if 'general' in result:
            result['general'] = dict(result['general'], sitename=self.wiki.sitename,
                                     time=_iso(self.wiki.now()))
            if self.wiki.wiki_id is not None:   # a farm wiki: its own id and language
                result['general'].update(wikiid=self.wiki.wiki_id, lang=self.wiki.language)
        return result

    # -- other actions ---------------------------------------------------------
    def _action_paraminfo(self, params: dict[str, str], caller: Caller,
                          fv2: bool) -> WikiResponse:
        wanted = expand_modules(self.wiki.mediawiki,
                                [m for m in params.get('modules', '').split('|') if m],
                                self.wiki.server_url)
        high = 'apihighlimits' in caller.rights
        modules = []
        unknown = []
        for path in wanted:
            module = paraminfo_module(self.wiki.mediawiki, path, self.wiki.server_url,
                                      fv2=fv2, high_limits=high)
            if module is None:
                unknown.append(path)
            else:
                modules.append(module)
        body: dict[str, Any] = {'paraminfo': {'helpformat': 'none', 'modules': modules}}
        if unknown:
            text = 'The module "{}" does not exist.'.format('", "'.join(unknown))
            body['warnings'] = {'paraminfo': {'warnings' if fv2 else '*': text}}
        return self._ok(body)

    def _action_edit(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        self._check_token(params, caller)
        result = self.pages.edit(params, caller, fv2)
        now = int(self.wiki.now())
        cookies = [('Set-Cookie', f'cpPosIndex=1%40{now}%23{result["pageid"]}; Max-Age=10; '
                                  'path=/; HttpOnly'),
                   ('Set-Cookie', 'UseDC=master; Max-Age=10; path=/'),
                   ('Set-Cookie', 'UseCDNCache=false; Max-Age=10; path=/')]
        return self._ok({'edit': result}, cookies)

    def _action_purge(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        query: dict[str, Any] = {}
        purged = self.pages.purge(params, caller, fv2, query)
        body: dict[str, Any] = {'batchcomplete': True if fv2 else '', 'purge': purged}
        for key in ('normalized', 'redirects'):
            if key in query:
                body[key] = query[key]
        return self._ok(body)

    def _action_move(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        self._check_token(params, caller)
        return self._ok({'move': self.pages.move(params, caller, fv2)})

    def _action_delete(self, params: dict[str, str], caller: Caller,
                       fv2: bool) -> WikiResponse:
        self._check_token(params, caller)
        return self._ok({'delete': self.pages.delete(params, caller, fv2)})

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

    def _action_rsd(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        """Really Simple Discovery: the API's URL, and that OAuth is on (nothing more)."""
        server = self.wiki.server_url
        body = ('<?xml version="1.0"?><rsd version="1.0" xmlns="http://archipelago.phrasewise.com'
                f'/rsd"><service><apis><api name="MediaWiki" preferred="true" apiLink="{server}'
                '/api.php" blogID=""><settings><docs xml:space="preserve">https://www.mediawiki'
                '.org/wiki/Special:MyLanguage/API</docs><setting name="OAuth" xml:space='
                '"preserve">true</setting></settings></api></apis><engineName xml:space='
                '"preserve">MediaWiki</engineName><engineLink xml:space="preserve">https://www.'
                'mediawiki.org/</engineLink><homePageLink xml:space="preserve">'
                f'{server}/index.php/Main_Page</homePageLink></service></rsd>')
        return WikiResponse.text(body, content_type='application/rsd+xml; charset=utf-8', headers=[
            ('Content-Disposition', 'inline; filename=api-result.xml'), _API_HEADERS[1]])

    def _action_help(self, params: dict[str, str], caller: Caller, fv2: bool) -> WikiResponse:
        return self._ok({'help': {'mime': 'text/plain', 'help': 'TestWiki Action API'}})


def _iso(timestamp: float) -> str:
    import time
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(timestamp))
