"""What the OAuth 1.0a provider stores: consumers ("Connected Apps"), request and access tokens."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class OAuth1Consumer:
    """A registered OAuth 1.0a consumer ("Connected App"); secrets stay out of repr."""

    consumer_key: str
    consumer_secret: str = field(repr=False)
    owner: str
    name: str
    owner_only: bool
    callback: str | None
    grants: list[str]
    access_token: str | None = None
    access_secret: str | None = field(default=None, repr=False)


@dataclass
class RequestToken:
    key: str
    secret: str = field(repr=False)
    consumer_key: str
    verifier: str | None = field(default=None, repr=False)
    user: str | None = None
    used: bool = False


@dataclass
class AccessToken:
    key: str
    secret: str = field(repr=False)
    consumer_key: str
    user: str

