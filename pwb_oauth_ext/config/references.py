"""Secret references: keep secrets out of user-config.py.

``env('NAME')``, ``file('~/path')`` and ``keyring('service', 'name')`` can
stand wherever a secret goes in a credential. They are resolved at first use
(not when user-config.py runs), and an unresolvable reference is an error that
names the config key and the reference, never a value.
"""
from __future__ import annotations

import os
import stat

from pwb_oauth_ext.config.file_modes import others_may_access
from pwb_oauth_ext.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: keep the import cheap
    from typing import Union

    Secret = Union[str, 'SecretRef']


def has_control_character(text: str) -> bool:
    """True when ``text`` holds a control character (C0, DEL, C1: CR and LF among them).

    Such a secret would break the HTTP header it goes into, and http.client's
    error names the whole header, secret included, on the console and in logs.
    """
    return any(ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f for ch in text)


def resolve_secret(value: Secret, config_key: str) -> str:
    """The secret's text; references are fetched now (first use)."""
    if isinstance(value, SecretRef):
        return value.resolve(config_key)
    return value


class SecretRef:
    """Where a secret lives; ``resolve()`` fetches it."""

    def describe(self) -> str:
        """A safe text naming the reference (not its value)."""
        raise NotImplementedError

    def fetch(self) -> str | None:
        """Return the secret, or None when the source has no such entry."""
        raise NotImplementedError

    def resolve(self, config_key: str) -> str:
        """Return the secret; ConfigError naming ``config_key`` when missing or empty."""
        try:
            value = self.fetch()
        except ConfigError as exc:
            raise ConfigError(f'authenticate[{config_key!r}]: {exc}',
                              config_key=config_key) from None
        if value is None or not value.strip():
            raise ConfigError(
                f'authenticate[{config_key!r}]: {self.describe()} gives no secret'
                f' ({self.missing_hint()})', config_key=config_key)
        value = value.strip()
        if has_control_character(value):
            raise ConfigError(
                f'authenticate[{config_key!r}]: {self.describe()} gives a value with a'
                ' control character (a second line?); a secret is one line of text. Fix'
                ' the source of the reference.', config_key=config_key)
        return value

    def missing_hint(self) -> str:
        """How to provide the secret."""
        return 'set it, or fix the reference'

    def __repr__(self) -> str:
        return self.describe()


class env(SecretRef):  # noqa: N801 - reads as a config function: _oauth.env('NAME')
    """A secret held in an environment variable."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError('env(...) needs the name of an environment variable')
        self.name = name

    def describe(self) -> str:
        return f'env({self.name!r})'

    def fetch(self) -> str | None:
        return os.environ.get(self.name)

    def missing_hint(self) -> str:
        return f'the environment variable {self.name} is not set or empty'


class file(SecretRef):  # noqa: N801
    """A secret held in a file that only its owner can read."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.expanduser(os.fspath(path))

    def describe(self) -> str:
        return f'file({self.path!r})'

    def fetch(self) -> str | None:
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            return None
        if others_may_access(mode):
            raise ConfigError(
                f'{self.describe()}: the secret file is open to other users (mode'
                f' {stat.S_IMODE(mode):04o}; group and others may have no permission at'
                f' all); fix it with: chmod 600 {self.path}')
        with open(self.path, encoding='utf-8') as handle:
            return handle.read()

    def missing_hint(self) -> str:
        return f'create {self.path} with the secret, mode 0600'


class keyring(SecretRef):  # noqa: N801
    """A secret held in the system keyring (needs the optional ``keyring`` package)."""

    def __init__(self, service: str, name: str) -> None:
        self.service = service
        self.name = name

    def describe(self) -> str:
        return f'keyring({self.service!r}, {self.name!r})'

    def fetch(self) -> str | None:
        try:
            import keyring as keyring_module
        except ImportError:
            raise ConfigError(
                f'{self.describe()} needs the keyring package:'
                ' pip install "pwb_oauth_ext[keyring]"') from None
        try:
            return keyring_module.get_password(self.service, self.name)
        except Exception as exc:  # backends raise their own types
            raise ConfigError(f'{self.describe()}: the keyring failed'
                              f' ({type(exc).__name__})') from None

    def missing_hint(self) -> str:
        return (f'store it with: keyring set {self.service} {self.name}')

