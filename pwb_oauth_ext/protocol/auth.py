"""requests auth objects: OAuth 1.0a signing with clock-skew correction.

Plain ``requests.auth.AuthBase`` objects, as in requests-oauthlib, so they
work with any ``requests`` session, Pywikibot's included. Importing this
module imports requests-oauthlib: only the adapter does, at first use.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import requests
import requests_oauthlib

from pwb_oauth_ext.errors import OAuthFlowError, shown_id
from pwb_oauth_ext.network.urls import unsafe_destination
from pwb_oauth_ext.protocol.stores.records import is_b64token


class OAuth1Auth(requests.auth.AuthBase):
    """HMAC-SHA1 signing by requests-oauthlib, with a correctable clock offset.

    MediaWiki refuses timestamps more than 300 s away from its own clock and
    says what its clock reads; ``correct_clock`` applies that difference to
    every later signature.  ``len()`` is 4 because Pywikibot recognises OAuth
    credentials by that length (POST-only requests, the userinfo login path).
    """

    def __init__(self, consumer_key: str, consumer_secret: str,
                 access_token: str, access_secret: str, *, grant: Any = None) -> None:
        self._signer = requests_oauthlib.OAuth1(
            consumer_key, consumer_secret, access_token, access_secret)
        self.consumer_key = consumer_key
        #: The stored grant the token pair came from (its GrantKey), None when configured.
        self.grant = grant
        self.clock_offset = 0
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self.clock_offset:
            return self._signer(request)
        with self._lock:  # the oauthlib client is shared: fix its timestamp while signing
            self._signer.client.timestamp = str(int(time.time()) + self.clock_offset)
            try:
                return self._signer(request)
            finally:
                self._signer.client.timestamp = None

    def correct_clock(self, client_timestamp: int, server_timestamp: int) -> None:
        """Shift later signatures by the server's reported clock difference."""
        self.clock_offset += server_timestamp - client_timestamp

    def __len__(self) -> int:
        return 4

    def __repr__(self) -> str:
        return f'OAuth1Auth(consumer_key={shown_id(self.consumer_key)!r}, <secrets hidden>)'


class HTTPBasicAuth(requests.auth.HTTPBasicAuth):
    """requests' basic auth with a length of 2 (Pywikibot's basic-auth tuple) and a safe repr."""

    def __len__(self) -> int:
        return 2

    def __repr__(self) -> str:
        return f'HTTPBasicAuth(username={self.username!r}, password=<hidden>)'


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer`` from a token source that renews itself.

    Refuses plain http except to loopback: a bearer token is a password.
    Remembers the token it sent last so a refusal by the wiki renews exactly
    that one.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.last_token: str | None = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        problem = unsafe_destination(request.url or '')
        if problem is not None:
            raise OAuthFlowError(f'Refusing to send an OAuth 2.0 bearer token: {problem};'
                                 ' use https.')
        token = self.source.token()
        if token != self.last_token and not is_b64token(token):  # checked once per token
            # A CR/LF would make http.client print the whole header, token included.
            raise OAuthFlowError('The OAuth 2.0 access token has characters a token cannot'
                                 ' have (RFC 6750: letters, digits, -._~+/=); it was not'
                                 ' sent. Check the configured or stored token.')
        self.last_token = token
        request.headers['Authorization'] = f'Bearer {token}'
        return request

    def renew_after_rejection(self) -> bool:
        """The wiki refused the last token: renew it once; False if it cannot be."""
        return self.last_token is not None and self.source.renew_after_rejection(self.last_token)

    def __len__(self) -> int:
        return 4

    def __repr__(self) -> str:
        return f'BearerAuth({self.source!r})'
