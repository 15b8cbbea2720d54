"""Text we did not write, made safe to print on a terminal.

A wiki, a redirect, a file or a user can put terminal control sequences in
what we echo (``error_description``, API messages, user and consumer names):
``ESC ] 0 ; ...`` retitles the window, ``ESC [ 2K`` erases the line, a CR
overwrites it. ``printable`` turns every such character into a visible
``\\xNN`` escape and keeps all printable Unicode as it is.

Standard library only; cheap to import.
"""
from __future__ import annotations

import re

#: C0 controls (CR, LF, TAB and ESC included), DEL, C1 controls (CSI U+009B, OSC U+009D),
#: and the invisible characters that reorder or break what a terminal shows (bidi
#: embeddings, overrides and isolates, line and paragraph separators).
_UNSAFE = re.compile('[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]')


def _escape(found: re.Match) -> str:
    code = ord(found.group())
    return f'\\x{code:02x}' if code <= 0xff else f'\\u{code:04x}'


def printable(text: object) -> str:
    """``str(text)`` with every control character shown as ``\\xNN`` (or ``\\uNNNN``)."""
    value = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_escape, value)
