"""Recorded exchanges with placeholders (``<name>``): fill a template, match an answer.

Shared by the replay tests of the single-wiki packs (tests/test_testwiki_oauth2.py) and of
the farm (tests/test_farm_replay.py), which differ only in what counts as a placeholder.
"""
from __future__ import annotations

import re

PLACEHOLDER = re.compile(r'<[a-z_0-9]+>')


def fill(template: str, bindings: dict[str, str], placeholder: re.Pattern[str] = PLACEHOLDER,
         ) -> str:
    """``template`` with each placeholder replaced by its bound value."""
    def value(match: re.Match[str]) -> str:
        name = match.group(0)
        assert name in bindings, f'unbound placeholder {name}'
        return bindings[name]
    return placeholder.sub(value, template)


def match_and_bind(template: str, actual: str, bindings: dict[str, str],
                   placeholder: re.Pattern[str] = PLACEHOLDER) -> None:
    """``actual`` must equal ``template`` with its placeholders; unbound ones are bound."""
    pattern, seen, pos = '', {}, 0
    for match in placeholder.finditer(template):
        pattern += re.escape(template[pos:match.start()])
        name = match.group(0)
        if name in bindings:
            pattern += re.escape(bindings[name])
        elif name in seen:
            pattern += f'(?P={seen[name]})'
        else:
            seen[name] = f'g{len(seen)}'
            pattern += f'(?P<{seen[name]}>[^&"\\s]+?)'
        pos = match.end()
    pattern += re.escape(template[pos:])
    found = re.fullmatch(pattern, actual)
    assert found, f'{actual!r} does not match recorded {template!r}'
    for name, group in seen.items():
        bindings[name] = found.group(group)
