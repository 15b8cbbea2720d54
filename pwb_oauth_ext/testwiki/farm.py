"""A wiki farm: several test wikis and one OAuth central wiki, as farm-1.43/ recorded one.

Extension:OAuth keeps consumers, acceptances and access tokens in the central
wiki's database (``$wgMWOAuthCentralWiki``) and the farm shares one user table, so
a grant made at one wiki works on every wiki of the farm, unless its consumer was
registered for one wiki only (api.php refuses it elsewhere with
``mwoauth-invalid-authorization-wrong-wiki``). What lives in the OAuth session
cache is each wiki's own, as on the recorded farm (each wiki's objectcache
table): OAuth 2.0 authorization codes and refresh tokens, OAuth 1.0a request
tokens and nonces work only at the wiki that issued them and fail elsewhere like
revoked ones. Every wiki serves the whole authorization flow itself (browser
logins are per host), signs its tokens with its own URL as ``iss`` and checks
OAuth 1.0a signatures against its own URL.

Here each wiki is its own ``TestWikiApp`` on its own loopback address (central
127.0.0.1, then 127.0.0.2, 127.0.0.3, ...) with its own pages, browser sessions
and OAuth providers; the providers share the central wiki's registrations.
``docs/explanation/test-farm.md`` lists what still differs from the recordings.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from pwb_oauth_ext.testwiki.app import TestWikiApp
from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.server import RunningWiki, _KeepAliveHandler, _ThreadingWSGIServer

ALL_WIKIS = '*'
WRONG_WIKI = 'mwoauth-invalid-authorization-wrong-wiki'
#: The recorded farm's token lifetime ($wgOAuth2GrantExpirationInterval's default PT1H).
FARM_ACCESS_TOKEN_TTL = 3600.0


@dataclass
class WikiFarm:
    """The central wiki and the farm's other wikis, by wiki id."""

    central: TestWikiApp
    central_id: str = 'centralwiki'
    wikis: dict[str, TestWikiApp] = field(default_factory=dict)
    #: consumer key / client id -> the one wiki id it is for, or '*'.
    consumer_wikis: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._restrict(self.central, self.central_id)

    def _restrict(self, app: TestWikiApp, wiki_id: str) -> None:
        app.wiki.wiki_id = wiki_id

        def allowed(key: str) -> bool:
            return self.consumer_wikis.get(key, ALL_WIKIS) in (ALL_WIKIS, wiki_id)
        app.oauth1.consumer_allowed = allowed
        app.oauth2.client_allowed = allowed

        def issued_elsewhere(token: str) -> bool:
            return any(token in other.oauth2.codes or token in other.oauth2.refresh_tokens
                       for other in (self.central, *self.wikis.values()) if other is not app)
        app.oauth2.issued_elsewhere = issued_elsewhere

    def join(self, wiki_id: str, app: TestWikiApp) -> TestWikiApp:
        """Make ``app`` a wiki of the farm: shared users and OAuth registrations.

        Its pages, browser sessions and OAuth session cache (codes, refresh tokens,
        request tokens, nonces) stay its own.
        """
        central = self.central
        app.wiki.users = central.wiki.users
        app.wiki.lock = central.wiki.lock
        oauth1, central1 = app.oauth1, central.oauth1
        oauth1.consumers = central1.consumers
        oauth1.access_tokens = central1.access_tokens
        oauth2, central2 = app.oauth2, central.oauth2
        oauth2.clients = central2.clients
        oauth2.access_tokens = central2.access_tokens     # revocation is farm-wide
        oauth2.approvals = central2.approvals
        oauth2._lock = central2._lock
        oauth2.tokens.share_key_of(central2.tokens)       # one $wgOAuth2PrivateKey
        self._restrict(app, wiki_id)
        self.wikis[wiki_id] = app
        return app

    def app(self, wiki_id: str) -> TestWikiApp:
        """The wiki of that id (the central wiki's included)."""
        return self.central if wiki_id == self.central_id else self.wikis[wiki_id]

    # -- registrations on the central wiki ------------------------------
    def add_bot(self, name: str = 'BotUser', groups: list[str] | None = None,
                password: str = '') -> Any:
        """A user of every wiki of the farm (one shared user table)."""
        return self.central.add_bot(name, groups=groups, password=password)

    def register_oauth1_consumer(self, owner: str, *, owner_only: bool,
                                 callback: str | None = None, wiki: str = ALL_WIKIS,
                                 grants: list[str] | None = None) -> OAuth1Consumer:
        """A consumer for all wikis (``wiki='*'``) or for the one wiki id given."""
        consumer = self.central.register_oauth1_consumer(owner, owner_only=owner_only,
                                                         callback=callback, grants=grants)
        self.consumer_wikis[consumer.consumer_key] = wiki
        return consumer

    def register_oauth2_client(self, owner: str, *, wiki: str = ALL_WIKIS,
                               **options: Any) -> Any:
        """An OAuth 2.0 client for all wikis or one (options as ``register_client``).

        An owner-only client's token is the central wiki's (its ``iss``).
        """
        client = self.central.oauth2.register_client(owner, **options)
        self.consumer_wikis[client.client_id] = wiki
        return client


@dataclass
class RunningFarm:
    """A farm being served: the central wiki and the other wikis, each at its own host."""

    farm: WikiFarm
    central: RunningWiki
    wikis: dict[str, RunningWiki]

    @property
    def oauth2(self) -> Any:
        """The central wiki's OAuth 2.0 provider (its token requests are counted there)."""
        return self.farm.central.oauth2

    def running(self, wiki_id: str) -> RunningWiki:
        """The served wiki of that id (the central wiki's included)."""
        return self.central if wiki_id == self.farm.central_id else self.wikis[wiki_id]

    def token_requests(self) -> dict[str, dict[str, int]]:
        """Token-endpoint requests by wiki id, then grant type (none left out)."""
        return {wiki_id: dict(self.farm.app(wiki_id).oauth2.token_requests)
                for wiki_id in (self.farm.central_id, *self.wikis)}


@contextmanager
def _serve(app: TestWikiApp, host: str) -> Iterator[RunningWiki]:
    server = _ThreadingWSGIServer((host, 0), _KeepAliveHandler)
    server.set_app(app)
    url = f'http://{host}:{server.server_address[1]}'
    app.wiki.server_url = url
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1},
                              name=f'testwiki-{host}', daemon=True)
    thread.start()
    try:
        yield RunningWiki(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def run_test_farm(wiki_ids: tuple[str, ...] = ('wiki1', 'wiki2'), *,
                  central_id: str = 'centralwiki',
                  sitenames: dict[str, str] | None = None,
                  languages: dict[str, str] | None = None,
                  **options: Any) -> Iterator[RunningFarm]:
    """Serve a central wiki on 127.0.0.1 and each wiki id on 127.0.0.2, 127.0.0.3, ...

    ``central_id`` is the central wiki's id (the one single-wiki consumers name);
    ``sitenames`` and ``languages`` (content language, 'en' unless given) by wiki id.
    ``options`` go to every ``TestWikiApp`` (lifetimes, clock, mediawiki); access
    tokens last ``FARM_ACCESS_TOKEN_TTL`` unless ``access_token_ttl`` says otherwise.
    """
    if len(wiki_ids) > 250:
        raise ValueError('at most 250 wikis')
    if central_id in wiki_ids:
        raise ValueError(f'{central_id!r} is the central wiki id')
    options.setdefault('access_token_ttl', FARM_ACCESS_TOKEN_TTL)
    sitenames = {central_id: 'CentralWiki', **(sitenames or {})}
    languages = languages or {}

    def make(wiki_id: str) -> TestWikiApp:
        app = TestWikiApp(sitename=sitenames.get(wiki_id, wiki_id), **options)
        app.wiki.language = languages.get(wiki_id, 'en')
        return app

    farm = WikiFarm(make(central_id), central_id)
    with ExitStack() as stack:
        central = stack.enter_context(_serve(farm.central, '127.0.0.1'))
        wikis = {}
        for number, wiki_id in enumerate(wiki_ids, start=2):
            app = farm.join(wiki_id, make(wiki_id))
            wikis[wiki_id] = stack.enter_context(_serve(app, f'127.0.0.{number}'))
        yield RunningFarm(farm, central, wikis)
