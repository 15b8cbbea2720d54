"""Small helpers for the benchmarks: statistics, a plain-text table, an OAuth 2.0 grant."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float('nan')


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank): a tail that a few outliers cannot hide."""
    if not values:
        return float('nan')
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(0.95 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


def ratio(value: float, base: float) -> float:
    return value / base if base else float('nan')


class Table:
    """Columns padded to their widest cell; printed with a title and a note."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = [str(h) for h in headers]
        self.rows: list[list[str]] = []

    def add(self, *cells: object) -> None:
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        widths = [max(len(row[i]) for row in [self.headers, *self.rows])
                  for i in range(len(self.headers))]
        lines = ['  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in [self.headers, ['-' * w for w in widths], *self.rows]]
        return '\n'.join(lines)

    def print(self, title: str, note: str = '') -> None:
        print(f'\n{title}\n{"=" * min(len(title), 100)}')
        print(self.render())
        if note:
            print(note)


class _ApprovalForm(HTMLParser):
    """The consent form's action and hidden inputs, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ''
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == 'form' and attributes.get('id') == 'mw-mwoauth-authorize-form':
            self.action = attributes.get('action') or ''
        if tag == 'input' and attributes.get('name'):
            self.fields[attributes['name']] = attributes.get('value') or ''


def authorization_code_tokens(wiki: Any, client: Any, user: str, redirect_uri: str) -> Any:
    """A TokenSet from the authorization code flow, ``user`` clicking Allow in a browser.

    The browser is a requests session holding the test wiki's login cookie.
    """
    import requests

    from pwb_oauth_ext.oauth2 import (
        authorization_url,
        endpoints_for,
        exchange_code,
        make_pkce_pair,
        parse_redirect,
        requests_transport,
    )
    from pwb_oauth_ext.testwiki.oauth1_provider import SESSION_COOKIE

    endpoints = endpoints_for(wiki.url)
    verifier, challenge = make_pkce_pair()
    url = authorization_url(endpoints, client.client_id, redirect_uri=redirect_uri,
                            state='bench', code_challenge=challenge)
    browser = requests.Session()
    browser.trust_env = False
    browser.cookies.set(SESSION_COOKIE, wiki.app.wiki.browser_login(user))
    response = browser.get(url, allow_redirects=False, timeout=30)
    for _ in range(10):
        if response.status_code in (301, 302, 303, 307):
            url = urljoin(url, response.headers['Location'])
            if not url.startswith(wiki.url + '/'):
                break   # leaving the wiki: the redirect back to the client
            response = browser.get(url, allow_redirects=False, timeout=30)
            continue
        form = _ApprovalForm()
        form.feed(response.text)
        if not form.action:
            raise RuntimeError(f'no approval form (HTTP {response.status_code})')
        data = dict(form.fields, accept='Allow')
        response = browser.post(urljoin(url, form.action), data=data, allow_redirects=False,
                                timeout=30)
    else:
        raise RuntimeError('too many redirects in the authorization flow')
    code = parse_redirect(url, 'bench')
    return exchange_code(requests_transport(), endpoints, client.client_id,
                         client.client_secret, code=code, code_verifier=verifier,
                         redirect_uri=redirect_uri)
