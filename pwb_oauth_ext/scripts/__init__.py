"""Pywikibot scripts shipped with pwb_oauth_ext: ``pwb oauth ...`` runs ``pwb-oauth ...``.

Pywikibot's ``pwb`` looks up the entry point ``pywikibot``/``scriptspath``, a
``pathlib.Path`` of a scripts folder, and then imports ``<path.stem>.i18n``
without error handling. This folder's own name, ``scripts``, would make that
``scripts.i18n``, which is not importable; ``path`` therefore reports its stem
as the dotted package name, so Pywikibot imports ``pwb_oauth_ext.scripts.i18n``
(a namespace package with no messages: Pywikibot keeps its own i18n).
"""
from __future__ import annotations

from pathlib import Path


class _ScriptsPath(type(Path())):  # type: ignore[misc]
    """A Path whose ``stem`` is the importable package name of the scripts folder."""

    @property
    def stem(self) -> str:
        return __name__


#: The value of the ``scriptspath`` entry point.
path = _ScriptsPath(__file__).parent
