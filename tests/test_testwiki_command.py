"""``pwb-oauth testwiki`` as a user runs it: in a terminal, until Ctrl-C.

It must write a ready Pywikibot directory before it serves, print the URL, the directory,
how to log in and the test users' passwords, let ``pwb-oauth authorize -dir:DIR`` run
against its confidential and public OAuth 2.0 clients, and on Ctrl-C (or SIGTERM) stop
and remove what it wrote, nothing else.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import PYWIKIBOT_PYTHON
from interactive import Interactive

from pwb_oauth_ext.commands.testwiki import activate
from pwb_oauth_ext.testwiki.browser import consent, password_session
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment, run_pywikibot

CLI = [sys.executable, '-m', 'pwb_oauth_ext.commands.main']


def start_testwiki(tmp_path: Path, *options: str) -> Interactive:
    env = pywikibot_environment(tmp_path)
    env.pop('PYWIKIBOT_DIR')
    env['TMPDIR'] = str(tmp_path)             # where the default folder goes
    return Interactive([*CLI, 'testwiki', *options], tmp_path, env, merge_stderr=True)


def announced(wiki: Interactive) -> dict[str, str]:
    """What the command printed: url, dir, and each user's password."""
    url = wiki.expect(r'^Local OAuth test wiki \(MediaWiki ([\d.]+)\) at (http://\S+)$')
    directory = wiki.expect(r'^Pywikibot directory: (.+)$').group(1)
    wiki.expect(rf'^  pwb -dir:{re.escape(directory)} login$')
    passwords = {}
    wiki.expect(r'^Users and passwords')
    while True:
        found = wiki.expect(r'^  (\w+) +(\S+) +\(|^OAuth clients')
        if found.group(0).startswith('OAuth'):
            break
        passwords[found.group(1)] = found.group(2)
    wiki.expect(r'^Ctrl-C stops the wiki')
    return {'version': url.group(1), 'url': url.group(2), 'dir': directory, **passwords}


def authorize(pwb_dir: Path, wiki_url: str, password: str) -> str:
    """``pwb-oauth authorize -dir:DIR ...`` with a person approving in a browser."""
    env = pywikibot_environment(pwb_dir)
    env.pop('PYWIKIBOT_DIR')                    # -dir: alone says where the config is
    command = Interactive([*CLI, 'authorize', f'-dir:{pwb_dir}', '-site:testwiki:testwiki',
                           '--no-browser'], pwb_dir.parent, env, merge_stderr=True)
    url = command.expect(r'(http://127\.0\.0\.1:\d+/rest\.php/oauth2/authorize\S+)').group(1)
    command.expect(r'Waiting for the wiki to send the browser to')
    browser = password_session(wiki_url, 'BotUser', password)
    callback = consent(wiki_url, 'BotUser', url, session=browser)
    requests.get(callback, timeout=30)         # the browser follows the redirect
    status = command.proc.wait(timeout=60)
    while (line := command.lines.get(timeout=10)) is not None:
        command.seen.append(line)
    output = '\n'.join(command.seen)
    assert status == 0, output
    return output


def logged_in_user(pwb_dir: Path) -> str:
    result = run_pywikibot('import pywikibot\nsite = pywikibot.Site()\nsite.login()\n'
                           'print("USER", site.user())', pwb_dir, python=PYWIKIBOT_PYTHON)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split('USER ', 1)[1].strip()


def test_serves_a_ready_pywikibot_dir_and_removes_it_on_ctrl_c(tmp_path: Path) -> None:
    wiki = start_testwiki(tmp_path)
    try:
        seen = announced(wiki)
        pwb_dir = Path(seen['dir'])
        assert seen['version'] == '1.43'
        assert pwb_dir.parent == tmp_path and pwb_dir.is_dir()
        assert sorted(p.name for p in pwb_dir.iterdir()) == ['families', 'user-config.py']
        assert (pwb_dir / 'user-config.py').stat().st_mode & 0o077 == 0
        config = (pwb_dir / 'user-config.py').read_text(encoding='utf-8')
        assert config.count('\nauthenticate[') == 1
        assert config.count('\n# authenticate[') == 4
        assert {'BotUser', 'OtherBot', 'AdminBot'} <= set(seen)
        assert logged_in_user(pwb_dir) == 'BotUser'
        page = requests.get(seen['url'] + '/api.php', params={
            'action': 'query', 'prop': 'revisions', 'rvprop': 'content', 'rvslots': 'main',
            'titles': 'Sandbox', 'format': 'json', 'formatversion': '2'}, timeout=30).json()
        assert page['query']['pages'][0]['revisions'][0]['slots']['main']['content']
    finally:
        status, output = wiki.stop(signal.SIGINT)
    assert status == 0, output
    assert 'Traceback' not in output
    assert list(tmp_path.iterdir()) == []          # the folder it made, and nothing else


def test_sigterm_in_a_given_dir_removes_only_its_own_files(tmp_path: Path) -> None:
    given = tmp_path / 'mine'
    given.mkdir()
    (given / 'notes.txt').write_text('keep me', encoding='utf-8')
    wiki = start_testwiki(tmp_path, '--dir', str(given), '--mediawiki', '1.39')
    try:
        seen = announced(wiki)
        assert seen['version'] == '1.39'
        assert Path(seen['dir']) == given
        assert (given / 'families' / 'testwiki_family.py').exists()
    finally:
        status, output = wiki.stop(signal.SIGTERM)
    assert status == 0, output
    assert sorted(p.name for p in given.iterdir()) == ['notes.txt']


def test_refuses_a_user_config_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / 'user-config.py').write_text("family = 'wikipedia'\n", encoding='utf-8')
    env = pywikibot_environment(tmp_path)
    result = subprocess.run([*CLI, 'testwiki', '--dir', str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert 'was not written by pwb-oauth testwiki' in result.stderr
    assert 'Traceback' not in result.stderr
    assert (tmp_path / 'user-config.py').read_text(encoding='utf-8') == "family = 'wikipedia'\n"


@pytest.mark.parametrize('kind', ['oauth2-confidential', 'oauth2-public'])
def test_authorize_against_its_authorization_code_clients(tmp_path: Path, kind: str) -> None:
    wiki = start_testwiki(tmp_path)
    try:
        seen = announced(wiki)
        pwb_dir = Path(seen['dir'])
        activate(pwb_dir, kind)
        output = authorize(pwb_dir, seen['url'], seen['BotUser'])
        assert 'Authorized as BotUser' in output
        assert logged_in_user(pwb_dir) == 'BotUser'
    finally:
        status, output = wiki.stop()
    assert status == 0, output
