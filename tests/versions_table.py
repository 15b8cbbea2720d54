"""The supported-versions table of docs/reference/versions.md, as the tests read it.

Each row is one environment of tox's ``compat`` label: a Pywikibot release, the
pywikibot-scripts release installed with it, the Python it runs on, and what that
release cannot do (limitation ids, each explained in the page's second table and
pinned by a test that expects it). ``child_pywikibot()`` is the release the test
subprocesses run, so a test asks ``limited('fetch-auth')`` instead of comparing
version strings.
"""
from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

from conftest import PYWIKIBOT_PYTHON

PAGE = Path(__file__).resolve().parents[1] / 'docs' / 'reference' / 'versions.md'
TOX_INI = Path(__file__).resolve().parents[1] / 'tox.ini'

#: Every limitation id the page may use, and the test that pins it.
LIMITATIONS = {
    'fetch-auth': 'tests/test_dropin.py::test_fetch_auth_none_sends_nothing_and_an_auth_object'
                  '_is_used_as_given',
    'pwb-wrapper': 'tests/test_dropin.py::test_pwb_login_script_logs_in_through_it',
}


class Row(NamedTuple):
    pywikibot: str
    scripts: str
    python: str
    env: str
    cannot: tuple[str, ...]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip('|').split('|')]


def table_after(heading: str, text: str) -> list[list[str]]:
    """The body rows of the first Markdown table after the line ``heading``."""
    lines = text.splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith('|'):
            rows.append(_cells(line))
        elif rows:
            break
    return rows[2:]   # header and separator


@functools.cache
def rows() -> tuple[Row, ...]:
    found = []
    for cells in table_after('## Tested releases', PAGE.read_text(encoding='utf-8')):
        pywikibot, scripts, python, env, cannot = cells
        ids = tuple(re.findall(r'`([a-z-]+)`', cannot))
        found.append(Row(pywikibot, scripts, python, env.strip('`'), ids))
    return tuple(found)


def limitation_ids() -> list[str]:
    """The ids explained in the page's ``## What a release cannot do`` table."""
    table = table_after('## What a release cannot do', PAGE.read_text(encoding='utf-8'))
    return [cells[0].strip('`') for cells in table]


@functools.cache
def child_pywikibot() -> str:
    """The Pywikibot release the test subprocesses run (``PWB_OAUTH_TEST_PYTHON``)."""
    return subprocess.run(
        [PYWIKIBOT_PYTHON, '-c',
         'from importlib.metadata import version; print(version("pywikibot"))'],
        capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def row_of(version: str) -> Row | None:
    return next((row for row in rows() if row.pywikibot == version), None)


def limited(limitation: str) -> bool:
    """True when the page says the child's Pywikibot cannot do ``limitation``.

    A release not in the table (the suite run with another Pywikibot) falls back
    to the row of its minor release; failing that, to the newest row.
    """
    assert limitation in LIMITATIONS, limitation
    version = child_pywikibot()
    minor = version.rsplit('.', 1)[0]
    row = row_of(version) or next(
        (r for r in rows() if r.pywikibot.rsplit('.', 1)[0] == minor), rows()[-1])
    return limitation in row.cannot
