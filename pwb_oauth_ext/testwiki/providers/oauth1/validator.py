"""oauthlib's view of the OAuth 1.0a provider's registries (its RequestValidator).

Existence, timestamp and nonce were already checked (with MediaWiki's messages)
before oauthlib runs, so those hooks only confirm; what oauthlib decides on its
own here is the signature. Its limits (key lengths, 600 s window, wall clock) are
widened because this wiki's clock is ``Wiki.now()``.
"""
from __future__ import annotations

import string
from typing import TYPE_CHECKING

from oauthlib.common import Request
from oauthlib.oauth1 import RequestValidator
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1, SIGNATURE_RSA_SHA1

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.providers.oauth1.provider import OAuth1Provider


class WikiRequestValidator(RequestValidator):
    """oauthlib validator over the provider's registries.

    Existence, timestamp and nonce were already checked (with MediaWiki's
    messages) before oauthlib runs, so those hooks only confirm; what oauthlib
    decides on its own here is the signature.
    """

    def __init__(self, provider: OAuth1Provider) -> None:
        super().__init__()
        self.provider = provider

    allowed_signature_methods = (SIGNATURE_HMAC_SHA1, SIGNATURE_RSA_SHA1)
    safe_characters = set(string.ascii_letters + string.digits + '-._~+/=')
    client_key_length = (1, 64)
    request_token_length = (1, 64)
    access_token_length = (1, 64)
    nonce_length = (1, 255)
    verifier_length = (1, 64)
    timestamp_lifetime = 10 ** 10   # the real window is checked against Wiki.now()
    enforce_ssl = False
    dummy_client = 'dummy-client'
    dummy_request_token = 'dummy-request-token'
    dummy_access_token = 'dummy-access-token'

    def get_client_secret(self, client_key: str, request: Request) -> str:
        consumer = self.provider.consumers.get(client_key)
        return consumer.consumer_secret if consumer else 'dummy'

    def get_request_token_secret(self, client_key: str, token: str, request: Request) -> str:
        record = self.provider.request_tokens.get(token)
        return record.secret if record else 'dummy'

    def get_access_token_secret(self, client_key: str, token: str, request: Request) -> str:
        record = self.provider.access_tokens.get(token)
        return record.secret if record else 'dummy'

    def get_default_realms(self, client_key: str, request: Request) -> list[str]:
        return []

    def validate_client_key(self, client_key: str, request: Request) -> bool:
        return client_key in self.provider.consumers

    def validate_request_token(self, client_key: str, token: str, request: Request) -> bool:
        record = self.provider.request_tokens.get(token)
        return record is not None and record.consumer_key == client_key

    def validate_access_token(self, client_key: str, token: str, request: Request) -> bool:
        record = self.provider.access_tokens.get(token)
        return record is not None and record.consumer_key == client_key

    def validate_timestamp_and_nonce(self, client_key: str, timestamp: str, nonce: str,
                                     request: Request, request_token: str | None = None,
                                     access_token: str | None = None) -> bool:
        return True

    def validate_redirect_uri(self, client_key: str, redirect_uri: str,
                              request: Request) -> bool:
        return True   # 'oob' is enforced with MediaWiki's message after the signature

    def validate_requested_realms(self, client_key: str, realms: list[str],
                                  request: Request) -> bool:
        return True

    def validate_realms(self, client_key: str, token: str, request: Request,
                        uri: str | None = None, realms: list[str] | None = None) -> bool:
        return True

    def validate_verifier(self, client_key: str, token: str, verifier: str,
                          request: Request) -> bool:
        return True   # checked afterwards, to give MediaWiki's E-codes


