"""Errors of the core, free of Pywikibot so user-config.py can raise them early.

The adapter turns wiki-side failures into Pywikibot exception subclasses;
these are for bad configuration and local problems.
"""
from __future__ import annotations


class OAuthExtError(Exception):
    """Base class of every error this package raises itself."""


class ConfigError(OAuthExtError, ValueError):
    """A config entry (``authenticate[...]``, a secret reference) is unusable.

    The message names the config key and says how to fix it; it never
    contains the secret.
    """


class TokenStoreError(OAuthExtError):
    """The token store file cannot be read, trusted or written."""


class OAuthFlowError(OAuthExtError):
    """A token endpoint or handshake step failed (bad grant, bad verifier...)."""
