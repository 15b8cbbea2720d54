"""Ready-made content for the test wiki: pages, bot accounts and one client of each kind.

``seed(app, ...)`` is what ``pwb-oauth testwiki``, ``run_test_wiki(seed=True)`` and the
pytest fixture use, so a bot author's test starts from the same wiki they poked at by hand.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.app import TestWikiApp

#: The kinds of credentials ``seed(clients=...)`` registers (all of them by default).
CLIENT_KINDS = ('oauth1-owner-only', 'oauth1-consumer', 'oauth2-owner-only',
                'oauth2-confidential', 'oauth2-public')

#: Pages a bot's everyday scripts need: links, a template in use, a redirect, a category.
STANDARD_PAGES = {
    'Main Page': "'''Welcome to the local OAuth test wiki.''' Try the [[Sandbox]].",
    'Sandbox': 'This is the sandbox. Edit it freely.',
    'Template:Greeting': 'Hello from the template!<noinclude>\nUsed by [[Template user]].'
                         '</noinclude>',
    'Template user': 'This page uses a template: {{Greeting}}\n\nSee also [[Sandbox]].',
    'Test page 1': 'The first test page.\n\n[[Category:Test pages]]',
    'Test page 2': 'The second test page, linking to [[Test page 1]].\n\n'
                   '[[Category:Test pages]]',
    'Test page 3': 'The third test page.\n\n[[Category:Test pages]]',
    'Category:Test pages': 'Pages for trying bots on.',
    'Old name': '#REDIRECT [[Test page 1]]',
}
BOT_NAMES = ('BotUser', 'OtherBot')
ADMIN_NAME = 'AdminBot'


@dataclass
class Seeded:
    """What ``seed`` created: passwords per user and credentials per client kind."""

    passwords: dict[str, str] = field(default_factory=dict)
    #: kind (see CLIENT_KINDS) -> OAuth1Consumer or OAuth2Client
    clients: dict[str, Any] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)


def seed(app: TestWikiApp, *, pages: Mapping[str, str] | bool = True,
         bots: Iterable[str] = BOT_NAMES, admin: str | None = ADMIN_NAME,
         clients: Iterable[str] | bool = True, owner: str | None = None,
         redirect_uri: str | None = None) -> Seeded:
    """Create pages, bot accounts (with passwords) and OAuth clients in one call.

    ``pages``: True for STANDARD_PAGES, or a {title: wikitext} mapping. ``bots`` are
    in the bot group, ``admin`` also in sysop (it may delete). ``clients``: True for
    every kind in CLIENT_KINDS, or some of them; they belong to ``owner`` (the first bot).
    The confidential and public OAuth 2.0 clients get ``redirect_uri`` (a loopback URL
    that ``pwb-oauth authorize`` listens on).
    """
    result = Seeded()
    for name in bots:
        result.passwords[name] = _password()
        app.add_bot(name, password=result.passwords[name])
    if admin:
        result.passwords[admin] = _password()
        app.add_bot(admin, groups=['bot', 'sysop'], password=result.passwords[admin])
    owner = owner or next(iter(result.passwords), None)
    chosen = dict(STANDARD_PAGES) if pages is True else dict(pages or {})
    if owner and pages is True:
        chosen[f'User:{owner}'] = f"I am '''{owner}''', a bot on the local test wiki."
    for title, text in chosen.items():
        app.add_page(title, text)
        result.pages.append(title)
    kinds = list(CLIENT_KINDS) if clients is True else list(clients or [])
    unknown = sorted(set(kinds) - set(CLIENT_KINDS))
    if unknown:
        raise ValueError(f'unknown client kind(s) {", ".join(unknown)}; '
                         f'choose from {", ".join(CLIENT_KINDS)}')
    if kinds and owner is None:
        raise ValueError('clients need an owner: give bots=[...] or owner=')
    callback = redirect_uri or 'http://127.0.0.1:8765/callback'
    for kind in kinds:
        if kind == 'oauth1-owner-only':
            client: Any = app.register_oauth1_consumer(owner, owner_only=True)
        elif kind == 'oauth1-consumer':   # the Special:OAuth handshake: pwb-oauth authorize
            client = app.register_oauth1_consumer(owner, owner_only=False, callback=callback)
        elif kind == 'oauth2-owner-only':
            client = app.oauth2.register_client(owner, owner_only=True, name='OwnerOnly')
        else:
            client = app.oauth2.register_client(
                owner, confidential=kind == 'oauth2-confidential', redirect_uri=callback,
                name='Confidential' if kind == 'oauth2-confidential' else 'Public')
        result.clients[kind] = client
    return result


def _password() -> str:
    return 'pw-' + secrets.token_urlsafe(9)
