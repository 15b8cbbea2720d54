"""``config.authenticate`` turned into a host table and auth objects, lazily."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pwb_oauth_ext.config.credentials import credential_from_config
from pwb_oauth_ext.network.hosts import HostTable, Match, split_url, wiki_host

if TYPE_CHECKING:
    from pwb_oauth_ext.config.credentials import AnyCredential
    from pwb_oauth_ext.config.settings import Settings
    from pwb_oauth_ext.protocol.grants import CentralWiki
    from pwb_oauth_ext.protocol.store import GrantKey
from pwb_oauth_ext.integration.sites import reauthorize_hint, site_url, wiki_at
from pwb_oauth_ext.integration.transport import pywikibot_transport

_NO_KEY = object()  # stands for "no such key" in snapshot comparisons


class Resolver:
    """Turns ``config.authenticate`` into a host table and auth objects, lazily.

    Owned by the ``Integration``, which hands it the settings of ``enable()``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._table: HostTable[AnyCredential] | None = None
        self._source: dict | None = None   # config.authenticate itself, never a copy
        self._snapshot: dict = {}          # its items when the table was built
        self._size = -1
        self._last_key: Any = _NO_KEY
        self._auth_cache: dict[tuple[Any, ...], Any] = {}
        #: One auth object per stored grant, shared by every wiki that uses it.
        self._grant_auth: dict[tuple[GrantKey, type], Any] = {}
        #: False while a command reports readable files itself (``check``): warn once.
        self.warn_readable_config = True
        #: Auth objects for site-less requests to a host no site or family names: their
        #: endpoints are a guess, so neither a site's request nor the grant reuses them.
        self._provisional: dict[tuple[Any, ...], Any] = {}

    def table(self) -> HostTable[AnyCredential]:
        """The host table for the current ``config.authenticate``.

        The dict stays the one Pywikibot and the user hold. A change is noticed
        in O(1), whatever the number of keys: another dict, another length, or
        another last-inserted key (any new key is inserted last). A value
        replaced under an existing key is noticed when that key matches
        (``match``); what these miss (keys removed and added back to the same
        length and last key) ``check_entries()`` finds at login and after a refusal.
        """
        from pywikibot import config
        entries = config.authenticate
        if (entries is not self._source or len(entries) != self._size
                or next(reversed(entries), _NO_KEY) != self._last_key):
            self._rebuild(entries)
        assert self._table is not None
        return self._table

    def _rebuild(self, entries: dict) -> None:
        with self._lock:
            snapshot = dict(entries)
            table = HostTable({key: credential_from_config(key, value)
                               for key, value in snapshot.items()})
            if self._source is None and self.warn_readable_config:
                _warn_readable_user_config(entries)
            self._table, self._source, self._snapshot = table, entries, snapshot
            self._size, self._last_key = len(snapshot), next(reversed(snapshot), _NO_KEY)
            self._auth_cache.clear()
            self._grant_auth.clear()
            self._provisional.clear()

    def check_entries(self) -> None:
        """Compare every item with the snapshot (O(n)): for the rare events, not per request."""
        from pywikibot import config
        entries = config.authenticate
        if entries is not self._source or entries != self._snapshot:
            self._rebuild(entries)

    def configured_value(self, match: Match[AnyCredential]) -> Any:
        """The ``authenticate`` value, as written, of a key ``match`` returned."""
        return self._snapshot.get(match.key.original)

    def match(self, url: str, account: str | None,
              wiki: tuple[str, int | None] | None = None) -> Match[AnyCredential] | None:
        """The winning entry for a URL and account, or None.

        ``wiki``: the ``(host, port)`` of the wiki the request is for, ``NO_WIKI``
        for none; by default the URL's own (see ``HostTable.lookup``).
        """
        host, port = split_url(url)
        found = self.table().lookup(host, port, account, wiki)
        if found is not None:   # the matched key must still hold the value the table has
            key = found.key.original
            old = self._snapshot.get(key, _NO_KEY)
            new = self._source.get(key, _NO_KEY)  # type: ignore[union-attr]
            if new is not old and new != old:
                self._rebuild(self._source)  # type: ignore[arg-type]
                found = self.table().lookup(host, port, account, wiki)
        return found

    def site_match(self, site: Any) -> Match[AnyCredential] | None:
        """The entry that applies to this site and its account."""
        return self.match(site_url(site), site.username())

    def oauth_match(self, site: Any) -> Match[AnyCredential] | None:
        """The site's OAuth entry, or None when it has none (or basic auth)."""
        match = self.site_match(site)
        return match if match is not None and match.value.is_oauth else None

    def auth_for(self, match: Match[AnyCredential], account: str | None, url: str,
                 site: Any = None) -> Any:
        """The requests auth object for a matched entry and account on a wiki.

        Remembered per (key, account, wiki) for the hot path; entries that use
        a stored grant share one auth object per grant (central wiki, client,
        account), so every wiki of a farm uses one token and one refresh.
        """
        cache_key = (match.key.original, account, split_url(url))
        auth = self._auth_cache.get(cache_key)
        if auth is None:
            with self._lock:
                auth = self._auth_cache.get(cache_key)
                if auth is None:
                    auth = self._make_auth(match, account, url, site, cache_key)
        return auth

    def grant_of(self, match: Match[AnyCredential], account: str | None, url: str,
                 site: Any = None) -> tuple[CentralWiki, GrantKey] | None:
        """The central wiki and grant key of an entry that uses a stored grant, else None."""
        from pwb_oauth_ext.protocol.grants import central_wiki_of
        from pwb_oauth_ext.protocol.store import GrantKey
        cred = match.value
        client_id = cred.grant_type.stored_grant_client(cred, match.key.original)
        if client_id is None:
            return None
        # The entry and the family of the wiki's host decide, with a site in flight
        # or without: never the request URL's directory (see sites.wiki_at).
        wiki = wiki_at(site, url)
        central = central_wiki_of(cred, wiki.script_url, wikimedia=wiki.wikimedia)
        return central, GrantKey(central.host, client_id, account)

    def _endpoints_known(self, match: Match[AnyCredential], url: str, site: Any) -> bool:
        """False when the grant's endpoints would rest on a guessed script path."""
        cred = match.value
        if cred.grant_type.stored_grant_client(cred, match.key.original) is None:
            return True
        if getattr(cred, 'central_url', None) is not None:
            return True
        return wiki_at(site, url).known

    def _make_auth(self, match: Match[AnyCredential], account: str | None, url: str,
                   site: Any, cache_key: tuple[Any, ...]) -> Any:
        """A new auth object, or the one of the stored grant the entry shares; cached.

        Called with the lock held. One made from a guessed script path (a site-less
        request to a host no family names) is kept apart: a later site or grant
        lookup never reuses its endpoints.
        """
        from pwb_oauth_ext.protocol.grants import AuthInputs, make_auth
        cred = match.value
        known = self._endpoints_known(match, url, site)
        if not known and cache_key in self._provisional:
            return self._provisional[cache_key]
        grant = self.grant_in_use(match, account, url, site)
        if grant is not None:
            shared = self._grant_auth.get((grant[1], type(cred)))
            if shared is not None:
                self._auth_cache[cache_key] = shared
                return shared
        auth = make_auth(cred, AuthInputs(
            config_key=match.key.original, central=grant[0] if grant else None,
            grant=grant[1] if grant else None, store=self.store() if grant else None,
            transport=pywikibot_transport, reauthorize_hint=reauthorize_hint(site, account),
            on_renewal=announce_renewal))
        if not known:
            self._provisional[cache_key] = auth
            return auth
        if grant is not None:
            self._grant_auth[(grant[1], type(cred))] = auth
        self._auth_cache[cache_key] = auth
        return auth

    def adopt(self, site: Any, match: Match[AnyCredential], name: str,
              used_account: str | None) -> None:
        """The wiki named the site's user: its grant (if unnamed) is stored under that name.

        The auth object the site used stays in use for the named account, so
        a client-credentials token fetched before the name was known is not
        fetched again (in this process or in any other).
        """
        url = site_url(site)
        auth = self.auth_for(match, used_account, url, site)
        source = getattr(auth, 'source', None)
        if source is not None and hasattr(source, 'adopt_account'):
            source.adopt_account(name)
        with self._lock:
            self._auth_cache.setdefault((match.key.original, name, split_url(url)), auth)
            grant = self.grant_of(match, name, url, site)
            if grant is not None:
                self._grant_auth.setdefault((grant[1], type(match.value)), auth)

    def store_path(self) -> Path:
        """The token store file: set by enable(), else in Pywikibot's base directory."""
        from pywikibot import config
        setting = self.settings.token_store
        if isinstance(setting, str) and not self.settings.store_is_url:
            return Path(setting)
        return Path(config.base_dir) / 'pwb-oauth-tokens.json'

    def store(self) -> Any:
        """The token store in use: the database of ``enable(token_store=URL)``, else the file."""
        from pwb_oauth_ext.protocol.store import open_store
        setting = self.settings.token_store
        import pywikibot
        if setting is None or (isinstance(setting, str) and not self.settings.store_is_url):
            return open_store(self.store_path(), warn=pywikibot.warning)
        from pywikibot import config
        return open_store(setting, password=self.settings.token_store_password,
                          warn=pywikibot.warning, journal_dir=Path(config.base_dir))

    def _stored_before_grants(self, grant: tuple[CentralWiki, GrantKey], url: str,
                              site: Any = None) -> tuple[CentralWiki, GrantKey]:
        """A grant stored by a release before grants, under the wiki's own host, keeps working.

        Such stores keyed tokens by wiki host; on Wikimedia the central wiki is
        now Meta, so a token kept for en.wikipedia.org is looked up there
        unless the central wiki has a grant of that client already. That wiki
        issued the grant, so it is renewed there too: a farm wiki refuses another
        wiki's refresh token (farm-1.43: the OAuth session cache is per wiki).
        """
        from pwb_oauth_ext.protocol import grants as protocol_grants
        key = grant[1]
        own_host = wiki_host(url)
        if own_host == key.central_wiki:
            return grant
        store = self.store()
        if store.grants_of(key.central_wiki, key.client_id) \
                or not store.grants_of(own_host, key.client_id):
            return grant
        return (protocol_grants.CentralWiki(own_host, wiki_at(site, url).script_url.rstrip('/')),
                key._replace(central_wiki=own_host))

    def forget(self) -> None:
        """Drop cached auth objects (tokens are re-read on next use)."""
        with self._lock:
            self._auth_cache.clear()
            self._grant_auth.clear()
            self._provisional.clear()

    def grant_in_use(self, match: Match[AnyCredential], account: str | None, url: str,
                     site: Any = None) -> tuple[CentralWiki, GrantKey] | None:
        """The central wiki and the key under which the store holds the entry's grant.

        The one lookup for the runtime, ``check`` and ``authorize``: ``grant_of``,
        or the wiki's own host for a grant stored before grants. Which stored
        grant the key finds is ``store().find(key)`` (``store.choose_grant``).
        None for an entry that uses no stored grant.
        """
        grant = self.grant_of(match, account, url, site)
        return None if grant is None else self._stored_before_grants(grant, url, site)


def announce_renewal(grant: GrantKey, tokens: Any, how: str) -> None:
    """One INFO line per token the wiki issued (site, grant, new expiry; never a token)."""
    import time

    import pywikibot

    from pwb_oauth_ext.integration.context import site_in_flight
    site = site_in_flight.get()
    where = f'{site} ' if site is not None else ''
    expiry = tokens.expires_at
    if expiry is None:
        until = 'it does not expire'
    else:
        minutes = max(0, round((float(expiry) - time.time()) / 60))
        until = time.strftime('it expires %Y-%m-%d %H:%M:%S UTC', time.gmtime(float(expiry)))
        until += f' (in {minutes} min)'
    from pwb_oauth_ext.errors import shown_id
    from pwb_oauth_ext.network.text import printable
    who = printable(grant.account) if grant.account else 'account not yet known'
    pywikibot.info(f'OAuth 2.0 token renewed {"for " + where if where else ""}with the {how}'
                   f' of the grant of {who} on {grant.central_wiki} (client'
                   f' {shown_id(grant.client_id)}); {until}.')


def _warn_readable_user_config(entries: Any) -> None:
    """Warn once when user-config.py holds inline secrets that others can read."""
    import pywikibot
    from pywikibot import config

    from pwb_oauth_ext.config.user_config import user_config_warning
    path = Path(config.base_dir) / config.user_config_file
    message = user_config_warning(path, entries)
    if message:
        pywikibot.warning(message)

