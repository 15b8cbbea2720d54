"""What the OAuth 2.0 provider stores: registered clients, codes, access and refresh tokens."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

#: League's AuthCodeGrant lifetime (PT10M).
AUTHORIZATION_CODE_TTL = 600.0
#: 'P1000Y' as MediaWiki computed it for the owner-only token (recorded exp - iat).
OWNER_ONLY_TOKEN_TTL = 365242 * 86400.0
#: Grants a client may name although they unlock no rights.
AUTH_ONLY_GRANTS = ('mwoauth-authonly', 'mwoauth-authonlyprivate')


@dataclass
class OAuth2Client:
    """A registered OAuth 2.0 client (Special:OAuthConsumerRegistration/propose/oauth2)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    owner: str
    owner_only: bool
    confidential: bool
    redirect_uri: str | None
    grants: list[str]
    allowed_grant_types: list[str]
    #: For owner-only clients: the non-expiring token shown at registration.
    owner_only_token: str | None = field(default=None, repr=False)
    #: Shown on the approval form.
    name: str = ''


@dataclass
class AuthorizationCode:
    client_id: str
    user: str
    scopes: list[str]
    redirect_uri: str | None  # as sent to /authorize; None when it was omitted
    challenge: str | None
    challenge_method: str | None
    expires: float
    used: bool = False


@dataclass
class AccessToken:
    client_id: str
    user: str
    scopes: list[str]
    expires: float
    revoked: bool = False


@dataclass
class RefreshToken:
    client_id: str
    user: str
    scopes: list[str]
    expires: float
    access_jtis: list[str]
    revoked_at: float | None = None
    successor: str | None = field(default=None, repr=False)


def opaque_token(n_bytes: int) -> str:
    """Random hex shaped like league's defuse ciphertexts ('def50200...')."""
    return 'def50200' + secrets.token_hex(n_bytes)

