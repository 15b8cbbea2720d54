"""The browser side of OAuth 1.0a: Special:OAuth/authorize (and /authenticate), the "Allow" form.

A user who is not logged in is sent to Special:UserLogin; an allowed request
goes back to the consumer's callback with the verifier.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from pwb_oauth_ext.testwiki import versions
from pwb_oauth_ext.testwiki._http import PRIVATE_PAGE_HEADERS, WikiRequest, WikiResponse
from pwb_oauth_ext.testwiki.model import SESSION_COOKIE, Wiki, WikiUser, random_hex
from pwb_oauth_ext.testwiki.providers.oauth1.messages import TOKEN_NOT_FOUND, TOKEN_NOT_FOUND_DETAIL

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth1.provider import OAuth1Provider

SPECIAL_PREFIX = 'Special:OAuth/'


class ConsentPages:
    """Special:OAuth/authorize and /authenticate of one provider."""

    def __init__(self, provider: OAuth1Provider) -> None:
        self.provider = provider

    @property
    def wiki(self) -> Wiki:
        return self.provider.wiki

    def authorize(self, req: WikiRequest, subpage: str) -> WikiResponse:
        """The approval form (GET) or its submission (POST), for a logged-in user."""
        user = self.wiki.user_for_session(req.cookies.get(SESSION_COOKIE))
        params = req.params
        if user is None:
            returnto = quote(f'{SPECIAL_PREFIX}{subpage}', safe='')
            returntoquery = quote(urlencode({k: params[k] for k in
                                             ('oauth_token', 'oauth_consumer_key')
                                             if k in params}), safe='')
            return self._redirect(f'{self.wiki.server_url}/index.php?title=Special:UserLogin'
                                  f'&returnto={returnto}&returntoquery={returntoquery}'
                                  f'&warning={versions.oauth1_login_warning(self.wiki)}')
        session = req.cookies[SESSION_COOKIE]
        if req.method == 'POST':
            return self._authorize_submit(req, user, session)
        token_key = params.get('oauth_token', '')
        rtoken = self.provider.request_tokens.get(token_key)
        consumer = self.provider.consumers.get(params.get('oauth_consumer_key', ''))
        if consumer is None or (rtoken is not None
                                and rtoken.consumer_key != consumer.consumer_key):
            return self._html_page('OAuth', '<p class="error">No request was found for that '
                                   'token.</p>')
        # The form does not look the request token up (a farm wiki shows it for another
        # wiki's token); Allow does, and fails with E004 there.
        return self._html_page('OAuth', self._form(subpage, user, session, consumer.consumer_key,
                                                   token_key))

    def _form(self, subpage: str, user: WikiUser, session: str, consumer_key: str,
              token_key: str) -> str:
        consumer = self.provider.consumers[consumer_key]
        form = _AUTHORIZE_FORM.format(
            sub=subpage, user=html.escape(user.name), app=html.escape(consumer.name),
            token=html.escape(self.wiki.edit_token('session:' + session)),
            consumer_key=html.escape(consumer.consumer_key),
            request_token=html.escape(token_key))
        return versions.approval_form(self.wiki, form)

    def _authorize_submit(self, req: WikiRequest, user: WikiUser, session: str) -> WikiResponse:
        form = req.form
        if form.get('wpEditToken') != self.wiki.edit_token('session:' + session):
            return self._html_page('OAuth', '<p class="error">Sorry! We could not process '
                                   'your edit due to a loss of session data.</p>')
        consumer = self.provider.consumers.get(form.get('consumerKey', ''))
        with self.wiki.lock:
            rtoken = self.provider.request_tokens.get(form.get('requestToken', ''))
            if rtoken is None and consumer is not None and 'accept' in form:
                error = html.escape(f'{TOKEN_NOT_FOUND}{TOKEN_NOT_FOUND_DETAIL}, E004')
                error = error.replace('\n', '<br/>')
                return self._html_page('OAuth', self._form(
                    'authorize', user, session, consumer.consumer_key,
                    form.get('requestToken', '')) + f'<div class="error">{error}</div>')
            if rtoken is None or consumer is None or rtoken.consumer_key != consumer.consumer_key:
                return self._html_page('OAuth', '<p class="error">No request was found for '
                                       'that token.</p>')
            if 'accept' not in form:
                return self._html_page('OAuth', '<p>You cancelled the request.</p>')
            rtoken.user = user.name
            rtoken.verifier = random_hex(32)
        callback = consumer.callback or ''
        separator = '&' if '?' in callback else '?'
        location = callback + separator + urlencode(
            {'oauth_verifier': rtoken.verifier, 'oauth_token': rtoken.key})
        return self._redirect(location)

    @staticmethod
    def _redirect(location: str) -> WikiResponse:
        """302 with the headers MediaWiki sends on Special:OAuth redirects."""
        return WikiResponse(302, [*PRIVATE_PAGE_HEADERS,
                                  ('Content-Type', 'text/html; charset=UTF-8'),
                                  ('Location', location)])

    def _html_page(self, title: str, content: str) -> WikiResponse:
        page = (f'<!DOCTYPE html>\n<html><head><title>{title} - {self.wiki.sitename}</title>'
                f'</head><body>{content}</body></html>')
        return WikiResponse.text(page, content_type='text/html; charset=UTF-8',
                                 headers=PRIVATE_PAGE_HEADERS)


_AUTHORIZE_FORM = """\
<form id='mw-mwoauth-authorize-form' action='/index.php/Special:OAuth/{sub}' method='post' \
enctype='application/x-www-form-urlencoded'>\
<input type="hidden" value="Special:OAuth/{sub}" name="title"/>
<p>Hi {user},</p><p>In order to complete your request, <b>{app}</b> needs permission to \
perform the following actions on your behalf on all projects of this site:</p>
<input id="wpEditToken" type="hidden" value="{token}" name="wpEditToken"/>
<input id="mw-input-wpaction" name="wpaction" type="hidden" value="accept"/>
<input id="mw-input-wpconfirmUpdate" name="wpconfirmUpdate" type="hidden" value="1"/>
<input id="mw-input-oauth_version" name="oauth_version" type="hidden" value="1"/>
<input id="mw-input-consumerKey" name="consumerKey" type="hidden" value="{consumer_key}"/>
<input id="mw-input-requestToken" name="requestToken" type="hidden" value="{request_token}"/>
<div class="mw-htmlform-submit-buttons">
<button type='submit' name='accept' value='Allow'>Allow</button>\
<button type='submit' name='cancel' value='Cancel'>Cancel</button></div>
</form>"""
