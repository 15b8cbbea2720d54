"""Turn an ``OAuth2(...)`` config entry into a renewing bearer auth object.

Kept out of the adapter because it is protocol wiring only: which grant an
entry uses (central wiki, client, account), which token source it needs,
which endpoint renews it. Endpoints come from the entry and its central wiki,
never from the site a request happens to be made for.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from pwb_oauth_ext.config.credentials import OAuth1, OAuth2, resolve_secret
from pwb_oauth_ext.errors import OAuthFlowError
from pwb_oauth_ext.network.hosts import split_url
from pwb_oauth_ext.protocol.auth import BearerAuth
from pwb_oauth_ext.protocol.oauth2 import (
    BearerTokenSource,
    OAuth2Endpoints,
    TokenSet,
    Transport,
    endpoints_for,
    make_obtain,
)
from pwb_oauth_ext.protocol.store import GrantKey

#: Extension:OAuth on Wikimedia keeps every consumer, approval and token on Meta-Wiki
#: ($wgMWOAuthCentralWiki = 'metawiki'); one grant there works on every SUL wiki.
WIKIMEDIA_CENTRAL_WIKI = 'meta.wikimedia.org'
WIKIMEDIA_CENTRAL_URL = 'https://meta.wikimedia.org/w'


def store_host(url: str) -> str:
    """The token store's wiki key: host, with the port when there is one."""
    host, port = split_url(url)
    if ':' in host:
        host = f'[{host}]'
    return f'{host}:{port}' if port else host


@dataclass(frozen=True)
class CentralWiki:
    """The wiki that issues and renews a grant: ``host[:port]`` and its script URL."""

    host: str
    script_url: str


def central_wiki_of(cred: OAuth1 | OAuth2, wiki_script_url: str, *,
                    wikimedia: bool) -> CentralWiki:
    """The entry's central wiki for a request to the wiki at ``wiki_script_url``.

    ``central_wiki=`` when given; meta.wikimedia.org for a wiki of a Wikimedia
    family; else the wiki itself. A bare ``host[:port]`` takes the scheme and
    script path of the wiki the entry matched (farms share one layout).
    """
    if cred.central_wiki is not None:
        if cred.central_url is not None:
            return CentralWiki(cred.central_wiki, cred.central_url)
        parts = urlsplit(wiki_script_url)
        return CentralWiki(cred.central_wiki,
                           f'{parts.scheme}://{cred.central_wiki}{parts.path.rstrip("/")}')
    if wikimedia:
        return CentralWiki(WIKIMEDIA_CENTRAL_WIKI, WIKIMEDIA_CENTRAL_URL)
    return CentralWiki(store_host(wiki_script_url), wiki_script_url.rstrip('/'))


def endpoints_of(cred: OAuth2, script_url: str) -> OAuth2Endpoints:
    """The central wiki's ``rest.php/oauth2`` endpoints, each overridable on the credential."""
    derived = endpoints_for(script_url)
    return OAuth2Endpoints(
        authorize_url=cred.authorize_url or derived.authorize_url,
        token_url=cred.token_url or derived.token_url,
        profile_url=cred.profile_url or derived.profile_url,
    )


def jwt_subject(token: str) -> Optional[str]:
    """The ``sub`` claim of a MediaWiki access token (a JWT), unverified; None if opaque.

    Only compared with the ``sub`` of the grant's previous token: the wiki
    signed both, this is no proof of anything beyond "same user as before".
    """
    parts = token.split('.')
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + '=' * (-len(parts[1]) % 4)))
    except (ValueError, TypeError):
        return None
    sub = payload.get('sub') if isinstance(payload, dict) else None
    return str(sub) if sub not in (None, '') else None


def same_owner(obtain: Callable[[Optional[TokenSet]], TokenSet],
               describe: Callable[[], str]) -> Callable[[Optional[TokenSet]], TokenSet]:
    """``obtain`` that refuses a renewed token of another user than the grant's.

    A renewal answers with the token of whoever the wiki thinks the grant
    belongs to; storing another user's token under this grant would make
    the bot edit as that user.
    """
    def checked(current: Optional[TokenSet]) -> TokenSet:
        fresh = obtain(current)
        if current is not None:
            before, after = jwt_subject(current.access_token), jwt_subject(fresh.access_token)
            if before is not None and after is not None and before != after:
                raise OAuthFlowError(
                    f'The renewed OAuth 2.0 token for {describe()} belongs to another'
                    f' wiki user (user id {after}, the grant is of user id {before}); it was'
                    ' not stored or used. Check the token endpoint (token_url=) and'
                    ' authorize again.')
        return fresh
    return checked


def make_bearer_auth(cred: OAuth2, *, config_key: str, central: CentralWiki,
                     grant: GrantKey | None, store: Any, transport: Transport,
                     reauthorize_hint: str) -> BearerAuth:
    """The auth object for one grant (central wiki, client id, account); renewed at ``central``.

    ``grant`` is None for an owner-only token. With its account None the
    single grant stored for the client on that
    central wiki is used; a client-credentials token is fetched once and
    named after its owner when the wiki reports it (``adopt_account``).
    ``store`` is the token store in use (a file or a database).
    """
    if cred.grant == 'owner_only':
        assert cred.access_token is not None
        token = TokenSet(resolve_secret(cred.access_token, config_key), None, None)
        return BearerAuth(BearerTokenSource(store=None, key=GrantKey(central.host, '', None),
                                            obtain=None, initial=token))
    assert cred.client_id is not None and grant is not None
    secret = (resolve_secret(cred.client_secret, config_key)
              if cred.client_secret is not None else None)
    obtain = make_obtain(transport, endpoints_of(cred, central.script_url), cred.client_id,
                         secret, client_credentials=cred.grant == 'client_credentials',
                         reauthorize_hint=reauthorize_hint)
    if cred.grant == 'client_credentials':
        # The token is the client owner's, whoever the site's user is: stored
        # unnamed until the wiki names its owner at login, never after config.
        grant = grant._replace(account=None)
    source = BearerTokenSource(store=store, key=grant,
                               obtain=lambda current: checked(current))
    checked = same_owner(obtain, lambda: source.grant.describe())
    return BearerAuth(source)
