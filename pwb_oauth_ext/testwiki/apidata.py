"""The real wiki's own answers to paraminfo and siteinfo, per MediaWiki version.

``data/mw-<version>/`` holds the whole ``action=paraminfo&modules=*|query+*`` and
``meta=siteinfo`` answers recorded from MediaWiki 1.39 and 1.43 (formatversion=2; rebuilt
by ``tools/build_testwiki_data.py``). They are parsed once per version and served with
the recorded server URL replaced by the live one.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).with_name('data')

_lock = threading.Lock()
_parsed: dict[tuple[str, str, str], Any] = {}


def recorded(version: str, name: str, server_url: str) -> Any:
    """``data/mw-<version>/<name>.json`` for a wiki at ``server_url``; shared, do not mutate."""
    key = (version, name, server_url)
    with _lock:
        if key not in _parsed:
            text = (DATA_DIR / f'mw-{version}' / f'{name}.json').read_text(encoding='utf-8')
            server = json.loads(text)['server']
            _parsed[key] = json.loads(text.replace(server, server_url))
        return _parsed[key]


def formatversion1(value: Any) -> Any:
    """formatversion=2 booleans as formatversion=1 writes them: true is '', false is absent."""
    if isinstance(value, dict):
        return {k: ('' if v is True else formatversion1(v))
                for k, v in value.items() if v is not False}
    if isinstance(value, list):
        return [formatversion1(item) for item in value]
    return value


def expand_modules(version: str, wanted: list[str], server_url: str) -> list[str]:
    """Module paths with MediaWiki's wildcards: '*' (every action and format module) and
    'query+*' (every query submodule), in the order MediaWiki lists them."""
    known = recorded(version, 'paraminfo', server_url)['modules']
    paths: list[str] = []
    for path in wanted:
        if path == '*':
            paths += sorted(p for p in known if '+' not in p and p != 'main')
        elif path.endswith('+*'):
            parent = path[:-1]
            paths += sorted(p for p in known if p.startswith(parent) and '+' not in
                            p[len(parent):])
        else:
            paths.append(path)
    return paths


def paraminfo_module(version: str, path: str, server_url: str, *, fv2: bool,
                     high_limits: bool) -> dict[str, Any] | None:
    """One module's paraminfo as the wiki gives it to this caller, or None if unknown.

    For multi-value parameters MediaWiki reports ``limit`` as the caller's own limit:
    ``highlimit`` with the apihighlimits right, else ``lowlimit``.
    """
    module = recorded(version, 'paraminfo', server_url)['modules'].get(path)
    if module is None:
        return None
    parameters = []
    for parameter in module.get('parameters', []):
        if 'limit' in parameter and 'highlimit' in parameter:
            parameter = dict(parameter, limit=parameter['highlimit' if high_limits
                                                        else 'lowlimit'])
        parameters.append(parameter)
    module = dict(module, parameters=parameters)
    return module if fv2 else formatversion1(module)
