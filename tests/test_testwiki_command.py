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
from typing import Optional

import pytest
import requests
from conftest import PYWIKIBOT_PYTHON
from interactive import Interactive

from pwb_oauth_ext.commands.testwiki import activate
from pwb_oauth_ext.testwiki.browser import consent, password_session
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment, run_pywikibot

CLI = [sys.executable, '-m', 'pwb_oauth_ext.commands.main']


def start_testwiki(tmp_path: Path, *options: str, path: Optional[str] = None) -> Interactive:
    env = pywikibot_environment(tmp_path)
    env.pop('PYWIKIBOT_DIR')
    env['TMPDIR'] = str(tmp_path)             # where the default folder goes
    if path is not None:
        env['PATH'] = path
    return Interactive([*CLI, 'testwiki', *options], tmp_path, env, merge_stderr=True)


def announced(wiki: Interactive) -> dict[str, str]:
    """What the command printed: url, dir, and each user's password."""
    url = wiki.expect(r'^Local OAuth test wiki \(MediaWiki ([\d.]+)\) at (http://\S+)$')
    directory = wiki.expect(r'^Pywikibot directory: (.+)$').group(1)
    login = wiki.expect(rf'^  (.+) -dir:{re.escape(directory)} login$')
    shown = {'login': login.group(0).strip()}
    touch = wiki.expect(rf'^  .+ -dir:{re.escape(directory)} (touch -page:Sandbox|oauth check)')
    shown['touch'] = touch.group(0).strip().split('   (')[0]
    passwords = {}
    wiki.expect(r'^Users and passwords')
    while True:
        found = wiki.expect(r'^  (\w+) +(\S+) +\(|^OAuth clients')
        if found.group(0).startswith('OAuth'):
            break
        passwords[found.group(1)] = found.group(2)
    wiki.expect(r'^Ctrl-C stops the wiki')
    return {'version': url.group(1), 'url': url.group(2), 'dir': directory, **shown,
            **passwords}


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
        assert config.count('\n# authenticate[') == 5
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
    wiki = start_testwiki(tmp_path, '--dir', str(given), '--mediawiki', '1.39', '--force')
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
    assert 'was not written by this run of pwb-oauth testwiki' in result.stderr
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


# --- what it writes, and what it never touches (issues 21.3, 20.13) ----------------------

def run_once(directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = pywikibot_environment(directory)
    return subprocess.run([*CLI, 'testwiki', '--dir', str(directory), *options], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_non_empty_folder_is_refused_naming_what_it_would_touch(tmp_path: Path) -> None:
    given = tmp_path / 'bots'
    given.mkdir()
    (given / 'mybot.py').write_text('print("mine")\n', encoding='utf-8')
    result = run_once(given)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f'--dir {given} is not empty' in result.stderr
    assert f'{given / "user-config.py"}' in result.stderr
    assert f'{given / "families" / "testwiki_family.py"}' in result.stderr
    assert '--force' in result.stderr and 'Traceback' not in result.stderr
    assert sorted(p.name for p in given.iterdir()) == ['mybot.py']


def test_a_family_file_it_did_not_write_is_never_overwritten_even_with_force(
        tmp_path: Path) -> None:
    family = tmp_path / 'families' / 'testwiki_family.py'
    family.parent.mkdir()
    family.write_text('# my own family file\n', encoding='utf-8')
    result = run_once(tmp_path, '--force')
    assert result.returncode == 1
    assert f'{family} already exists and was not written by this run' in result.stderr
    assert family.read_text(encoding='utf-8') == '# my own family file\n'
    assert not (tmp_path / 'user-config.py').exists()


def test_a_user_config_edited_while_it_ran_is_kept(tmp_path: Path) -> None:
    given = tmp_path / 'mine'
    given.mkdir()
    wiki = start_testwiki(tmp_path, '--dir', str(given))
    try:
        announced(wiki)
        config = given / 'user-config.py'
        edited = config.read_text(encoding='utf-8') + "console_encoding = 'utf-8'  # mine\n"
        config.write_text(edited, encoding='utf-8')
    finally:
        status, output = wiki.stop(signal.SIGINT)
    assert status == 0, output
    assert f'Kept (changed since this command wrote it): {config}' in output
    assert config.read_text(encoding='utf-8') == edited
    assert not (given / 'families').exists()     # its own, unchanged: gone


def test_a_folder_it_made_keeps_a_file_the_user_put_there(tmp_path: Path) -> None:
    wiki = start_testwiki(tmp_path)
    try:
        pwb_dir = Path(announced(wiki)['dir'])
        assert logged_in_user(pwb_dir) == 'BotUser'     # Pywikibot's caches: removed
        (pwb_dir / 'mybot.py').write_text('print("mine")\n', encoding='utf-8')
    finally:
        status, output = wiki.stop(signal.SIGINT)
    assert status == 0, output
    assert f'Kept {pwb_dir}: it holds files this command did not write.' in output
    assert sorted(p.name for p in pwb_dir.iterdir()) == ['mybot.py']


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX modes')
def test_the_mode_of_a_folder_it_did_not_create_never_changes(tmp_path: Path) -> None:
    given = tmp_path / 'shared'
    given.mkdir()
    given.chmod(0o1777)            # a /tmp-like folder: sticky, open to all
    wiki = start_testwiki(tmp_path, '--dir', str(given))
    try:
        announced(wiki)
        during = given.stat().st_mode & 0o7777
        assert (given / 'user-config.py').stat().st_mode & 0o077 == 0
    finally:
        status, output = wiki.stop(signal.SIGTERM)
    assert status == 0, output
    assert during == 0o1777
    assert given.stat().st_mode & 0o7777 == 0o1777
    assert list(given.iterdir()) == []


# --- what it offers: a short token lifetime, an OAuth 1.0a handshake (issue 21.8) --------

def test_token_ttl_and_an_oauth1_consumer_for_the_handshake(tmp_path: Path) -> None:
    from pwb_oauth_ext.protocol.store import TokenStore
    wiki = start_testwiki(tmp_path, '--token-ttl', '20')
    try:
        seen = announced(wiki)
        pwb_dir = Path(seen['dir'])
        config = (pwb_dir / 'user-config.py').read_text(encoding='utf-8')
        assert 'OAuth 2.0 access tokens it issues live 20 s' in config
        assert re.search(r"^# \[oauth1-consumer\] OAuth 1\.0a, a consumer for any user",
                         config, re.M)
        assert re.search(r"^# authenticate\['127\.0\.0\.1:\d+'\] = _oauth\.OAuth1\('[0-9a-f]+',"
                         r" '[0-9a-f]+'\)$", config, re.M)
        # A client-credentials token of 20 s.
        activate(pwb_dir, 'oauth2-client-credentials')
        assert logged_in_user(pwb_dir) == 'BotUser'
        (_key, record), = TokenStore(pwb_dir / 'pwb-oauth-tokens.json').entries()
        assert round(record['expires_at'] - record['obtained_at']) == 20
        # The OAuth 1.0a handshake, as printed in the file: authorize, then use it.
        activate(pwb_dir, 'oauth1-consumer')
        env = pywikibot_environment(pwb_dir)
        env.pop('PYWIKIBOT_DIR')
        command = Interactive([*CLI, 'authorize', f'-dir:{pwb_dir}', '-site:testwiki:testwiki',
                               '--no-browser'], pwb_dir.parent, env, merge_stderr=True)
        url = command.expect(r'(http://\S+Special%3AOAuth%2Fauthorize\S+)').group(1)
        browser = password_session(seen['url'], 'BotUser', seen['BotUser'])
        command.answer(consent(seen['url'], 'BotUser', url, session=browser))
        status, output = command.finish()
        assert status == 0, output
        assert 'Authorized as BotUser' in output
        assert logged_in_user(pwb_dir) == 'BotUser'
    finally:
        status, output = wiki.stop()
    assert status == 0, output


def test_token_ttl_must_be_a_number_of_seconds(tmp_path: Path) -> None:
    result = run_once(tmp_path / 'new', '--token-ttl', 'soon')
    assert result.returncode == 2
    assert "'soon' is not a number of seconds" in result.stderr
    assert not (tmp_path / 'new').exists()


# --- the banner's commands run as printed (issue 21.9) -----------------------------------

def test_the_printed_commands_run_as_printed_without_an_activated_venv(tmp_path: Path) -> None:
    shell_path = '/usr/bin:/bin'               # a shell where the venv is not activated
    wiki = start_testwiki(tmp_path, path=shell_path)
    try:
        seen = announced(wiki)
        env = pywikibot_environment(Path(seen['dir']))
        env.pop('PYWIKIBOT_DIR')
        env['PATH'] = shell_path
        for line in (seen['login'], seen['touch']):
            result = subprocess.run(line, shell=True, env=env, cwd=str(tmp_path),
                                    capture_output=True, text=True, timeout=120, check=False)
            assert result.returncode == 0, (line, result.stdout, result.stderr)
            assert 'not found' not in result.stdout + result.stderr, line
    finally:
        status, output = wiki.stop()
    assert status == 0, output
    assert 'touch -page:Sandbox' in seen['touch']      # pywikibot-scripts is installed here


def test_without_pywikibot_scripts_the_banner_says_it_is_needed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import io

    from pwb_oauth_ext.commands import testwiki
    from pwb_oauth_ext.testwiki.server import run_test_wiki
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'pywikibot_scripts' else real(name, *a))
    out = io.StringIO()
    with run_test_wiki(seed_all=True) as wiki:
        testwiki._announce(wiki, Path('/nowhere'), 'http://127.0.0.1:9/callback', out)
    text = out.getvalue()
    assert 'touch -page:Sandbox' not in text
    assert ('(touch, replace and the other everyday scripts need: pip install'
            ' pywikibot-scripts)') in text
