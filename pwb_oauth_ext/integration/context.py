"""What the request in flight is for: its site, and whether our auth stays off.

Set by the patched ``http.request``/``http.fetch`` and by ``no_auth()``; read by ``SessionAuth``."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass



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


in_flight = threading.local()  # .site in flight; .no_auth; .defer_login


class NoAuth:
    """Within ``with no_auth():`` nothing of ours is attached (token endpoint requests)."""

    def __enter__(self) -> None:
        in_flight.no_auth = True

    def __exit__(self, *exc_info: Any) -> None:
        in_flight.no_auth = False


no_auth = NoAuth
