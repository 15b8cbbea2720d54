"""A wiki farm: several test wikis and one OAuth central wiki, as Wikimedia runs them.

Extension:OAuth keeps consumers, approvals and tokens in the central wiki's
database (``$wgMWOAuthCentralWiki``) and users are shared (CentralAuth): a
grant made there works on every wiki of the farm, unless its consumer was
registered for one wiki only, which MediaWiki refuses elsewhere with
``mwoauth-invalid-authorization-wrong-wiki``. Here each wiki is its own
``TestWikiApp`` on its own loopback address (127.0.0.2, 127.0.0.3, ...) with
its own pages; the central wiki's users, browser sessions and OAuth
providers are shared with the other wikis.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from pwb_oauth_ext.testwiki.actionapi import ApiError
from pwb_oauth_ext.testwiki.app import TestWikiApp
from pwb_oauth_ext.testwiki.model import InvalidAuthorization
from pwb_oauth_ext.testwiki.providers.oauth1.provider import OAuth1Provider
from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.server import RunningWiki, _KeepAliveHandler, _ThreadingWSGIServer

ALL_WIKIS = '*'
WRONG_WIKI = 'mwoauth-invalid-authorization-wrong-wiki'


def wrong_wiki_error(wiki_id: str) -> ApiError:
    """MediaWiki's refusal of a single-wiki consumer's request on another wiki."""
    return ApiError(WRONG_WIKI, f'The authorization headers in your request are not valid'
                                f' for {wiki_id}')


class _FarmOAuth1(OAuth1Provider):
    """One wiki's view of the central wiki's OAuth 1.0a registry.

    Signatures are checked against this wiki's own URL; consumers, tokens and
    nonces are the central wiki's.
    """

    def __init__(self, farm: WikiFarm, app: TestWikiApp, wiki_id: str) -> None:
        super().__init__(app.wiki)
        central = farm.central.oauth1
        self.consumers = central.consumers
        self.request_tokens = central.request_tokens
        self.access_tokens = central.access_tokens
        self._nonces = central._nonces
        self._farm = farm
        self._wiki_id = wiki_id

    def authenticate(self, req: Any) -> Any:
        user, grants, consumer = super().authenticate(req)
        allowed = self._farm.consumer_wikis.get(consumer.consumer_key, ALL_WIKIS)
        if allowed not in (ALL_WIKIS, self._wiki_id):
            raise wrong_wiki_error(self._wiki_id)
        return user, grants, consumer


class _FarmOAuth2:
    """One wiki's view of the central wiki's OAuth 2.0 provider (rest.php works anywhere)."""

    def __init__(self, farm: WikiFarm, wiki_id: str) -> None:
        self._farm = farm
        self._wiki_id = wiki_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._farm.central.oauth2, name)

    def authenticate_bearer(self, token: str) -> Any:
        result = self._farm.central.oauth2.authenticate_bearer(token)
        import jwt
        try:
            client_id = str(jwt.decode(token, options={'verify_signature': False}).get('aud'))
        except jwt.InvalidTokenError:
            raise InvalidAuthorization('Invalid access token') from None
        allowed = self._farm.consumer_wikis.get(client_id, ALL_WIKIS)
        if allowed not in (ALL_WIKIS, self._wiki_id):
            raise wrong_wiki_error(self._wiki_id)
        return result


@dataclass
class WikiFarm:
    """The central wiki and the farm's other wikis, by wiki id."""

    central: TestWikiApp
    wikis: dict[str, TestWikiApp] = field(default_factory=dict)
    #: consumer key / client id -> the one wiki id it is for, or '*'.
    consumer_wikis: dict[str, str] = field(default_factory=dict)

    def join(self, wiki_id: str, app: TestWikiApp) -> TestWikiApp:
        """Make ``app`` a wiki of the farm: shared users and OAuth, its own pages."""
        central = self.central.wiki
        app.wiki.users = central.users
        app.wiki.sessions = central.sessions
        app.wiki.lock = central.lock
        app.use_providers(_FarmOAuth1(self, app, wiki_id), _FarmOAuth2(self, wiki_id))
        self.wikis[wiki_id] = app
        return app

    # -- registrations on the central wiki ------------------------------
    def add_bot(self, name: str = 'BotUser', groups: list[str] | None = None,
                password: str = '') -> Any:
        """A user of every wiki of the farm (one account, as with CentralAuth)."""
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
        """An OAuth 2.0 client for all wikis or one (options as ``register_client``)."""
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
        """The central wiki's OAuth 2.0 provider (token requests are counted there)."""
        return self.farm.central.oauth2


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
def run_test_farm(wiki_ids: tuple[str, ...] = ('wiki1', 'wiki2'),
                  **options: Any) -> Iterator[RunningFarm]:
    """Serve a central wiki on 127.0.0.1 and each wiki id on 127.0.0.2, 127.0.0.3, ...

    ``options`` go to every ``TestWikiApp`` (lifetimes, clock).
    """
    if len(wiki_ids) > 250:
        raise ValueError('at most 250 wikis')
    farm = WikiFarm(TestWikiApp(sitename='CentralWiki', **options))
    with ExitStack() as stack:
        central = stack.enter_context(_serve(farm.central, '127.0.0.1'))
        wikis = {}
        for number, wiki_id in enumerate(wiki_ids, start=2):
            app = farm.join(wiki_id, TestWikiApp(sitename=wiki_id, **options))
            wikis[wiki_id] = stack.enter_context(_serve(app, f'127.0.0.{number}'))
        yield RunningFarm(farm, central, wikis)
