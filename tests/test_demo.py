"""``pwb-oauth demo``: what a user sees on a fresh machine, run as they would run it."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])

BOTS = {'oauth1': 'OAuth1Bot', 'oauth2': 'OAuth2Bot', 'client-credentials': 'ClientCredentialsBot'}
HEADERS = {'oauth1': '=== OAuth 1.0a, owner-only consumer: OAuth1Bot ===',
           'oauth2': '=== OAuth 2.0, owner-only client (bearer token): OAuth2Bot ===',
           'client-credentials':
               '=== OAuth 2.0, client credentials grant: ClientCredentialsBot ==='}

# Secrets of the test wiki: 40 hex digits (OAuth 1.0a secrets, client secrets) and
# JWT bearer tokens. Consumer keys and client ids (32 hex digits) are public.
SECRET_SHAPES = re.compile(r'(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])|eyJ[\w-]{10,}')


def fresh_environment(tmp_path: Path) -> dict[str, str]:
    """A machine with no Pywikibot configuration, no proxies, no credentials."""
    env = {key: value for key, value in os.environ.items()
           if not key.lower().endswith('_proxy') and not key.startswith('PYWIKIBOT')}
    env['HOME'] = str(tmp_path)
    env['NO_PROXY'] = '127.0.0.1'
    env['PYTHONPATH'] = PACKAGE_ROOT
    env['PYTHONIOENCODING'] = 'utf-8'
    return env


def run(args: list[str], tmp_path: Path, *, code: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, '-c', code, *args] if code else [
        sys.executable, '-m', 'pwb_oauth_ext.commands.main', *args]
    return subprocess.run(argv, cwd=str(tmp_path), env=fresh_environment(tmp_path),
                          capture_output=True, text=True, encoding='utf-8', timeout=120,
                          check=False)


@pytest.mark.parametrize('mode', sorted(BOTS))
def test_demo_logs_in_reads_edits_and_logs_out(mode: str, tmp_path: Path) -> None:
    result = run(['demo', '--mode', mode], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    bot = BOTS[mode]
    assert HEADERS[mode] in out
    assert f'logged in as {bot} (groups: bot, user, autoconfirmed)' in out
    assert 'no password was sent' in out
    assert "read [[Sandbox]]: 'Welcome to the sandbox.' (revision 1)" in out
    assert f'edited [[Sandbox]]: new revision 2 by {bot}' in out
    assert 'no logout request was sent to the wiki' in out
    assert 'site.logged_in() is now False' in out
    assert out.rstrip().endswith('All demo steps succeeded.')
    assert not SECRET_SHAPES.search(out + result.stderr)


def test_client_credentials_demo_shows_the_token_request(tmp_path: Path) -> None:
    result = run(['demo', '--mode', 'client-credentials'], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ('the wiki saw 2 HTTP request(s), of which 1 to obtain a token at'
            ' rest.php/oauth2/access_token') in result.stdout


def test_demo_all_modes_in_order_with_their_own_accounts(tmp_path: Path) -> None:
    result = run(['demo'], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    positions = [out.index(HEADERS[mode]) for mode in ('oauth1', 'oauth2', 'client-credentials')]
    assert positions == sorted(positions)
    # Each account edits in turn: revisions 2, 3 and 4, and reads the previous bot's text.
    assert 'new revision 2 by OAuth1Bot' in out
    assert 'new revision 3 by OAuth2Bot' in out
    assert 'new revision 4 by ClientCredentialsBot' in out
    assert "'Edited by OAuth2Bot through OAuth 2.0, owner-only client (bearer token).'" in out
    # The configuration shown refers to secrets by environment variable only.
    assert "authenticate['OAuth1Bot@127.0.0.1:" in out
    assert "_oauth.env('PWB_OAUTH_DEMO_OAUTH1_CONSUMER_SECRET')" in out
    assert not SECRET_SHAPES.search(out + result.stderr)


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    result = run(['demo', '--mode', 'oauth3'], tmp_path)
    assert result.returncode == 2
    assert 'unknown demo mode oauth3' in result.stderr


SABOTAGE = '''
import dataclasses, sys
from pwb_oauth_ext.testwiki import app
from pwb_oauth_ext.commands.main import main
register = app.TestWikiApp.register_oauth1_consumer
def wrong_secret(self, owner, **kwargs):
    consumer = register(self, owner, **kwargs)
    return dataclasses.replace(consumer, consumer_secret='f' * 40)
app.TestWikiApp.register_oauth1_consumer = wrong_secret
sys.exit(main(sys.argv[1:]))
'''


def test_demo_failure_is_a_clear_message_and_exit_status(tmp_path: Path) -> None:
    result = run(['demo', '--mode', 'oauth1'], tmp_path, code=SABOTAGE)
    assert result.returncode == 1
    assert 'DEMO FAILED: OAuthAuthorizationError' in result.stdout
    assert 'Invalid signature' in result.stdout
    assert 'All demo steps succeeded.' not in result.stdout
    assert 'f' * 40 not in result.stdout + result.stderr


#: What the ``pwb`` console script runs (the wrapper in site-package mode).
PWB_CONSOLE_SCRIPT = 'from pywikibot.scripts.wrapper import run; run()'


def installed_environment(tmp_path: Path) -> dict[str, str]:
    """A fresh machine that sees only the installed distribution, not this checkout."""
    env = fresh_environment(tmp_path)
    del env['PYTHONPATH']
    return env


def test_the_installed_distribution_registers_the_scripts_folder(tmp_path: Path) -> None:
    """setup.cfg's ``pywikibot`` entry point, as pip installed it, names the scripts folder."""
    code = (
        'import importlib.metadata as m, pathlib\n'
        'dist = m.distribution("pwb_oauth_ext")\n'
        'points = [p for p in dist.entry_points if p.group == "pywikibot"]\n'
        'print([(p.name, p.value) for p in points])\n'
        'path = points[0].load()\n'
        'print(isinstance(path, pathlib.Path), (path / "oauth.py").is_file(),'
        ' (path / "i18n").is_dir())\n')
    result = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path),
                            env=installed_environment(tmp_path), capture_output=True,
                            text=True, encoding='utf-8', timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[('scriptspath', 'pwb_oauth_ext.scripts:path')]", 'True True True']


def test_pwb_oauth_script_runs_the_demo(tmp_path: Path) -> None:
    """``pwb oauth demo`` through Pywikibot's wrapper and the installed scriptspath entry point."""
    pwb_dir = tmp_path / 'pwb'
    pwb_dir.mkdir(mode=0o700)
    config = pwb_dir / 'user-config.py'
    config.write_text("family = 'wikipedia'\nmylang = 'test'\npassword_file = None\n",
                      encoding='utf-8')
    config.chmod(0o600)
    env = installed_environment(tmp_path)
    env['PYWIKIBOT_DIR'] = str(pwb_dir)
    result = subprocess.run(
        [sys.executable, '-c', PWB_CONSOLE_SCRIPT, 'oauth', 'demo', '--mode', 'oauth1'],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, encoding='utf-8',
        timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'new revision 2 by OAuth1Bot' in result.stdout
    assert 'All demo steps succeeded.' in result.stdout
