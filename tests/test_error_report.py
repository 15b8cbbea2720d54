"""A run that ends on one of our errors shows what led to it and says where the traceback
went (issue 20, item 4): a real bot script run by Pywikibot's ``pwb`` wrapper.
"""
from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import PwbDirFactory, RunPwb, authenticate_line

from pwb_oauth_ext.integration.error_report import chain_lines
from pwb_oauth_ext.network.hosts import split_url
from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.server import RunningWiki

PWB = 'import sys; from pywikibot.scripts.wrapper import run; sys.exit(run())'

#: The bot's own failure, then one of ours while the finally block cleans up.
CHAINED_BOT = '''
import pywikibot
from pywikibot.comms import http


def main():
    site = pywikibot.Site()
    site.login()
    try:
        raise RuntimeError('the bot broke at step 3')
    finally:
        http.fetch('http://127.0.0.2:9/cleanup')   # its entry has no stored token: our error


main()
'''
OUR_ERROR = 'has no access token and no grant'
CHAIN_LINE = '  raised while handling RuntimeError: the bot broke at step 3'


def console(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def bot_dir(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
            pwb_dir_factory: PwbDirFactory) -> Path:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer),
                               "authenticate['127.0.0.2'] = _oauth.OAuth1('ck-chain', 'cs-chain')"])
    (pwb_dir / 'chained.py').write_text(CHAINED_BOT, encoding='utf-8')
    return pwb_dir


def _full_traceback_checks(text: str) -> None:
    assert 'Traceback (most recent call last)' in text
    assert 'RuntimeError: the bot broke at step 3' in text
    assert 'During handling of the above exception, another exception occurred' in text
    assert OUR_ERROR in text


def test_without_log_the_chain_is_shown_and_the_traceback_saved_to_a_named_file(
        bot_dir: Path, run_pwb: RunPwb) -> None:
    result = run_pwb(PWB, bot_dir, 'chained')
    text = console(result)
    assert result.returncode == 1, text
    assert 'Traceback' not in text and 'CRITICAL' not in text, text
    lines = text.splitlines()
    ours = next(index for index, line in enumerate(lines) if line.startswith('ERROR: '))
    assert OUR_ERROR in lines[ours]
    assert lines[ours + 1:] == [CHAIN_LINE], lines   # the run ends with the message and chain
    found = re.search(r'^The full traceback is in (\S+)\.$', lines[ours - 1])
    assert found, lines
    saved = Path(found.group(1))
    assert saved.parent == bot_dir / 'logs' and saved.is_file()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    _full_traceback_checks(saved.read_text(encoding='utf-8'))


def test_with_log_the_traceback_is_in_the_log_file_it_names(bot_dir: Path,
                                                             run_pwb: RunPwb) -> None:
    result = run_pwb(PWB, bot_dir, '-log:chained.log', 'chained')
    text = console(result)
    assert result.returncode == 1, text
    assert 'Traceback' not in text, text
    assert CHAIN_LINE in text.splitlines()
    log_file = bot_dir / 'logs' / 'chained.log'
    assert f'The full traceback is in the log file {log_file}.' in text
    _full_traceback_checks(log_file.read_text(encoding='utf-8'))
    assert not list((bot_dir / 'logs').glob('pwb-oauth-error-*'))


def test_chain_lines_name_causes_and_contexts_once_each() -> None:
    try:
        try:
            try:
                raise KeyError('inner')
            except KeyError as exc:
                raise ValueError('middle\x1b[2K\nline') from exc
        finally:
            raise OSError('outer')
    except OSError as exc:
        outer = exc
    assert chain_lines(outer) == ["  raised while handling ValueError: middle\\x1b[2K\\x0aline",
                                  "  caused by KeyError: 'inner'"]
    try:
        try:
            split_url('http://[broken')      # raised inside the plugin: stays hidden
        except ValueError:
            raise LookupError('ours') from None
    except LookupError as exc:
        assert chain_lines(exc) == []


def test_with_debug_the_traceback_shows_the_bots_own_error_too(bot_dir: Path,
                                                                run_pwb: RunPwb) -> None:
    result = run_pwb(PWB, bot_dir, '-debug', 'chained')
    assert result.returncode == 1, console(result)
    _full_traceback_checks(result.stderr)
