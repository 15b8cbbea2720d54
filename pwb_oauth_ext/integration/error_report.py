"""How a run that ends on one of our errors is reported: message, chain, traceback file.

The message is one line that names the fix. What led to it is not hidden: every
exception it was raised from or while handling (a bot's own RuntimeError before
our error in a ``finally``, say) gets one line, and the full traceback goes to
Pywikibot's log file when ``-log`` is on, otherwise to a file of its own (mode
0600) in the Pywikibot base directory's ``logs/``; the line before our message
names it, so the run still ends with the message and its fix.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

from pwb_oauth_ext.network.text import printable

#: The longest line shown for one exception of the chain (the traceback has all of it).
CHAIN_LINE_LIMIT = 300
#: The most exceptions of the chain shown, one line each.
CHAIN_LIMIT = 10


_OURS = str(Path(__file__).resolve().parents[1]) + os.sep
_SEPARATORS = {
    'caused by': '\nThe above exception was the direct cause of the following exception:\n\n',
    'raised while handling': '\nDuring handling of the above exception, another exception'
                             ' occurred:\n\n',
}


def _raised_outside_us(exc: BaseException) -> bool:
    """True when no frame of ``exc``'s traceback is in this package, nor any caller of the
    frame that caught it (a bot's own error, not one a library raised inside our call)."""
    tb = exc.__traceback__
    if tb is None:
        return True
    frame: Any = tb.tb_frame.f_back
    while frame is not None:
        if frame.f_code.co_filename.startswith(_OURS):
            return False
        frame = frame.f_back
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.startswith(_OURS):
            return False
        tb = tb.tb_next
    return True


def error_chain(exc: BaseException) -> list[tuple[str, BaseException]]:
    """``(how, exception)`` for each exception ``exc`` was raised from or while handling.

    Python's own chain, plus what our ``raise ... from None`` would hide although we did
    not raise it: an error of the bot in flight when one of ours was raised inside its
    ``finally`` (the internal exceptions we hid stay hidden: they may quote headers).
    """
    chain: list[tuple[str, BaseException]] = []
    seen = {id(exc)}
    current, hiding = exc, False
    while len(chain) < CHAIN_LIMIT:
        if current.__cause__ is not None:
            how, following, shown = 'caused by', current.__cause__, True
        elif current.__context__ is not None:
            how, following = 'raised while handling', current.__context__
            shown = not current.__suppress_context__
        else:
            break
        if id(following) in seen:
            break
        seen.add(id(following))
        hiding = hiding or not shown
        if not hiding or _raised_outside_us(following):
            chain.append(('raised while handling' if hiding else how, following))
        current = following
    return chain


def chain_lines(exc: BaseException) -> list[str]:
    """One line per exception of ``error_chain(exc)``, escaped and shortened."""
    lines = []
    for how, following in error_chain(exc):
        text = printable(str(following)).strip()
        if len(text) > CHAIN_LINE_LIMIT:
            text = text[:CHAIN_LINE_LIMIT] + '...'
        lines.append(f'  {how} {type(following).__name__}' + (f': {text}' if text else ''))
    return lines


def full_traceback(exc_type: type[BaseException], exc: BaseException, tb: Any) -> str:
    """The tracebacks of ``error_chain(exc)``, oldest first, then ``exc``'s own."""
    parts: list[str] = []
    for how, following in reversed(error_chain(exc)):
        parts += traceback.format_exception(type(following), following,
                                            following.__traceback__, chain=False)
        parts.append(_SEPARATORS[how])
    parts += traceback.format_exception(exc_type, exc, tb, chain=False)
    return ''.join(parts)


def pywikibot_log_file() -> str | None:
    """The file Pywikibot logs to (``-log``), or None when it writes no log file."""
    for handler in logging.getLogger('pywiki').handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def save_traceback(text: str, base_dir: str) -> str:
    """Write ``text`` to a new 0600 file in ``base_dir/logs``; its path."""
    folder = Path(base_dir) / 'logs'
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime('%Y%m%d-%H%M%S', time.gmtime())
    path = folder / f'pwb-oauth-error-{stamp}-{os.getpid()}.log'
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, 'w', encoding='utf-8') as handle:
        handle.write(text)
    return str(path)


def report_short(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    """Show our error's message and chain, and put its full traceback where the user is told."""
    import pywikibot
    from pywikibot import config

    full = full_traceback(exc_type, exc, tb)
    log_file = pywikibot_log_file()
    if log_file is not None:
        pywikibot.log(full)
        where = f'The full traceback is in the log file {log_file}'
    else:
        try:
            where = f'The full traceback is in {save_traceback(full, config.base_dir)}'
        except OSError as error:
            where = (f'The full traceback could not be saved ({error.strerror or error});'
                     ' run with -debug to see it')
    lines = [printable(line) for line in str(exc).split('\n')]
    pywikibot.info(f'{where}.')   # first: the run still ends with our message and its fix
    pywikibot.error('\n'.join([*lines, *chain_lines(exc)]))
