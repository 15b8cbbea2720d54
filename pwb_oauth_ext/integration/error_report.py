"""How a run that ends on one of our errors is reported: message, chain, traceback file.

The message is one line that names the fix. What led to it is not hidden: every
exception it was raised from or while handling (a bot's own RuntimeError before
our error in a ``finally``, say) gets one line, and the full traceback goes to
Pywikibot's log file when ``-log`` is on, otherwise to a file of its own (mode
0600) in the Pywikibot base directory's ``logs/``; the last line names it.
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


def chain_lines(exc: BaseException) -> list[str]:
    """One line per exception ``exc`` was raised from (``caused by``) or while handling."""
    lines: list[str] = []
    seen = {id(exc)}
    current: BaseException | None = exc
    while current is not None and len(lines) < CHAIN_LIMIT:
        if current.__cause__ is not None:
            label, following = 'caused by', current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            label, following = 'raised while handling', current.__context__
        else:
            break
        if id(following) in seen:
            break
        seen.add(id(following))
        text = printable(str(following)).strip()
        if len(text) > CHAIN_LINE_LIMIT:
            text = text[:CHAIN_LINE_LIMIT] + '...'
        lines.append(f'  {label} {type(following).__name__}' + (f': {text}' if text else ''))
        current = following
    return lines


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

    full = ''.join(traceback.format_exception(exc_type, exc, tb))
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
    pywikibot.error('\n'.join([*lines, *chain_lines(exc)]))
    pywikibot.info(f'{where}.')
