"""A logged-in user's browser for the test wiki's consent pages.

OAuth flows need a person to press "Allow". This plays that part for tests
(ours and bot authors'): it follows the wiki's redirects, submits the approval
form as a browser would, and returns the address the wiki sends the browser to
outside itself, i.e. the client's callback with its ``code`` or ``oauth_verifier``.
"""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import requests

from pwb_oauth_ext.testwiki.model import SESSION_COOKIE

_REDIRECTS = (301, 302, 303, 307, 308)


class _ApprovalForm(HTMLParser):
    """The consent form's action and fields (hidden inputs included)."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ''
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == 'form' and attributes.get('id') == 'mw-mwoauth-authorize-form':
            self.action = attributes.get('action') or ''
        name = attributes.get('name')
        if tag == 'input' and name and attributes.get('type') != 'submit':
            self.fields[name] = attributes.get('value') or ''


def browser_session(wiki: Any, user: str) -> requests.Session:
    """A session logged in to the wiki as ``user`` (cookie login, no proxies)."""
    session = requests.Session()
    session.trust_env = False
    session.cookies.set(SESSION_COOKIE, wiki.wiki.browser_login(user))
    return session


def password_session(wiki_url: str, user: str, password: str) -> requests.Session:
    """A session logged in through Special:UserLogin, as a person at a browser would be.

    For a wiki in another process (``pwb-oauth testwiki`` prints the passwords).
    """
    session = requests.Session()
    session.trust_env = False
    response = session.post(f'{wiki_url}/index.php?title=Special:UserLogin',
                            data={'wpName': user, 'wpPassword': password},
                            allow_redirects=False, timeout=30)
    if SESSION_COOKIE not in session.cookies:
        raise AssertionError(f'login as {user} failed: HTTP {response.status_code}')
    return session


def consent(wiki: Any, user: str, url: str, *, button: str = 'accept',
            session: requests.Session | None = None) -> str:
    """Open ``url`` as ``user``, press Allow (or ``button='cancel'``); return where it leads.

    ``wiki`` is a ``RunningWiki`` (or, with ``session`` from ``password_session``, the
    wiki's URL). The result is the first address outside the wiki the browser is sent to.
    """
    if session is None:
        session = browser_session(wiki, user)
    inside = (wiki if isinstance(wiki, str) else wiki.url) + '/'
    for _ in range(10):
        if not url.startswith(inside):
            return url
        response = session.get(url, allow_redirects=False, timeout=30)
        if response.status_code not in _REDIRECTS:
            form = _ApprovalForm()
            form.feed(response.text)
            if not form.action:
                raise AssertionError(f'no approval form at {url}: HTTP {response.status_code}')
            data = dict(form.fields)
            data[button] = 'Allow' if button == 'accept' else 'Cancel'
            response = session.post(urljoin(url, form.action), data=data,
                                    allow_redirects=False, timeout=30)
            if response.status_code not in _REDIRECTS:
                raise AssertionError(f'the approval form answered HTTP {response.status_code}')
        url = urljoin(url, response.headers['Location'])
    raise AssertionError('too many redirects')


def authorization_code_grant(wiki: Any, client: Any, user: str, *,
                             redirect_uri: str | None = None) -> Any:
    """The ``TokenSet`` a client gets when ``user`` allows it (authorization code + PKCE).

    What ``pwb-oauth authorize`` would leave in the token store, without a terminal.
    """
    from pwb_oauth_ext.protocol.mediawiki import endpoints_for
    from pwb_oauth_ext.protocol.oauth2 import (
        authorization_url,
        exchange_code,
        make_pkce_pair,
        new_state,
        parse_redirect,
        requests_transport,
    )
    endpoints = endpoints_for(wiki.url)
    verifier, challenge = make_pkce_pair()
    state = new_state()
    url = authorization_url(endpoints, client.client_id, redirect_uri=redirect_uri,
                            state=state, code_challenge=challenge)
    code = parse_redirect(consent(wiki, user, url), state)
    return exchange_code(requests_transport(), endpoints, client.client_id,
                         client.client_secret, code=code, code_verifier=verifier,
                         redirect_uri=redirect_uri)
