"""The first hour of a Pywikibot operator: what they see (text and exit status) for each mistake.

Every test runs the command a user types (``pwb login``, ``pwb oauth ...``,
``pwb-oauth ...``) in a subprocess against the local test wiki and asserts the
output, the exit status, and that no traceback reaches the console.
"""
from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ENABLE_LINES, PwbDirFactory, RunPwb, authenticate_line

from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.pywikibot_env import write_pywikibot_dir
from pwb_oauth_ext.testwiki.server import RunningWiki

CLI = ('-m', 'pwb_oauth_ext.commands.main')
#: What the ``pwb`` console script runs.
PWB = 'import sys; from pywikibot.scripts.wrapper import run; sys.exit(run())'
ENABLE_HINT = '"_oauth.enable()" after "import pwb_oauth_ext as _oauth" in user-config.py'


def console(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture
def scripts_entry_point(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``pywikibot``/``scriptspath`` entry point, as an installed package has it."""
    entry = tmp_path_factory.mktemp('entry')
    dist_info = entry / 'pwb_oauth_ext-0.1.0.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text('Metadata-Version: 2.1\nName: pwb_oauth_ext\n'
                                        'Version: 0.1.0\n', encoding='utf-8')
    (dist_info / 'entry_points.txt').write_text(
        '[pywikibot]\nscriptspath = pwb_oauth_ext.scripts:path\n', encoding='utf-8')
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(
        [str(entry)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))


# --- 1. authenticate holds OAuth1(...)/OAuth2(...) but enable() was forgotten ------------

@pytest.mark.parametrize('value', ['OAuth1({ck!r}, {cs!r}, {at!r}, {as_!r})',
                                   "OAuth2(access_token='x' * 30)"])
def test_forgotten_enable_is_one_line(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
                                      pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb,
                                      value: str) -> None:
    c = oauth1_consumer
    entry = value.format(ck=c.consumer_key, cs=c.consumer_secret, at=c.access_token,
                         as_=c.access_secret)
    pwb_dir = pwb_dir_factory(['import pwb_oauth_ext as _oauth',
                               f'authenticate[{wiki.host!r}] = _oauth.{entry}'], enable=False)
    result = run_pwb(PWB, pwb_dir, 'login')
    assert result.returncode == 1
    kind = entry.split('(')[0]
    assert console(result).splitlines() == [
        f'ERROR: config.authenticate holds {kind}(...), but pwb_oauth_ext is not enabled:'
        f' add {ENABLE_HINT}']


def test_check_says_the_entry_needs_enable(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
                                           pwb_dir_factory: PwbDirFactory,
                                           run_pwb: RunPwb) -> None:
    entry = f"authenticate[{wiki.host!r}] = _oauth.OAuth2(access_token='x' * 30)"
    pwb_dir = pwb_dir_factory(['import pwb_oauth_ext as _oauth', entry], enable=False)
    result = run_pwb(None, pwb_dir, *CLI, 'check')
    assert result.returncode == 2   # a configuration error: nothing was sent
    assert (f"ERROR:       authenticate[{wiki.host!r}] is OAuth2(...), which only works with"
            f' the plugin enabled: add {ENABLE_HINT}') in result.stdout
    assert 'Traceback' not in console(result)


# --- 2. expected failures end a pwb run with our message, not a traceback -----------------

def _failure_dir(case: str, wiki: RunningWiki, consumer: OAuth1Consumer,
                 pwb_dir_factory: PwbDirFactory) -> Path:
    ck, cs = consumer.consumer_key, consumer.consumer_secret
    value = {
        'malformed': "('a', 'b', 'c')",
        'no stored token': f'_oauth.OAuth1({ck!r}, {cs!r})',
        'refused token': repr((ck, 'f' * 40, consumer.access_token, consumer.access_secret)),
        'store readable by others': f'_oauth.OAuth1({ck!r}, {cs!r})',
    }[case]
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = {value}'])
    if case == 'store readable by others':
        store = pwb_dir / 'pwb-oauth-tokens.json'
        store.write_text('{"version": 1, "entries": []}', encoding='utf-8')
        store.chmod(0o644)
    return pwb_dir


FAILURES = {
    'malformed': "has 3 items: use 4 for OAuth 1.0a",
    'no stored token': 'has no access token and no grant',
    'refused token': 'was refused',
    'store readable by others': 'can be accessed by other users',
}


@pytest.mark.parametrize('case', list(FAILURES))
def test_expected_failure_is_a_short_message(case: str, wiki: RunningWiki,
                                             oauth1_consumer: OAuth1Consumer,
                                             pwb_dir_factory: PwbDirFactory,
                                             run_pwb: RunPwb) -> None:
    pwb_dir = _failure_dir(case, wiki, oauth1_consumer, pwb_dir_factory)
    result = run_pwb(PWB, pwb_dir, '-log:failure.log', 'login')
    assert result.returncode == 1
    lines = console(result).splitlines()
    assert 'Traceback' not in console(result) and 'CRITICAL' not in console(result)
    # A line before our message says where the traceback went (issue 20 item 4).
    lines.remove(f'The full traceback is in the log file {pwb_dir / "logs/failure.log"}.')
    assert len(lines) <= 3, lines
    ours = [index for index, line in enumerate(lines) if line.startswith('ERROR: ')]
    assert ours, lines
    message = '\n'.join(lines[ours[0]:])
    assert FAILURES[case] in message
    assert f'authenticate[{wiki.host!r}]' in message
    if case == 'no stored token':
        assert message.endswith('run: pwb-oauth authorize -site:testwiki:testwiki -user:BotUser')
    if case == 'store readable by others':
        assert message.endswith(f'chmod 600 {pwb_dir / "pwb-oauth-tokens.json"}')
    # Only the first line may be Pywikibot's own warning about the refusal.
    assert ours[0] == 0 or lines[0].startswith('WARNING: API error mwoauth-invalid-auth')
    # The traceback is kept in the log file.
    [log_file] = (pwb_dir / 'logs').glob('failure.log')
    assert 'Traceback (most recent call last)' in log_file.read_text(encoding='utf-8')
    assert 'f' * 40 not in log_file.read_text(encoding='utf-8') + console(result)


def test_debug_shows_the_traceback(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
                                   pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = _failure_dir('no stored token', wiki, oauth1_consumer, pwb_dir_factory)
    result = run_pwb(PWB, pwb_dir, '-debug', 'login')
    assert result.returncode == 1
    assert 'Traceback (most recent call last)' in result.stderr
    assert 'has no access token and no grant' in result.stderr


# --- 3. an unreachable wiki -----------------------------------------------------------------

def _unreachable_dir(tmp_path: Path, api_url: str, host: str) -> Path:
    fake = SimpleNamespace(api_url=api_url, host=host)
    return write_pywikibot_dir(tmp_path / 'pwb', fake, username='BotUser', authenticate_lines=[
        *ENABLE_LINES, f"authenticate[{host!r}] = _oauth.OAuth2(access_token='x' * 30)"])


def test_check_on_a_closed_port(tmp_path: Path, run_pwb: RunPwb) -> None:
    port = free_port()
    pwb_dir = _unreachable_dir(tmp_path, f'http://127.0.0.1:{port}/api.php', f'127.0.0.1:{port}')
    result = run_pwb(None, pwb_dir, *CLI, 'check')
    assert result.returncode == 3
    assert (f'ERROR:       cannot reach 127.0.0.1:{port}: connection refused: nothing listens'
            ' on that port') in result.stdout
    assert 'login refused' not in result.stdout
    assert 'Traceback' not in console(result) and result.stderr == ''
    assert len(console(result).splitlines()) == 7   # the key, the reason, the verdict, the store
    assert 'how the key was chosen' not in result.stdout
    data = json.loads(run_pwb(None, pwb_dir, *CLI, 'check', '--json').stdout)
    assert data['sites'][0]['unreachable'] is True


def test_check_on_a_port_without_tls(tmp_path: Path, wiki: RunningWiki, run_pwb: RunPwb) -> None:
    pwb_dir = _unreachable_dir(tmp_path, f'https://127.0.0.1:{wiki.port}/api.php', wiki.host)
    result = run_pwb(None, pwb_dir, *CLI, 'check')
    assert result.returncode == 3, console(result)
    assert f'ERROR:       cannot reach {wiki.host}: TLS handshake failed (' in result.stdout
    assert 'Traceback' not in console(result)


@pytest.mark.parametrize(('error', 'expected'), [
    (socket.gaierror(-2, 'Name or service not known'),
     'DNS lookup failed (Name or service not known)'),
    (socket.timeout('timed out'), 'timeout: no answer within 5 s'),
    (ConnectionRefusedError(111, 'Connection refused'), 'connection refused'),
    (ssl.SSLError(1, 'WRONG_VERSION_NUMBER'), 'TLS handshake failed'),
])
def test_connection_errors_are_named(error: OSError, expected: str) -> None:
    from pwb_oauth_ext.network.reachability import describe_connect_error
    assert describe_connect_error(error, 5.0).startswith(expected)


# --- 4. what Pywikibot users type -----------------------------------------------------------

@pytest.mark.parametrize('args', [['-help'], ['help'], ['check', '-help'], ['help', 'check'],
                                  ['check', 'help'], ['authorize', '-help'],
                                  ['explain', '-help'], ['demo', '-help']])
def test_help_as_pywikibot_users_ask(args: list[str]) -> None:
    result = subprocess.run([sys.executable, *CLI, *args], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    command = args[1] if args[0] == 'help' and len(args) > 1 else (
        args[0] if not args[0].endswith('help') else '')
    assert result.stdout.startswith(f'usage: pwb-oauth {command}'.rstrip() + ' ')
    assert result.stderr == ''
    if command == 'authorize':
        assert 'also print the new access token' in result.stdout   # --show: secrets


@pytest.mark.parametrize('args', [['oauth', '-help'], ['oauth', 'help'],
                                  ['oauth', 'check', '-help']])
def test_pwb_oauth_help(args: list[str], scripts_entry_point: None,
                        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    result = run_pwb(PWB, pwb_dir_factory([]), *args)
    assert result.returncode == 0, console(result)
    assert result.stdout.startswith('usage: pwb-oauth')
    assert 'ignored explicit argument' not in console(result)


def test_pwb_oauth_check_with_user_option(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
                                          scripts_entry_point: None,
                                          pwb_dir_factory: PwbDirFactory,
                                          run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)], username=None)
    result = run_pwb(PWB, pwb_dir, 'oauth', 'check', '-user:BotUser')
    assert result.returncode == 0, console(result)
    assert 'identity:    BotUser (configured user: BotUser)' in result.stdout
    # -user: takes effect: another account is checked against the token's owner.
    other = run_pwb(PWB, pwb_dir, 'oauth', 'check', '-user:SomeoneElse')
    assert other.returncode == 1
    assert ("belongs to 'BotUser', but this run asks for 'SomeoneElse' with"
            ' -user:SomeoneElse') in other.stdout


def test_global_options_take_effect(tmp_path: Path, wiki: RunningWiki,
                                    oauth1_consumer: OAuth1Consumer,
                                    pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    closed = free_port()
    pwb_dir = pwb_dir_factory([
        authenticate_line(wiki.host, oauth1_consumer),
        # the default site is another (unreachable) local family
        f"family_files['elsewhere'] = 'http://127.0.0.1:{closed}/api.php'",
        "family = 'elsewhere'", "mylang = 'elsewhere'"])
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run_pwb(None, empty, *CLI, f'-dir:{pwb_dir}', 'check', '-family:testwiki',
                     '-lang:testwiki', '-log:check.log', '-debug')
    assert result.returncode == 0, console(result)
    assert result.stdout.startswith(f'testwiki:testwiki  ({wiki.api_url})')
    assert (pwb_dir / 'logs' / 'check.log').exists()


def test_unknown_option_is_named(pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    result = run_pwb(None, pwb_dir_factory([]), *CLI, 'check', '-bogus')
    assert result.returncode == 2
    assert result.stderr.startswith('pwb-oauth check: unknown option -bogus')


# --- 5. authorize checks the configuration before going online -------------------------------

def test_authorize_without_entry_sends_nothing(wiki: RunningWiki, pwb_dir_factory: PwbDirFactory,
                                               run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([])
    before = len(wiki.wiki.request_log)
    result = run_pwb(None, pwb_dir, *CLI, 'authorize', '-site:testwiki:testwiki',
                     '--no-browser')
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f'Error: No OAuth entry in config.authenticate applies to testwiki:testwiki'
        f' ({wiki.api_url}, account BotUser). Add one to user-config.py, e.g.'
        f" authenticate['{wiki.host}'] = _oauth.OAuth1(consumer_key, consumer_secret) or"
        ' _oauth.OAuth2(client_id=...), then run this again.']
    assert wiki.wiki.request_log[before:] == []


def test_authorize_unknown_site_sends_nothing(wiki: RunningWiki, pwb_dir_factory: PwbDirFactory,
                                              run_pwb: RunPwb) -> None:
    before = len(wiki.wiki.request_log)
    result = run_pwb(None, pwb_dir_factory([]), *CLI, 'authorize', '-family:nosuchfamily',
                     '-lang:xx')
    assert result.returncode == 2
    assert result.stdout.startswith('Error: unknown site nosuchfamily:xx')
    assert wiki.wiki.request_log[before:] == []


# --- 8. the demo without the [testwiki] extra -------------------------------------------------

def test_demo_without_the_testwiki_extra_names_it(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['cryptography'] = None\n"
            'from pwb_oauth_ext.commands.main import main; sys.exit(main())')
    env = {key: value for key, value in os.environ.items()
           if not key.startswith('PYWIKIBOT')}
    result = subprocess.run([sys.executable, '-c', code, 'demo'], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        "DEMO FAILED: the local test wiki needs the module 'cryptography', which comes with the"
        " [testwiki] extra: pip install '.[testwiki]' in the checkout (or"
        " 'pwb_oauth_ext[testwiki]')")
    assert 'register_client' not in console(result)


def test_test_wiki_without_the_testwiki_extra_names_it(tmp_path: Path) -> None:
    """A bot author's own test (run_test_wiki) gets the extra's name, not a None provider."""
    code = ("import sys; sys.modules['cryptography'] = None\n"
            'from pwb_oauth_ext.testwiki.server import run_test_wiki\n'
            'with run_test_wiki() as wiki: pass')
    result = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path),
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "ImportError: The local test wiki needs the module 'cryptography', which comes with the"
        " [testwiki] extra: pip install 'pwb_oauth_ext[testwiki]'")


# --- 9. smaller things ---------------------------------------------------------------------

def test_check_shows_where_a_referenced_key_comes_from(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer, pwb_dir_factory: PwbDirFactory,
        run_pwb: RunPwb, monkeypatch: pytest.MonkeyPatch) -> None:
    c = oauth1_consumer
    monkeypatch.setenv('TW_CK', c.consumer_key)
    pwb_dir = pwb_dir_factory([f"authenticate[{wiki.host!r}] = _oauth.OAuth1(_oauth.env('TW_CK'),"
                               f' {c.consumer_secret!r}, {c.access_token!r}, {c.access_secret!r})'])
    result = run_pwb(None, pwb_dir, *CLI, 'check')
    assert result.returncode == 0, console(result)
    assert "protocol:    OAuth 1.0a (key from env('TW_CK'))" in result.stdout
    assert 'TW_CK\')...' not in result.stdout


def test_print_explain_is_readable() -> None:
    import pwb_oauth_ext as _oauth
    text = str(_oauth.explain('https://en.wikipedia.org/w/api.php', None,
                              {'*.wikipedia.org': ('a', 'b', 'c', 'd')}))
    assert text.splitlines()[0] == ('https://en.wikipedia.org/w/api.php: host en.wikipedia.org,'
                                    ' default port, no account')
    assert "=> credentials of key '*.wikipedia.org'" in text


def test_explain_without_user_config_says_so(tmp_path: Path, run_pwb: RunPwb) -> None:
    pwb_dir = tmp_path / 'pwb'
    pwb_dir.mkdir(mode=0o700)
    result = run_pwb(None, pwb_dir, *CLI, 'explain', 'https://example.org/w/api.php')
    assert result.returncode == 1
    assert f'There is no user-config.py in {pwb_dir}, so config.authenticate is empty' \
        in result.stdout
    assert 'Keys read from' not in result.stdout


def test_oauth2_with_token_and_client_id_is_refused() -> None:
    import pwb_oauth_ext as _oauth
    with pytest.raises(_oauth.ConfigError, match=r'give access_token=.* or client_id=.*, not both'):
        _oauth.OAuth2(access_token='t' * 30, client_id='c' * 32)


def test_check_warns_that_a_public_client_cannot_refresh(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    client = wiki.app.oauth2.register_client('BotUser', confidential=False,
                                             redirect_uri='https://bot.example/callback')
    pwb_dir = pwb_dir_factory([f"authenticate[{wiki.host!r}] = _oauth.OAuth2("
                               f"client_id={client.client_id!r})"])
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    [site] = json.loads(result.stdout)['sites']
    assert ('a public client (no client_secret) cannot refresh its token on MediaWiki before'
            ' 1.46 (1.39 to 1.45 answer invalid_client): when the token expires, run'
            ' pwb-oauth authorize again; unattended bots need a confidential client'
            in site['warnings']), site


# --- 10. rights judged by what the wiki's version has ------------------------------------------

def _recorded_usergroups(version_dir: str) -> list[dict]:
    from conftest import recorded
    data = recorded(f'{version_dir}/api-siteinfo-full.json')
    body = data['response']['body']
    body = body if isinstance(body, dict) else json.loads(body)
    return body['query']['usergroups']


@pytest.fixture
def wiki_143(monkeypatch: pytest.MonkeyPatch):
    """The test wiki answering as MediaWiki 1.43 (mw-1.43/README row 10): no 'writeapi'
    right (removed from core) and no 'purge' under OAuth; siteinfo says 1.43.12.
    ``state['usergroups'] = []`` hides siteinfo's user groups (then the version decides)."""
    from pwb_oauth_ext.testwiki import actionapi
    from pwb_oauth_ext.testwiki.server import run_test_wiki

    state = {'usergroups': _recorded_usergroups('mw-1.43')}
    original = actionapi.ActionApi._siteinfo_fv2

    def siteinfo(self, params):
        result = original(self, params)
        if not state['usergroups']:
            result.pop('usergroups', None)
        return result
    monkeypatch.setattr(actionapi.ActionApi, '_siteinfo_fv2', siteinfo)
    with run_test_wiki(mediawiki='1.43') as running:
        running.app.add_bot('BotUser')
        running.state = state
        yield running


@pytest.mark.parametrize('usergroups', ['listed', 'not listed'])
def test_healthy_bot_on_143_has_no_missing_right(wiki_143, tmp_path: Path, run_pwb: RunPwb,
                                                 usergroups: str) -> None:
    if usergroups == 'not listed':   # then the version decides
        wiki_143.state['usergroups'] = []
    consumer = wiki_143.app.register_oauth1_consumer('BotUser', owner_only=True)
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki_143, username='BotUser',
                                  authenticate_lines=[*ENABLE_LINES,
                                                      authenticate_line(wiki_143.host, consumer)])
    result = run_pwb(None, pwb_dir, *CLI, 'check')
    assert result.returncode == 0, console(result)
    assert 'rights:      present: edit, createpage, bot, apihighlimits; missing: -' \
        in result.stdout
    assert 'writeapi' not in result.stdout and 'WARNING' not in result.stdout


def test_missing_rights_on_143_are_still_reported(wiki_143, tmp_path: Path,
                                                  run_pwb: RunPwb) -> None:
    consumer = wiki_143.app.register_oauth1_consumer(
        'BotUser', owner_only=True, grants=['basic', 'editpage', 'createeditmovepage'])
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki_143, username='BotUser',
                                  authenticate_lines=[*ENABLE_LINES,
                                                      authenticate_line(wiki_143.host, consumer)])
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    [site] = json.loads(result.stdout)['sites']
    assert site['rights'] == {'present': ['edit', 'createpage'],
                              'missing': ['bot', 'apihighlimits']}


def test_missing_writeapi_on_139_is_reported(tmp_path: Path, run_pwb: RunPwb,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """On 1.39 writeapi exists (its groups list it), so a bot without it hears about it."""
    from pwb_oauth_ext.testwiki import model
    from pwb_oauth_ext.testwiki.server import run_test_wiki
    monkeypatch.setitem(model.GRANT_RIGHTS, 'basic',
                        [r for r in model.GRANT_RIGHTS['basic'] if r != 'writeapi'])
    with run_test_wiki(mediawiki='1.39') as wiki:
        wiki.app.add_bot('NoWriteApiBot')
        consumer = wiki.app.register_oauth1_consumer('NoWriteApiBot', owner_only=True)
        pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki, username='NoWriteApiBot',
                                      authenticate_lines=[*ENABLE_LINES,
                                                          authenticate_line(wiki.host, consumer)])
        result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    [site] = json.loads(result.stdout)['sites']
    assert site['rights']['missing'] == ['writeapi']


# --- 6./7. the README's test command and the distribution --------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def test_readme_test_command_needs_no_particular_python() -> None:
    import configparser
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert ("    python3 -m venv .venv && .venv/bin/pip install -q 'tox>=4' && .venv/bin/tox\n"
            in readme)
    assert 'python3 -m pip install tox' not in readme   # not into the system interpreter
    tox = configparser.ConfigParser()
    tox.read(ROOT / 'tox.ini', encoding='utf-8')
    envs = [env.strip() for env in tox['tox']['env_list'].split(',')]
    # 'py' is the interpreter running tox; a 'py39'/'py313' env would need that python.
    assert envs == ['lint', 'py']
    labels = dict(line.split('=', 1) for line in tox['tox']['labels'].strip().splitlines())
    matrix = {key.strip(): value for key, value in labels.items()}['matrix']
    assert [env.strip() for env in matrix.split(',')] == [
        'py39-pwb10', 'py39-pwb11', 'py313-pwb10', 'py313-pwb11']
    ci = (ROOT / '.ci' / 'run').read_text(encoding='utf-8')
    assert 'check_dist.py' in ci and 'twine check' in ci
    # CI runs the README's two commands as they are written there, in a clone named pwb_oauth_ext.
    assert '"$clone_parent/pwb_oauth_ext"' in ci
    extract = re.search(r'^readme_commands\(\) \{.*?^\}$', ci, re.M | re.S)
    assert extract, 'no readme_commands() in .ci/run'
    commands = subprocess.run(['bash', '-c', extract.group(0) + '\nreadme_commands'], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.splitlines()
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -q '.[testwiki]'"
        " && .venv/bin/pwb-oauth demo",
        "python3 -m venv .venv && .venv/bin/pip install -q 'tox>=4' && .venv/bin/tox"]


def test_package_data_covers_the_files_the_wheel_needs() -> None:
    import configparser
    from fnmatch import fnmatch
    setup = configparser.ConfigParser()
    setup.read(ROOT / 'setup.cfg', encoding='utf-8')
    patterns = {package: value.strip() for package, value in setup['options.package_data'].items()}
    needed = [*ROOT.glob('pwb_oauth_ext/testwiki/data/*/*.json'),
              *ROOT.glob('pwb_oauth_ext/scripts/i18n/*')]
    assert len(needed) >= 3
    for path in needed:
        relative = path.relative_to(ROOT)
        package = '.'.join(relative.parts[:2])
        inside = '/'.join(relative.parts[2:])
        assert package in patterns and any(fnmatch(inside, pattern.strip())
                                           for pattern in patterns[package].split()), relative


def test_demo_refuses_options_that_do_not_apply(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, *CLI, 'demo', '-site:wikipedia:en'],
                            cwd=str(tmp_path), capture_output=True, text=True, check=False,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr == ('pwb-oauth demo: -site:wikipedia:en does not apply: the demo makes'
                             ' its own local wiki and Pywikibot directory\n')


def test_len_of_an_entry_is_pywikibots_oauth_sign_while_enabled(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    """Code asking Pywikibot's question (len(value) == 4: OAuth) gets the answer when enabled."""
    entry = f"authenticate[{wiki.host!r}] = _oauth.OAuth2(access_token='x' * 30)"
    pwb_dir = pwb_dir_factory([entry])
    result = run_pwb('import pywikibot; from pywikibot import config;'
                     f' print(len(config.authenticate[{wiki.host!r}]))', pwb_dir)
    assert result.stdout.strip() == '4', console(result)
