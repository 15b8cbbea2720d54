"""What the request in flight is for: its site, and whether our auth stays off.

Set by the patched ``http.request``/``http.fetch``, by ``no_auth()`` and by
``deferred_login()``; read by ``SessionAuth`` and the patched login. Context
variables, each reset to what it was before (not to a default), so the context
managers nest; a new thread starts with the defaults, as a thread-local did.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: The site whose request is in flight (None: a request without a site).
site_in_flight: ContextVar[Any] = ContextVar('pwb_oauth_site_in_flight', default=None)
#: True inside ``no_auth()``: nothing of ours is attached.
auth_off: ContextVar[bool] = ContextVar('pwb_oauth_auth_off', default=False)
#: True inside ``deferred_login()``: ``Site()`` creation does not log in.
login_deferred: ContextVar[bool] = ContextVar('pwb_oauth_login_deferred', default=False)


@contextmanager
def _set(variable: ContextVar[Any], value: Any) -> Iterator[None]:
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


def for_site(site: Any) -> Any:
    """Within ``with for_site(site):`` requests are the site's (its account's entry)."""
    return _set(site_in_flight, site)


def no_auth() -> Any:
    """Within ``with no_auth():`` nothing of ours is attached (token endpoint requests)."""
    return _set(auth_off, True)


def deferred_login() -> Any:
    """Within ``with deferred_login():`` creating a site does not log in."""
    return _set(login_deferred, True)


def pywikibot_transport(url: str, data: dict[str, str], headers: dict[str, str]) -> Any:
    """POST a token request through Pywikibot's session (User-Agent, SSL, timeouts), no auth.

    Redirects are off: a 307/308 would re-POST the client secret, refresh token or
    code verifier to wherever it points (the caller turns a 3xx into an error).
    """
    from pywikibot.comms import http

    from pwb_oauth_ext.errors import OAuthFlowError
    with no_auth():
        response = http.fetch(url, method='POST', data=data, headers=headers,
                              default_error_handling=False, allow_redirects=False)
    if isinstance(response, Exception):
        raise OAuthFlowError(f'Cannot reach the OAuth 2.0 token endpoint {url}:'
                             f' {type(response).__name__}') from None
    return response
