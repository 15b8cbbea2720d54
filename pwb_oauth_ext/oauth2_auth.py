"""Turn an ``OAuth2(...)`` config entry into a renewing bearer auth object.

Kept out of the adapter because it is protocol wiring only: which token
source a grant needs, where its tokens are stored, which endpoint renews them.
"""
from __future__ import annotations

from pathlib import Path

from .auth import BearerAuth
from .credentials import OAuth2, resolve_secret
from .hosts import split_url
from .oauth2 import (
    BearerTokenSource,
    OAuth2Endpoints,
    TokenSet,
    Transport,
    endpoints_for,
    make_obtain,
)
from .store import TokenStore


def store_host(url: str) -> str:
    """The token store's wiki key: host, with the port when there is one."""
    host, port = split_url(url)
    return f'{host}:{port}' if port else host


def endpoints_of(cred: OAuth2, script_url: str) -> OAuth2Endpoints:
    """The wiki's ``rest.php/oauth2`` endpoints, each overridable on the credential."""
    derived = endpoints_for(script_url)
    return OAuth2Endpoints(
        authorize_url=cred.authorize_url or derived.authorize_url,
        token_url=cred.token_url or derived.token_url,
        profile_url=cred.profile_url or derived.profile_url,
    )


def make_bearer_auth(cred: OAuth2, *, config_key: str, script_url: str, account: str | None,
                     store_path: Path, transport: Transport,
                     reauthorize_hint: str) -> BearerAuth:
    """The auth object for one credential and account."""
    if cred.grant == 'owner_only':
        assert cred.access_token is not None
        token = TokenSet(resolve_secret(cred.access_token, config_key), None, None)
        return BearerAuth(BearerTokenSource(store=None, key=(store_host(script_url), '', account),
                                            obtain=None, initial=token))
    assert cred.client_id is not None
    secret = (resolve_secret(cred.client_secret, config_key)
              if cred.client_secret is not None else None)
    obtain = make_obtain(transport, endpoints_of(cred, script_url), cred.client_id, secret,
                         client_credentials=cred.grant == 'client_credentials',
                         reauthorize_hint=reauthorize_hint)
    source = BearerTokenSource(store=TokenStore(store_path),
                               key=(store_host(script_url), cred.client_id, account),
                               obtain=obtain)
    return BearerAuth(source)

