"""The ways a config entry gets its token: one small class each.

Consumers ask the entry's ``grant_type`` instead of comparing strings: its
name in ``check`` and messages, whether it uses a grant stored by
``pwb-oauth authorize`` (or fetched by itself), which fields hold secrets.
How each one makes its requests auth object is ``protocol.grants.make_auth``,
a table keyed by these classes (this layer cannot import the protocol code).
"""
from __future__ import annotations

from pwb_oauth_ext.config.references import resolve_secret

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only
    from typing import Any


class GrantType:
    """One way of getting a token; subclasses say what differs."""

    #: The protocol identifier ``pwb-oauth check --json`` reports.
    name = ''
    #: Its name in ``check``, ``explain`` and messages.
    title = ''
    #: The token is a grant kept in the token store (obtained by ``pwb-oauth
    #: authorize`` or fetched by the plugin itself), not written in the entry.
    uses_stored_grant = False
    #: The entry's attributes that hold secrets (a consumer key, a client id
    #: and an access token of OAuth 1.0a travel in clear: they do not count).
    secret_fields: tuple[str, ...] = ()
    #: OAuth 2.0 only: the arguments ``OAuth2(...)`` needs for it, and the
    #: ConfigError text when one is missing.
    required_fields: tuple[str, ...] = ()
    missing_message = ''

    def stored_grant_client(self, credential: Any, config_key: str) -> str | None:
        """The client (consumer key or client id) whose stored grant the entry uses, or None."""
        return None

    def secrets_of(self, credential: Any) -> list[Any]:
        """The entry's secret values (strings or references), None where unset."""
        return [getattr(credential, field) for field in self.secret_fields]

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


class OAuth1Token(GrantType):
    """OAuth 1.0a with the access token pair in the entry (an owner-only consumer)."""

    name = 'oauth1'
    title = 'OAuth 1.0a'
    secret_fields = ('consumer_secret', 'access_secret')


class OAuth1StoredToken(OAuth1Token):
    """OAuth 1.0a with the access token pair that ``pwb-oauth authorize`` stored."""

    uses_stored_grant = True

    def stored_grant_client(self, credential: Any, config_key: str) -> str | None:
        return resolve_secret(credential.consumer_key, config_key)


class OAuth2GrantType(GrantType):
    """OAuth 2.0: the grant names of ``OAuth2(grant=...)`` are the subclasses' ``name``."""

    secret_fields = ('access_token', 'client_secret')

    def stored_grant_client(self, credential: Any, config_key: str) -> str | None:
        return credential.client_id if self.uses_stored_grant else None


class OwnerOnlyToken(OAuth2GrantType):
    """An owner-only client's non-expiring bearer token, written in the entry."""

    name = 'owner_only'
    title = 'OAuth 2.0 owner-only'
    required_fields = ('access_token',)
    missing_message = 'an owner-only client needs access_token=...'


class ClientCredentials(OAuth2GrantType):
    """The client credentials grant: the plugin fetches the client owner's token itself."""

    name = 'client_credentials'
    title = 'OAuth 2.0 client credentials'
    uses_stored_grant = True
    required_fields = ('client_id', 'client_secret')
    missing_message = 'the client_credentials grant needs client_id and client_secret'


class AuthorizationCode(OAuth2GrantType):
    """Authorization code with PKCE (``pwb-oauth authorize``), then refresh tokens."""

    name = 'authorization_code'
    title = 'OAuth 2.0 authorization code'
    uses_stored_grant = True
    required_fields = ('client_id',)
    missing_message = 'the authorization_code grant needs client_id'


class HttpBasic(GrantType):
    """HTTP basic authentication: no token at all, the password goes as it is."""

    name = 'basic'
    title = 'HTTP basic'
    secret_fields = ('password',)


#: ``OAuth2(grant=...)``'s accepted values, in the order its error lists them.
OAUTH2_GRANT_TYPES: dict[str, OAuth2GrantType] = {
    grant.name: grant for grant in (OwnerOnlyToken(), ClientCredentials(), AuthorizationCode())}
