"""The OAuth 1.0a identity check: exact refusals, exact edges.

Pinned where a mutation run found it unpinned: the 30 s leeway is inclusive, every refusal
says what is wrong in full, and the issuer comparison ignores a trailing dot and the case
of the host. ``iat`` and ``exp`` are judged by the clock given as ``now=`` (the real one by
default), so the tokens are dated when each test runs (``now()``), never at collection.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import jwt
import pytest

from pwb_oauth_ext.protocol.oauth1 import (
    IdentityVerificationError,
    same_server,
    verify_identity,
)

SERVER = 'https://wiki.example.org'
KEY = 'c0nsumerkey'
SECRET = 'c0nsumersecret-of-at-least-32-bytes-length'


def now() -> int:
    return int(time.time())


def token(**changes: Any) -> str:
    base = now()
    claims = {'iss': SERVER, 'aud': KEY, 'iat': base, 'exp': base + 100, 'sub': '4',
              'username': 'Bot', 'nonce': 'n0nce'}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET,
                      algorithm='HS256')


def verify(jwt_text: str, at: float | None = None) -> dict[str, Any]:
    return verify_identity(jwt_text, consumer_key=KEY, consumer_secret=SECRET, server=SERVER,
                           nonce='n0nce', now=at)


def test_the_clock_given_is_the_one_used_for_iat() -> None:
    base = now()
    assert verify(token(iat=base - 100))['username'] == 'Bot'
    with pytest.raises(IdentityVerificationError) as info:
        verify(token(iat=base - 100), at=base - 200)   # a caller whose clock is behind
    assert str(info.value) == FUTURE


def test_the_leeway_of_30_s_is_inclusive_for_a_future_iat() -> None:
    base = now()
    assert verify(token(iat=base + 30), at=base)['username'] == 'Bot'
    with pytest.raises(IdentityVerificationError):
        verify(token(iat=base + 31), at=base)


EXPIRED = ("The identity answer from the wiki has expired: check this computer's clock (NTP)"
           ' and try again.')
FUTURE = ('The identity answer from the wiki is dated in the future: check this'
          " computer's clock (NTP) and try again.")


@pytest.mark.parametrize(('make', 'message'), [
    (lambda: token(iat=now() + 120, exp=now() + 220), FUTURE),
    (lambda: token(aud='someone-else'), 'The identity answer from the wiki was issued for another'
                                ' consumer (aud does not match the consumer key).'),
    (lambda: jwt.encode({'iss': SERVER, 'aud': KEY, 'iat': now(), 'exp': now() + 100,
                         'username': 'Bot', 'nonce': 'n0nce'},
                        'another-secret-of-32-bytes-or-more!!', algorithm='HS256'),
     'The identity answer from the wiki has a bad signature: the consumer secret is wrong,'
     ' or the answer was altered on the way.'),
    (lambda: 'not.a.jwt', 'The identity answer from the wiki is not a valid JWT (DecodeError).'),
    (lambda: token(nonce='other'), 'The identity answer does not answer our request (nonce'
                           ' mismatch): it may have been replayed.'),
    (lambda: token(nonce=None), 'The identity answer does not answer our request (nonce'
                        ' mismatch): it may have been replayed.'),
    (lambda: token(username=''), 'The identity answer names no user.'),
    (lambda: token(iss='https://evil.example'), None),
])
def test_each_refusal_says_what_is_wrong(make: Callable[[], str], message: str | None) -> None:
    with pytest.raises(IdentityVerificationError) as info:
        verify(make())
    if message is not None:
        assert str(info.value) == message
    assert SECRET not in str(info.value)


def test_an_expired_answer() -> None:
    with pytest.raises(IdentityVerificationError) as info:
        verify(token(iat=now() - 200, exp=now() - 31))
    assert str(info.value) == EXPIRED


def test_the_clock_given_is_the_one_used_for_exp() -> None:
    """iat and exp are judged by one clock, the caller's (not PyJWT's own time.time())."""
    base = now()
    answer = token(iat=base - 1000, exp=base - 900)   # expired by the real clock
    assert verify(answer, at=base - 950)['username'] == 'Bot'
    fresh = token(iat=base, exp=base + 100)
    with pytest.raises(IdentityVerificationError) as info:
        verify(fresh, at=base + 130)                  # expired by the caller's clock
    assert str(info.value) == EXPIRED
    assert verify(fresh, at=base + 129)['username'] == 'Bot'   # within the 30 s leeway


@pytest.mark.parametrize(('issuer', 'server', 'same'), [
    ('https://Wiki.Example.org.', 'http://wiki.example.org', True),
    ('https://wiki.example.org:443', 'wiki.example.org', True),
    ('wiki.example.org', 'https://wiki.example.org/', True),
    ('https://wiki.example.org:8443', 'https://wiki.example.org', False),
    ('https://wiki.example.org', 'https://other.example.org', False),
])
def test_same_server(issuer: str, server: str, same: bool) -> None:
    assert same_server(issuer, server) is same
