"""Who else may open a file: the one rule for files that hold secrets.

The token store (file or SQLite database), ``file()`` secret references and
``pwb-oauth check`` refuse or report a file whose POSIX mode gives group or
others any access; user-config.py is only warned about when they may read it.
On Windows, modes do not tell (the profile ACLs do), so nothing counts there.
"""
from __future__ import annotations

import os
import stat

#: Any permission for group or others (what ``chmod 600`` removes).
OTHERS_ANY_ACCESS = stat.S_IRWXG | stat.S_IRWXO
#: Read permission for group or others.
OTHERS_READ = stat.S_IRGRP | stat.S_IROTH


def others_may_access(mode: int, bits: int = OTHERS_ANY_ACCESS) -> bool:
    """True when ``mode`` (an ``st_mode``) gives group or others one of ``bits`` (POSIX)."""
    return os.name == 'posix' and bool(mode & bits)
