"""What ``enable()`` was told: handed to the integration, never read back from a module."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: user-config.py imports this on every start
    from typing import Any


class Settings:
    """The options of ``enable()``; None means "not given" (the default applies).

    ``token_store`` is a file path (expanded), a database URL or a secret
    reference; ``token_store_password`` a string or a secret reference;
    ``password_login`` False when no password login may ever be attempted;
    ``accept_pywikibot`` a Pywikibot version outside the tested range the operator accepts.
    Immutable: a later ``enable(...)`` makes a new one with ``updated``.
    """

    __slots__ = ('accept_pywikibot', 'password_login', 'token_store', 'token_store_password')
    token_store: Any
    token_store_password: Any
    password_login: bool | None
    accept_pywikibot: Any

    def __init__(self, token_store: Any = None, token_store_password: Any = None,
                 password_login: bool | None = None, accept_pywikibot: Any = None) -> None:
        object.__setattr__(self, 'token_store', token_store)
        object.__setattr__(self, 'token_store_password', token_store_password)
        object.__setattr__(self, 'password_login', password_login)
        object.__setattr__(self, 'accept_pywikibot', accept_pywikibot)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError('Settings are immutable')

    def updated(self, newer: Settings) -> Settings:
        """These settings with every option ``newer`` gives (enable() called again)."""
        return Settings(
            self.token_store if newer.token_store is None else newer.token_store,
            self.token_store_password if newer.token_store_password is None
            else newer.token_store_password,
            self.password_login if newer.password_login is None else newer.password_login,
            self.accept_pywikibot if newer.accept_pywikibot is None
            else newer.accept_pywikibot)

    @property
    def passwords_allowed(self) -> bool:
        """False after ``enable(password_login=False)``: never a password login."""
        return self.password_login is not False

    @property
    def store_is_url(self) -> bool:
        """True for a database URL (``postgresql://...``), False for a file or the default."""
        return isinstance(self.token_store, str) and '://' in self.token_store

    def __repr__(self) -> str:   # names what is set, never a password
        store = 'default' if self.token_store is None else type(self.token_store).__name__
        password = 'set' if self.token_store_password is not None else 'unset'
        logins = '' if self.password_login is None else f', password_login={self.password_login}'
        return f'Settings(token_store={store}, token_store_password={password}{logins})'
