"""Turn a config entry into its requests auth object, by the entry's grant type.

Kept out of the adapter because it is protocol wiring only: which grant an
entry uses (central wiki, client, account), which token source it needs,
which endpoint renews it. Endpoints come from the entry and its central wiki,
never from the site a request happens to be made for. ``make_auth`` is the
one table from grant type to the code that makes its auth object.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from pwb_oauth_ext.config.credentials import Credential, OAuth1, OAuth2
from pwb_oauth_ext.config.grant_types import (
    AuthorizationCode,
    ClientCredentials,
    GrantType,
    HttpBasic,
    OAuth1StoredToken,
    OAuth1Token,
    OwnerOnlyToken,
)
from pwb_oauth_ext.config.references import resolve_secret
from pwb_oauth_ext.errors import ConfigError, OAuthFlowError, ReauthorizationRequired, shown_id
from pwb_oauth_ext.network.hosts import wiki_host
from pwb_oauth_ext.protocol.auth import BearerAuth, HTTPBasicAuth, OAuth1Auth
from pwb_oauth_ext.protocol.mediawiki import (
    WIKIMEDIA_CENTRAL_URL,
    WIKIMEDIA_CENTRAL_WIKI,
    OAuth2Endpoints,
    endpoints_for,
)
from pwb_oauth_ext.protocol.oauth2 import (
    BearerTokenSource,
    TokenSet,
    Transport,
    make_obtain,
)
from pwb_oauth_ext.protocol.store import GrantKey


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
    return CentralWiki(wiki_host(wiki_script_url), wiki_script_url.rstrip('/'))


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


@dataclass(frozen=True)
class AuthInputs:
    """What the integration gives ``make_auth`` besides the entry.

    ``central`` and ``grant`` are None for an entry that uses no stored grant
    (its ``grant_type.uses_stored_grant`` is False); ``store`` is the token
    store in use (a file or a database), None when no grant is stored.
    """

    config_key: str
    central: Optional[CentralWiki]
    grant: Optional[GrantKey]
    store: Any
    transport: Transport
    reauthorize_hint: str
    #: Called after each token the wiki issued for a stored grant (a refresh, or a
    #: client-credentials fetch): ``on_renewal(grant key, new tokens, how)``. Never
    #: given to anything that prints secrets: the integration logs one line of it.
    on_renewal: Optional[Callable[[GrantKey, TokenSet, str], None]] = None


def make_auth(cred: Credential, inputs: AuthInputs) -> Any:
    """The requests auth object for an entry, made by its grant type's maker."""
    return _AUTH_MAKERS[type(cred.grant_type)](cred, inputs)


def _basic_auth(cred: Any, inputs: AuthInputs) -> HTTPBasicAuth:
    return HTTPBasicAuth(cred.username, resolve_secret(cred.password, inputs.config_key))


def _oauth1_configured_auth(cred: Any, inputs: AuthInputs) -> OAuth1Auth:
    key = inputs.config_key
    return OAuth1Auth(resolve_secret(cred.consumer_key, key),
                      resolve_secret(cred.consumer_secret, key),
                      resolve_secret(cred.access_token, key),
                      resolve_secret(cred.access_secret, key))


def _oauth1_stored_auth(cred: Any, inputs: AuthInputs) -> OAuth1Auth:
    """The token pair ``pwb-oauth authorize`` stored for the grant; ConfigError if none."""
    key, grant = inputs.config_key, inputs.grant
    assert grant is not None
    consumer_key = resolve_secret(cred.consumer_key, key)
    consumer_secret = resolve_secret(cred.consumer_secret, key)
    found = inputs.store.find(grant)
    if found is None:
        whose = f' of {grant.account}' if grant.account else ''
        raise ConfigError(
            f'authenticate[{key!r}] has no access token and no grant{whose} is stored'
            f' for consumer {shown_id(consumer_key)} on {grant.central_wiki}.'
            f' {where_grants_were_looked_for(inputs.store)} {inputs.reauthorize_hint}',
            config_key=key)
    stored_key, record = found
    return OAuth1Auth(consumer_key, consumer_secret, record['access_token'],
                      record['access_secret'], grant=stored_key)


def _owner_only_auth(cred: Any, inputs: AuthInputs) -> BearerAuth:
    token = TokenSet(resolve_secret(cred.access_token, inputs.config_key), None, None)
    return BearerAuth(BearerTokenSource(store=None, key=GrantKey('', '', None),
                                        obtain=None, initial=token))


def _renewing_bearer_auth(cred: OAuth2, inputs: AuthInputs) -> BearerAuth:
    """A bearer token of one stored grant (central wiki, client id, account), renewed there.

    With its account None the single grant stored for the client on that
    central wiki is used; a client-credentials token is fetched once and
    named after its owner when the wiki reports it (``adopt_account``).
    """
    central, grant = inputs.central, inputs.grant
    assert cred.client_id is not None and central is not None and grant is not None
    secret = (resolve_secret(cred.client_secret, inputs.config_key)
              if cred.client_secret is not None else None)
    client_credentials = isinstance(cred.grant_type, ClientCredentials)
    obtain = make_obtain(inputs.transport, endpoints_of(cred, central.script_url), cred.client_id,
                         secret, client_credentials=client_credentials,
                         reauthorize_hint=inputs.reauthorize_hint)
    if client_credentials:
        # The token is the client owner's, whoever the site's user is: stored
        # unnamed until the wiki names its owner at login, never after config.
        grant = grant._replace(account=None)
    source = BearerTokenSource(store=inputs.store, key=grant,
                               obtain=lambda current: announced(current))
    checked = same_owner(_first_token_needs_authorize(obtain, inputs, client_credentials),
                         lambda: source.grant.describe())

    def announced(current: Optional[TokenSet]) -> TokenSet:
        fresh = checked(current)
        if inputs.on_renewal is not None:
            how = ('refresh token' if current is not None and current.refresh_token
                   else 'client credentials')
            inputs.on_renewal(source.grant, fresh, how)
        return fresh
    return BearerAuth(source)


def _first_token_needs_authorize(obtain: Callable[[Optional[TokenSet]], TokenSet],
                                 inputs: AuthInputs, client_credentials: bool,
                                 ) -> Callable[[Optional[TokenSet]], TokenSet]:
    """``obtain``, except that with no stored token at all the error says where it looked."""
    if client_credentials:   # fetched by itself: nothing to authorize
        return obtain

    def obtain_stored(current: Optional[TokenSet]) -> TokenSet:
        if current is None:
            grant = inputs.grant
            assert grant is not None
            whose = f' of {grant.account}' if grant.account else ''
            raise ReauthorizationRequired(
                f'There is no OAuth 2.0 token{whose} to renew for client'
                f' {shown_id(grant.client_id)} on {grant.central_wiki}:'
                f' {where_grants_were_looked_for(inputs.store)} {inputs.reauthorize_hint}')
        return obtain(current)
    return obtain_stored


def where_grants_were_looked_for(store: Any) -> str:
    """Which store was read, and whether this looks like a first authorization or a lost store."""
    from pathlib import Path

    from pwb_oauth_ext.protocol.store import describe_store
    where = describe_store(store)
    path = getattr(store, 'path', None)
    if isinstance(path, Path) and not path.exists():
        return (f'The token store {where} does not exist: if this is the first run with'
                ' this entry, authorize once; if bots ran before, the file was deleted or'
                ' moved, or this run uses another Pywikibot directory (PYWIKIBOT_DIR, -dir:).')
    try:
        count = len(store.entries())
    except Exception:   # the store's own errors are raised where it is used
        count = None
    held = ('it holds no grants' if count == 0 else
            f'it holds {count} other grant{"s" if count != 1 else ""}' if count else
            'it holds none for this entry')
    return (f'The token store {where} was read and {held}: authorize this entry once (or, if'
            ' it was authorized before, its grant was removed from the store, or another'
            ' store is in use).')

_AUTH_MAKERS: dict[type[GrantType], Callable[[Any, AuthInputs], Any]] = {
    HttpBasic: _basic_auth,
    OAuth1Token: _oauth1_configured_auth,
    OAuth1StoredToken: _oauth1_stored_auth,
    OwnerOnlyToken: _owner_only_auth,
    ClientCredentials: _renewing_bearer_auth,
    AuthorizationCode: _renewing_bearer_auth,
}
