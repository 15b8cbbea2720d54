"""Install the Pywikibot adapter as soon as Pywikibot's site module has loaded.

``enable()`` runs in user-config.py while Pywikibot is half imported, so it
may not import Pywikibot (nor the adapter, which needs it): it arms a
``sys.meta_path`` finder that wraps the loading of ``pywikibot.site._apisite``
and installs the adapter right after that module has executed.
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: keep the import cheap
    from typing import Any

    from pwb_oauth_ext.config.settings import Settings

WATCHED_MODULE = 'pywikibot.site._apisite'


class _InstallAfterImport:
    """A meta path finder that only decorates the watched module's loader.

    It holds the settings of ``enable()`` until the integration is installed with them.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != WATCHED_MODULE:
            return None
        import importlib.util
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_then_install(module: Any) -> None:
            exec_module(module)
            disarm()
            from pwb_oauth_ext.integration import install
            install.install(self.settings)
        spec.loader.exec_module = exec_then_install  # type: ignore[method-assign]
        return spec


def arm(settings: Settings) -> None:
    """Install now if Pywikibot's site module is loaded, else right after it loads."""
    module = sys.modules.get(WATCHED_MODULE)
    if module is not None and hasattr(module, 'APISite'):
        from pwb_oauth_ext.integration import install
        install.install(settings)
        return
    finder = next((f for f in sys.meta_path if isinstance(f, _InstallAfterImport)), None)
    if finder is None:
        sys.meta_path.insert(0, _InstallAfterImport(settings))
    else:   # enable() called again before Pywikibot's site module loaded
        finder.settings = finder.settings.updated(settings)


def disarm() -> None:
    """Remove the finder (the adapter, if installed, stays)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _InstallAfterImport)]
