"""Pywikibot's everyday scripts (the pywikibot-scripts package) against the seeded test wiki.

Each runs as a user runs it, ``pwb <script> ...`` in a subprocess with the Pywikibot
directory ``pwb-oauth testwiki`` writes (OAuth 2.0 owner-only token active), and must
exit 0, print no traceback, send no password, and leave the page text it should.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYWIKIBOT_PYTHON
from versions_table import limited

from pwb_oauth_ext.commands.testwiki import ACTIVE_KIND, activate, pywikibot_directory
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment
from pwb_oauth_ext.testwiki.seed import STANDARD_PAGES
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

pytest.importorskip('pywikibot_scripts')

PWB = 'import sys\nfrom pywikibot.scripts.wrapper import run\nsys.exit(run())'
#: ``python -c SCRIPT_MODULE module args``: a script run as a module, with the messages of its
#: package, as the wrapper would (where the wrapper itself is broken).
SCRIPT_MODULE = """import runpy, sys
module = sys.argv.pop(1)
from pywikibot import i18n
i18n.set_messages_package(module.rsplit('.', 1)[0] + '.i18n')
runpy.run_module(module, run_name='__main__', alter_sys=True)
"""


@pytest.fixture(scope='module')
def wiki() -> Iterator[RunningWiki]:
    with run_test_wiki(seed_all=True) as running:
        yield running


@pytest.fixture(scope='module')
def pwb_dir(wiki: RunningWiki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pywikibot_directory(str(tmp_path_factory.mktemp('scripts') / 'pwb'), wiki) as path:
        yield path


def command(*args: str) -> list[str]:
    """``pwb *args``; where the wrapper is broken (docs/reference/versions.md, ``pwb-wrapper``),
    the documented way round it: the script's module run with its package's messages."""
    if not limited('pwb-wrapper'):
        return [PYWIKIBOT_PYTHON, '-c', PWB, *args]
    script, *rest = args
    package = 'pywikibot.scripts' if script == 'login' else 'pywikibot_scripts'
    return [PYWIKIBOT_PYTHON, '-c', SCRIPT_MODULE, f'{package}.{script}', *rest]


def pwb(pwb_dir: Path, *args: str, answers: str = '') -> subprocess.CompletedProcess[str]:
    """``pwb *args`` as a user types it (``answers`` go to its stdin)."""
    result = subprocess.run(command(*args), cwd=str(pwb_dir),
                            env=pywikibot_environment(pwb_dir), input=answers,
                            capture_output=True, text=True, encoding='utf-8', timeout=120,
                            check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert 'Traceback' not in output and 'CRITICAL' not in output, output[-3000:]
    for warning in ('not loaded', 'does not exist', 'has no attribute'):
        assert warning not in output, output[-3000:]
    return result


def text_of(wiki: RunningWiki, title: str) -> str:
    return wiki.wiki.pages[title].text


@pytest.fixture(autouse=True)
def no_password_sent(wiki: RunningWiki) -> Iterator[None]:
    yield
    assert wiki.app.requests_for('login') == []
    assert wiki.app.requests_for('clientlogin') == []


def test_the_active_credential_is_the_owner_only_oauth2_token(pwb_dir: Path) -> None:
    config = (pwb_dir / 'user-config.py').read_text(encoding='utf-8')
    active = [line for line in config.splitlines() if line.startswith('authenticate[')]
    assert ACTIVE_KIND == 'oauth2-owner-only'
    assert len(active) == 1 and '_oauth.OAuth2(access_token=' in active[0]


@pytest.mark.contract
def test_login(wiki: RunningWiki, pwb_dir: Path) -> None:
    result = pwb(pwb_dir, 'login')
    assert 'Logged in on testwiki:testwiki as BotUser.' in result.stdout + result.stderr


def test_touch_makes_no_new_revision(wiki: RunningWiki, pwb_dir: Path) -> None:
    wiki.app.add_page('Touch me', 'Some text.')
    before = len(wiki.wiki.pages['Touch me'].revisions)
    with wiki.app.watch() as exchanges:
        pwb(pwb_dir, 'touch', '-page:Touch me')
    assert [e.request.params.get('title') for e in exchanges
            if e.request.params.get('action') == 'edit'] == ['Touch me']
    assert text_of(wiki, 'Touch me') == 'Some text.'
    assert len(wiki.wiki.pages['Touch me'].revisions) == before


def test_touch_purge(wiki: RunningWiki, pwb_dir: Path) -> None:
    wiki.app.add_page('Purge me', 'Purgeable.')
    assert wiki.wiki.pages['Purge me'].touched == ''
    result = pwb(pwb_dir, 'touch', '-purge', '-page:Purge me')
    assert '1 purge operation' in result.stdout + result.stderr
    assert wiki.wiki.pages['Purge me'].touched != ''
    assert text_of(wiki, 'Purge me') == 'Purgeable.'


@pytest.mark.contract
def test_add_text(wiki: RunningWiki, pwb_dir: Path) -> None:
    wiki.app.add_page('Add here', 'First line.')
    pwb(pwb_dir, 'add_text', '-page:Add here', '-text:Added by add_text.', '-always')
    assert text_of(wiki, 'Add here') == 'First line.\nAdded by add_text.'
    assert wiki.wiki.pages['Add here'].revisions[-1].user == 'BotUser'


def test_replace(wiki: RunningWiki, pwb_dir: Path) -> None:
    wiki.app.add_page('Replace here', 'The old word, and the old word again.')
    pwb(pwb_dir, 'replace', '-page:Replace here', 'old', 'new', '-always',
        '-summary:Replacing a word')
    assert text_of(wiki, 'Replace here') == 'The new word, and the new word again.'
    assert wiki.wiki.pages['Replace here'].revisions[-1].comment == 'Replacing a word'


def test_listpages_start(wiki: RunningWiki, pwb_dir: Path) -> None:
    result = pwb(pwb_dir, 'listpages', '-start:!', '-format:3')
    listed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    articles = sorted(t for t, text in STANDARD_PAGES.items()
                      if ':' not in t and not text.startswith('#REDIRECT'))
    assert [t for t in listed if t in STANDARD_PAGES] == articles
    assert 'Old name' not in listed            # a redirect: -start lists no redirects


def test_listpages_cat(wiki: RunningWiki, pwb_dir: Path) -> None:
    result = pwb(pwb_dir, 'listpages', '-cat:Test pages', '-format:3')
    listed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    assert listed[:3] == ['Test page 1', 'Test page 2', 'Test page 3']


def test_category_add(wiki: RunningWiki, pwb_dir: Path) -> None:
    wiki.app.add_page('Uncategorised', 'No category yet.')
    # category.py 11.x asks before saving even with -always: answer as a user would.
    pwb(pwb_dir, 'category', 'add', '-page:Uncategorised', '-to:Test pages', '-always',
        answers='y\n')
    assert text_of(wiki, 'Uncategorised') == 'No category yet.\n\n[[Category:Test pages]]'
    listed = pwb(pwb_dir, 'listpages', '-cat:Test pages', '-format:3').stdout
    assert 'Uncategorised' in [line.strip() for line in listed.splitlines()]


def test_movepages(wiki: RunningWiki, pwb_dir: Path) -> None:
    wiki.app.add_page('Move me', 'Moving text.')
    wiki.app.add_page('Talk:Move me', 'Talk about it.')
    pwb(pwb_dir, 'movepages', '-from:Move me', '-to:Moved here', '-always')
    assert text_of(wiki, 'Moved here') == 'Moving text.'
    assert text_of(wiki, 'Move me') == '#REDIRECT [[Moved here]]'
    assert text_of(wiki, 'Talk:Moved here') == 'Talk about it.'
    moves = [(e.title, e.params['target_title']) for e in wiki.wiki.log if e.type == 'move']
    assert ('Move me', 'Moved here') in moves


@pytest.mark.contract
def test_login_logout(wiki: RunningWiki, pwb_dir: Path) -> None:
    result = pwb(pwb_dir, 'login', '-logout')
    assert 'Logged out of testwiki:testwiki.' in result.stdout + result.stderr
    assert wiki.app.requests_for('logout') == []   # the plugin sends no doomed logout


@pytest.mark.parametrize('kind', ['oauth1-owner-only', 'oauth2-client-credentials'])
def test_login_with_the_other_entries_of_user_config(wiki: RunningWiki, kind: str,
                                                     tmp_path: Path) -> None:
    with pywikibot_directory(str(tmp_path / 'pwb'), wiki) as directory:
        activate(directory, kind)
        config = (directory / 'user-config.py').read_text(encoding='utf-8')
        assert sum(line.startswith('authenticate[') for line in config.splitlines()) == 1
        result = pwb(directory, 'login')
    assert 'Logged in on testwiki:testwiki as BotUser.' in result.stdout + result.stderr
