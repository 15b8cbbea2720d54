"""Shared fixtures: a running test wiki with a bot, and real Pywikibot runs against it.

Pywikibot runs in a subprocess (it reads its configuration once per process), with
``sys.executable`` unless ``PWB_OAUTH_TEST_PYTHON`` names another interpreter (a local
check against another Pywikibot release; tox runs one Pywikibot per environment).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable, Union

import pytest

from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.pywikibot_env import run_pywikibot, write_pywikibot_dir
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

#: The test wiki's fixtures (test_wiki, test_wiki_session) and its marker, as bot authors use them.
pytest_plugins = ['pwb_oauth_ext.testwiki.pytest_plugin']



def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        'markers', 'contract: pins what the plugin changes in Pywikibot; tox -m compat runs'
        ' these against every supported Pywikibot release (docs/reference/versions.md)')


#: The interpreter that runs Pywikibot in the subprocesses.
PYWIKIBOT_PYTHON = os.environ.get('PWB_OAUTH_TEST_PYTHON') or sys.executable
#: Exchanges recorded from a real MediaWiki 1.39 + Extension:OAuth: shared/mediawiki-oauth
#: beside the checkout (where CI puts it), or $PWB_OAUTH_RECORDINGS. Tests comparing the
#: test wiki with them skip when they are absent.
RECORDED = Path(os.environ.get('PWB_OAUTH_RECORDINGS')
                or Path(__file__).resolve().parents[1].parent / 'shared' / 'mediawiki-oauth')


def recorded(name: str, mediawiki: str = '1.39') -> dict:
    """One recorded exchange file; the calling test skips when the recordings are absent.

    ``mediawiki='1.43'`` reads mw-1.43/ when it has that exchange; the others hold on 1.43
    as recorded on 1.39 (mw-1.43/README.md).
    """
    path = RECORDED / name
    if mediawiki != '1.39' and (RECORDED / f'mw-{mediawiki}' / name).exists():
        path = RECORDED / f'mw-{mediawiki}' / name
    if not path.exists():
        pytest.skip(f'recorded data {name} not available')
    return json.loads(path.read_text(encoding='utf-8'))

#: What a bot run prints before its JSON result (``print(RESULT + json.dumps(...))``).
def serve_database(kind: type) -> Iterator[Any]:
    """A database server of ``kind`` (testwiki.databases) on loopback; skipped if not installed."""
    from pwb_oauth_ext.testwiki import databases
    try:
        server = kind()
    except databases.ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.close()


RESULT = 'RESULT '


def result_of(run: Union[subprocess.CompletedProcess[str], subprocess.Popen[str]],
              timeout: float = 300) -> Any:
    """The result a bot run printed; fails with the run's output if there is none.

    A still running ``Popen`` (text mode, pipes) is waited for first.
    """
    if isinstance(run, subprocess.Popen):
        stdout, stderr = run.communicate(timeout=timeout)
    else:
        stdout, stderr = run.stdout, run.stderr
    for line in stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    raise AssertionError(f'no result (exit {run.returncode})\nstdout:\n{stdout}\n'
                         f'stderr:\n{(stderr or "")[-3000:]}')


def save_page_bot(summary: str, result: str = 'site.user()') -> str:
    """Bot code: log in, save ``argv[2]`` as the page ``argv[1]``, print RESULT + ``result``."""
    return f'''
import json, sys
import pywikibot
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, sys.argv[1])
page.text = sys.argv[2]
page.save(summary={summary!r})
print({RESULT!r} + json.dumps({result}))
'''


#: The lines that turn the plugin on in user-config.py.
ENABLE_LINES = ('import pwb_oauth_ext as _oauth', '_oauth.enable()')

PwbDirFactory = Callable[..., Path]
RunPwb = Callable[..., 'subprocess.CompletedProcess[str]']


def oauth1_tuple(consumer: OAuth1Consumer) -> str:
    """The 4-tuple of ``consumer`` as Python source, for an ``authenticate`` line."""
    return repr((consumer.consumer_key, consumer.consumer_secret,
                 consumer.access_token, consumer.access_secret))


def authenticate_line(key: str, consumer: OAuth1Consumer) -> str:
    """``authenticate[key] = (ck, cs, ak, as)`` for ``consumer``."""
    return f'authenticate[{key!r}] = {oauth1_tuple(consumer)}'


@pytest.fixture(scope='module')
def wiki() -> Iterator[RunningWiki]:
    """One wiki per test module, with ``BotUser`` in the bot group.

    Tests share it: give each test its own page titles, bots and consumers.
    """
    with run_test_wiki() as running:
        running.app.add_bot('BotUser')
        yield running


@pytest.fixture(scope='module')
def oauth1_consumer(wiki: RunningWiki) -> OAuth1Consumer:
    """An owner-only OAuth 1.0a consumer of BotUser (key, secret and access token)."""
    return wiki.app.register_oauth1_consumer('BotUser', owner_only=True)


@pytest.fixture
def pwb_dir_factory(wiki: RunningWiki,
                    tmp_path_factory: pytest.TempPathFactory) -> PwbDirFactory:
    """Make a fresh Pywikibot dir for ``wiki`` with the plugin enabled in user-config.py.

    ``factory(authenticate_lines, username='BotUser', extra_lines=(), enable=True)``:
    ``authenticate_lines`` are written after ``import pwb_oauth_ext as _oauth`` and
    ``_oauth.enable()`` (so they may use ``_oauth.OAuth1(...)``); ``username=None`` leaves
    ``usernames`` unset; ``enable=False`` writes neither line (the plugin is only installed).
    """
    def factory(authenticate_lines: Sequence[str], username: str | None = 'BotUser',
                extra_lines: Sequence[str] = (), *, enable: bool = True) -> Path:
        directory = tmp_path_factory.mktemp('pwb')
        prelude = ENABLE_LINES if enable else ()
        return write_pywikibot_dir(directory, wiki, username=username,
                                   authenticate_lines=[*prelude, *authenticate_lines],
                                   extra_lines=list(extra_lines))
    return factory


@pytest.fixture
def run_pwb() -> RunPwb:
    """``run_pwb(code, pwb_dir, *args)``: ``python -c code *args`` with that PYWIKIBOT_DIR.

    ``code=None`` runs ``python *args`` instead (e.g. ``'-m', 'pywikibot.scripts.wrapper',
    'login'``). Returns the CompletedProcess (text stdout/stderr; not checked).
    """
    def run(code: str | None, pwb_dir: Path, *args: str,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = list(args) if code is None else ['-c', code, *args]
        return run_pywikibot(argv, pwb_dir, python=PYWIKIBOT_PYTHON, timeout=timeout)
    return run
