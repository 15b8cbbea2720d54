"""The browser side of OAuth 2.0: rest.php's /authorize and the Special:OAuth/approve form.

A user who is not logged in is sent to Special:UserLogin first (and back through
Special:OAuth/rest_redirect), as MediaWiki does; refusals are MediaWiki's HTTP 200
"Application Connection Error" page.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import AuthorizationEndpoint
from oauthlib.oauth2.rfc6749 import errors as oauth2_errors

from pwb_oauth_ext.testwiki import versions
from pwb_oauth_ext.testwiki._http import (
    NO_CACHE_HEADERS,
    PRIVATE_PAGE_HEADERS,
    VARY_HEADER,
    WikiRequest,
    WikiResponse,
)
from pwb_oauth_ext.testwiki.model import SESSION_COOKIE, Wiki, WikiUser
from pwb_oauth_ext.testwiki.providers.oauth2.mediawiki_errors import (
    ERROR_PAGE_TEXT,
    MEDIAWIKI_ERRORS,
    MediaWikiError,
)
from pwb_oauth_ext.testwiki.providers.oauth2.records import AUTH_ONLY_GRANTS, OAuth2Client

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider

AUTHORIZE_PATH = '/rest.php/oauth2/authorize'
APPROVE_TITLE = 'Special:OAuth/approve'
REST_REDIRECT_TITLE = 'Special:OAuth/rest redirect'
_GRANT_GROUPS = {
    'highvolume': ('Perform high volume activity', 'High-volume editing'),
    'editpage': ('Interact with pages', 'Edit existing pages'),
    'createeditmovepage': ('Interact with pages', 'Create, edit, and move pages'),
}


class ConsentPages:
    """/authorize, Special:OAuth/approve and Special:OAuth/rest_redirect of one provider."""

    def __init__(self, provider: OAuth2Provider) -> None:
        self.provider = provider
        self._csrf_salt = secrets.token_bytes(16)

    @property
    def wiki(self) -> Wiki:
        return self.provider.wiki

    @property
    def _endpoint(self) -> AuthorizationEndpoint:
        return self.provider.authorization_endpoint

    def _user(self, req: WikiRequest) -> WikiUser | None:
        return self.wiki.user_for_session(req.cookies.get(SESSION_COOKIE))

    def _csrf_token(self, req: WikiRequest) -> str:
        session = req.cookies.get(SESSION_COOKIE, '').encode('utf-8')
        return hmac.new(self._csrf_salt, session, hashlib.sha1).hexdigest() + '+\\'

    # -- /authorize -------------------------------------------------------
    def authorize(self, req: WikiRequest) -> WikiResponse:
        """Send the user to log in or to approve, or back to the client with a code."""
        pairs = [(k, v) for k, v in parse_qsl(req.query_string, keep_blank_values=True)
                 if k not in ('approval_pass', 'approval_cancel')]
        original_query = urlencode(pairs)
        user = self._user(req)
        if user is None:  # MediaWiki asks for a login before looking at the request
            rest_url = req.path + ('?' + original_query if original_query else '')
            return temporary_redirect(self.provider.url(
                '/index.php?title=Special:UserLogin&' + urlencode([
                    ('returnto', REST_REDIRECT_TITLE),
                    ('returntoquery', urlencode([('rest_url', rest_url)]))])))
        uri = self.provider.url(req.path + ('?' + req.query_string if req.query_string else ''))
        headers = self.provider.oauthlib_headers(req)
        try:
            scopes, info = self._endpoint.validate_authorization_request(
                uri, 'GET', None, headers)
        except oauth2_errors.OAuth2Error as exc:
            return self.error_page(self.provider.refusal(exc.error, exc.description))
        client = self.provider.clients[info['client_id']]
        query = req.query
        if query.get('approval_cancel'):
            message = 'User has rejected the request from client application'
            return found(add_params_to_uri(info['redirect_uri'], [
                ('error', 'unauthorized_client'), ('error_description', message),
                ('message', message)]))
        approved = self.provider.approvals.get((user.name, client.client_id))
        if query.get('approval_pass') and approved is not None and set(scopes) <= set(approved):
            try:
                out_headers, _, _ = self._endpoint.create_authorization_response(
                    uri, 'GET', None, headers, scopes, {'user': user.name})
            except oauth2_errors.OAuth2Error as exc:
                return self.error_page(self.provider.refusal(exc.error, exc.description))
            return found(out_headers['Location'])
        return temporary_redirect(self.provider.url(
            '/index.php?title=Special:OAuth/approve&' + urlencode([
                ('returnto', req.path), ('returntoquery', original_query),
                ('client_id', client.client_id), ('oauth_version', '2'),
                ('scope', ' '.join(scopes))])))

    def rest_redirect(self, req: WikiRequest) -> WikiResponse:
        """Where Special:UserLogin sends the user back after logging in."""
        rest_url = req.params.get('rest_url', '')
        if not rest_url.startswith('/rest.php/'):
            return self.error_page(MEDIAWIKI_ERRORS['malformed_request'])
        return found(self.provider.url(rest_url))

    def error_page(self, error: MediaWikiError) -> WikiResponse:
        """MediaWiki's HTTP 200 'Application Connection Error' page (no hint shown)."""
        title = f'Application Connection Error - {self.wiki.sitename}'
        text = ERROR_PAGE_TEXT.get(error.error, error.text)
        body = (f'<!DOCTYPE html>\n<html><head><title>{html.escape(title)}</title></head>'
                f'<body><h1 id="firstHeading">Application Connection Error</h1>'
                f'<div id="mw-content-text" data-error="{html.escape(error.error)}">'
                f'<p>{html.escape(text)}</p><p id="mw-returnto">Return to '
                f'<a href="/index.php/Main_Page">Main Page</a>.</p></div></body></html>')
        status = versions.authorize_error_status(
            self.wiki, unknown_client=error is MEDIAWIKI_ERRORS['client_unknown'])
        return WikiResponse.text(body, status, 'text/html;charset=UTF-8', headers=[
            VARY_HEADER, *NO_CACHE_HEADERS])

    # -- Special:OAuth/approve --------------------------------------------
    def approve(self, req: WikiRequest) -> WikiResponse:
        user = self._user(req)
        params = req.params
        if user is None:
            query = urlencode([(k, v) for k, v in req.query.items() if k != 'title'])
            return found(self.provider.url('/index.php?title=Special:UserLogin&' + urlencode([
                ('returnto', APPROVE_TITLE), ('returntoquery', query)])))
        client = self.provider.clients.get(params.get('client_id', ''))
        returnto = params.get('returnto', '')
        if client is None or client.owner_only or returnto != AUTHORIZE_PATH:
            return self.error_page(MEDIAWIKI_ERRORS['client_unknown'])
        if req.method.upper() != 'POST':
            return self._approval_form(req, user, client)
        if not secrets.compare_digest(params.get('wpEditToken', ''), self._csrf_token(req)):
            return self._approval_form(req, user, client, session_failure=True)
        back = self.provider.url(returnto + '?' + params.get('returntoquery', ''))
        if 'cancel' in params:
            return found(back + '&approval_cancel=1')
        if 'accept' in params and params.get('wpaction', 'accept') == 'accept':
            requested = params.get('scope', '').split()
            self.provider.approvals[(user.name, client.client_id)] = [
                grant for grant in requested if grant in client.grants] or list(client.grants)
            return found(back + '&approval_pass=1')
        return self._approval_form(req, user, client)

    def _approval_form(self, req: WikiRequest, user: WikiUser, client: OAuth2Client,
                       session_failure: bool = False) -> WikiResponse:
        params = req.params
        scope = params.get('scope') or ' '.join(client.grants)
        groups = grant_groups(scope.split())
        items = ''.join(f'<ul><li><span class="mw-grantgroup">{html.escape(group)}</span></li>'
                        f'</ul>\n<dl><dd>{html.escape("; ".join(descs))}</dd></dl>\n'
                        for group, descs in groups)
        warning = ('<div class="error">There seems to be a problem with your login session; '
                   'this action has been canceled as a precaution against session hijacking. '
                   'Please resubmit the form.</div>' if session_failure else '')

        def hidden(name: str, value: str) -> str:
            return (f'<input id="mw-input-{name}" name="{name}" type="hidden" '
                    f'value="{html.escape(value, quote=True)}"/>\n')

        form = (
            f"<form id='mw-mwoauth-authorize-form' action='/index.php/{APPROVE_TITLE}' "
            "method='post' enctype='application/x-www-form-urlencoded'>"
            f'<input type="hidden" value="{APPROVE_TITLE}" name="title"/>\n'
            f'<p>Hi {html.escape(user.name)},\n</p><p>In order to complete your request, '
            f'<b>{html.escape(client.name)}</b> needs permission to perform the following '
            f'actions on your behalf on all projects of this site:\n</p>\n{items}'
            f'<input id="wpEditToken" type="hidden" value="{html.escape(self._csrf_token(req))}"'
            ' name="wpEditToken"/>\n'
            + hidden('wpaction', 'accept') + hidden('wpconfirmUpdate', '1')
            + hidden('oauth_version', '2') + hidden('client_id', client.client_id)
            + hidden('scope', scope) + hidden('returnto', params.get('returnto', ''))
            + hidden('returntoquery', params.get('returntoquery', ''))
            + '<div class="mw-htmlform-submit-buttons">\n'
            "<span id='mw-mwoauth-accept'><button type='submit' name='accept' value='Allow'>"
            'Allow</button></span>'
            "<span><button type='submit' name='cancel' value='Cancel'>Cancel</button></span>"
            '</div>\n</form>')
        form = versions.approval_form(self.wiki, form)
        page = (f'<!DOCTYPE html>\n<html><head><title>OAuth - {html.escape(self.wiki.sitename)}'
                f'</title></head><body>{warning}{form}</body></html>')
        return WikiResponse.text(page, content_type='text/html; charset=UTF-8',
                                 headers=PRIVATE_PAGE_HEADERS)



def grant_groups(grants: list[str]) -> list[tuple[str, list[str]]]:
    """Grants grouped as the approval form lists them ('basic' is implicit)."""
    groups: dict[str, list[str]] = {}
    for grant in grants:
        group, description = _GRANT_GROUPS.get(grant, ('Other', grant))
        if grant in ('basic',) + AUTH_ONLY_GRANTS:
            continue
        groups.setdefault(group, []).append(description)
    return list(groups.items())


def temporary_redirect(location: str) -> WikiResponse:
    """rest.php's 307 with its tiny HTML body."""
    escaped = html.escape(location)
    body = f'<!doctype html><title>Redirect</title><a href="{escaped}">{escaped}</a>'
    return WikiResponse(307, [('Content-Type', 'text/html; charset=utf-8'),
                              ('Location', location)], body.encode('utf-8'))


def found(location: str) -> WikiResponse:
    """A 302 as index.php and rest.php send it (empty text/html body)."""
    return WikiResponse(302, [('Location', location),
                              ('Content-Type', 'text/html; charset=UTF-8')], b'')
