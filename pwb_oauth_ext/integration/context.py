"""What the request in flight is for: its site, and whether our auth stays off.

Set by the patched ``http.request``/``http.fetch`` and by ``no_auth()``; read by ``SessionAuth``."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass



in_flight = threading.local()  # .site in flight; .no_auth; .defer_login


class NoAuth:
    """Within ``with no_auth():`` nothing of ours is attached (token endpoint requests)."""

    def __enter__(self) -> None:
        in_flight.no_auth = True

    def __exit__(self, *exc_info: Any) -> None:
        in_flight.no_auth = False


no_auth = NoAuth
