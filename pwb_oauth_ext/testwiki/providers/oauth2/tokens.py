"""The provider's access tokens: MediaWiki-shaped RS256 JWTs, their checks and rotation.

Tokens are signed with a key made per wiki; expiry is checked against the wiki's
own (shiftable) clock and revocation against the provider's records, on every
request. Refresh tokens are opaque and rotate on each use (see ``OAuth2Provider``
for the grace after rotation).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from pwb_oauth_ext.testwiki.model import WikiUser, random_hex
from pwb_oauth_ext.testwiki.providers.oauth2.mediawiki_errors import TokenRejected
from pwb_oauth_ext.testwiki.providers.oauth2.records import (
    AccessToken,
    RefreshToken,
    opaque_token,
)

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth2.provider import OAuth2Provider

#: How many verified signatures are remembered before the memory starts afresh.
_VERIFIED_CACHE_SIZE = 4096


class TokenIssuer:
    """Signs, verifies and rotates the tokens of one ``OAuth2Provider``."""

    def __init__(self, provider: OAuth2Provider) -> None:
        self.provider = provider
        self._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._public_key = self._private_key.public_key()
        self._verified_claims: dict[str, dict[str, Any]] = {}  # token -> claims of a good signature

    def verify(self, token: str | None) -> tuple[WikiUser, list[str]]:
        """(user, grants) of a valid token; raises TokenRejected with MediaWiki's reason."""
        if not token or token.count('.') != 2:
            raise TokenRejected('access_token_malformed')
        claims = self._verified_claims.get(token)
        if claims is None:
            try:
                claims = jwt.decode(
                    token, self._public_key, algorithms=['RS256'],
                    # time claims are checked below against the wiki's (shiftable) clock
                    options={'verify_exp': False, 'verify_nbf': False, 'verify_iat': False,
                             'verify_aud': False, 'verify_iss': False})
            except jwt.InvalidTokenError:
                raise TokenRejected('access_token_unverified') from None
            # The signature check is the costly part; remember it (expiry and
            # revocation are still checked on every request, below), so the
            # stand-in wiki does not dominate what benchmarks measure of the bot.
            if len(self._verified_claims) >= _VERIFIED_CACHE_SIZE:
                self._verified_claims.clear()
            self._verified_claims[token] = claims
        now = self.provider.wiki.now()
        try:
            valid_at = float(claims['nbf']) <= now < float(claims['exp'])
        except (KeyError, TypeError, ValueError):
            valid_at = False
        if not valid_at:
            raise TokenRejected('access_token_unverified')
        record = self.provider.access_tokens.get(str(claims.get('jti')))
        user = self.provider.wiki.users.get(record.user) if record else None
        if record is not None and not record.revoked and record.user == '':
            return None, list(record.scopes)   # a token for no user: anonymous
        if record is None or record.revoked or user is None:
            raise TokenRejected('access_token_revoked')
        return user, list(record.scopes)

    def client_of(self, token: str) -> str:
        """The client id (``aud``) of a token ``verify`` accepted."""
        return str(self._verified_claims.get(token, {}).get('aud', ''))

    def share_key_of(self, other: TokenIssuer) -> None:
        """Sign and verify with ``other``'s key (a farm has one key for every wiki)."""
        self._private_key, self._public_key = other._private_key, other._public_key

    def sign(self, client_id: str, user_name: str, scopes: list[str],
             ttl: float) -> tuple[str, str]:
        """A MediaWiki-shaped RS256 access token and its jti; stored for revocation."""
        sub = str(self.provider.wiki.users[user_name].id) if user_name else '0'
        now = self.provider.wiki.now()
        jti = random_hex(80)
        claims = {'aud': client_id, 'jti': jti, 'iat': round(now, 6),
                  'nbf': round(now, 6), 'exp': round(now + ttl, 6), 'sub': sub,
                  'iss': self.provider.wiki.server_url, 'scopes': list(scopes)}
        token = jwt.encode(claims, self._private_key, algorithm='RS256',
                           headers={'typ': 'JWT', 'alg': 'RS256'}, sort_headers=False)
        self.provider.access_tokens[jti] = AccessToken(
            client_id=client_id, user=user_name, scopes=list(scopes), expires=now + ttl)
        return token, jti

    # oauthlib hooks (called with the oauthlib Request) ------------------
    def expires_in(self, request: Any) -> int:
        return round(self.provider.access_token_ttl)

    def issue_access_token(self, request: Any) -> str:
        client_id = request.client_id or request.client.client_id
        token, jti = self.sign(client_id, request.user, request.scopes or [],
                               float(self.provider.access_token_ttl))
        request.mw_access_jti = jti
        return token

    def issue_refresh_token(self, request: Any) -> str:
        return getattr(request, 'mw_grace_successor', None) or opaque_token(431)

    def link_issued(self, token: dict[str, Any], request: Any) -> None:
        """Rotation bookkeeping after oauthlib issued ``token``."""
        provider = self.provider
        jti = request.mw_access_jti
        now = provider.wiki.now()
        if request.grant_type == 'refresh_token':
            successor = getattr(request, 'mw_grace_successor', None)
            if successor:
                provider.refresh_tokens[successor].access_jtis.append(jti)
                return
            old = provider.refresh_tokens[request.refresh_token]
            old.revoked_at = now
            old.successor = token['refresh_token']
            for old_jti in old.access_jtis:
                provider.access_tokens[old_jti].revoked = True
        if 'refresh_token' in token:
            provider.refresh_tokens[token['refresh_token']] = RefreshToken(
                client_id=request.client_id or request.client.client_id, user=request.user,
                scopes=list(request.scopes or []), expires=now + provider.refresh_token_ttl,
                access_jtis=[jti])
