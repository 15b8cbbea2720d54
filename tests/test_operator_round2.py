"""An operator's first hour, round 2 (issue 21): what a user sees when a key misses the wiki,
on the command line, while authorizing, and in the messages.

Every test runs what a user types (``pwb login``, ``pwb-oauth ...``, ``Site().login()``)
in a subprocess against the local test wiki, and asserts the output and the exit status.
"""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PwbDirFactory, authenticate_line

from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment
from pwb_oauth_ext.testwiki.server import RunningWiki

CLI = ('-m', 'pwb_oauth_ext.commands.main')
#: What the ``pwb`` console script runs.
PWB = 'import sys; from pywikibot.scripts.wrapper import run; sys.exit(run())'
LOGIN = 'import pywikibot; pywikibot.Site().login(); print("LOGGED IN AS", pywikibot.Site().user())'


def run(pwb_dir: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python *argv`` as cron runs it: no terminal, stdin at end of file."""
    return subprocess.run([sys.executable, *argv], cwd=str(pwb_dir),
                          env=pywikibot_environment(pwb_dir), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding='utf-8', errors='replace',
                          timeout=timeout, check=False)


def console(result: subprocess.CompletedProcess[str]) -> str:
    """What the user sees, without the line naming the traceback's file (see test_error_report)."""
    return ''.join(line for line in (result.stdout + result.stderr).splitlines(keepends=True)
                   if not line.startswith('The full traceback is in '))


def actions_since(wiki: RunningWiki, before: int) -> list[str]:
    return [entry[2] for entry in wiki.wiki.request_log[before:]]


# --- item 1: no key matches the wiki ---------------------------------------------------------

@pytest.mark.parametrize('how', ['site.login()', 'pwb login'])
def test_no_key_matches_without_a_terminal_is_one_line(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, how: str) -> None:
    """localhost for 127.0.0.1, the most common slip, in a run without a terminal (cron)."""
    pwb_dir = pwb_dir_factory([authenticate_line(f'localhost:{wiki.port}', oauth1_consumer)])
    result = run(pwb_dir, '-c', LOGIN) if how == 'site.login()' else \
        run(pwb_dir, '-c', PWB, 'login')
    assert 'Traceback' not in console(result) and 'EOFError' not in console(result)
    lines = console(result).splitlines()
    assert lines[0] == (
        f'ERROR: No config.authenticate entry matched 127.0.0.1:{wiki.port}, account BotUser;'
        f" the nearest key is 'localhost:{wiki.port}': its host localhost is not 127.0.0.1:"
        ' keys are compared as written, and these are two names of this machine.'
        ' Pywikibot would ask for the password of BotUser on testwiki:testwiki, but there is'
        ' no terminal to type it: add an OAuth entry for this wiki (or set password_file in'
        ' user-config.py).')
    if how == 'site.login()':   # a bot's run ends, failed
        assert result.returncode == 1 and len(lines) == 1, lines
    else:   # Pywikibot's login script reports a failed login itself, as for a wrong password
        assert lines[1] == 'Not logged in on testwiki:testwiki.', lines


@pytest.mark.parametrize('key, reason', [
    ('{host}:{other_port}', 'port {other_port} differs (not {port})'),
    ('OtherBot@{host}:{port}', 'account OtherBot differs (not BotUser)'),
], ids=['port', 'account'])
def test_no_key_matches_says_why_before_the_password_prompt(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer, pwb_dir_factory: PwbDirFactory,
        key: str, reason: str) -> None:
    """At a terminal: our line first, then Pywikibot's own password prompt (plain fallback)."""
    values = {'host': '127.0.0.1', 'port': wiki.port, 'other_port': wiki.port + 1}
    pwb_dir = pwb_dir_factory([authenticate_line(key.format(**values), oauth1_consumer)])
    output = _at_a_terminal(pwb_dir, [sys.executable, '-c', PWB, 'login'],
                            until='Password for user')
    ours = output.index('No config.authenticate entry matched')
    assert ours < output.index('Password for user BotUser on testwiki:testwiki')
    line = output[ours:].splitlines()[0]
    assert line == (f'No config.authenticate entry matched 127.0.0.1:{wiki.port}, account'
                    f" BotUser; the nearest key is {key.format(**values)!r}:"
                    f' {reason.format(**values)}. Pywikibot logs in with a password instead.')


def _at_a_terminal(pwb_dir: Path, argv: list[str], until: str, timeout: float = 60) -> str:
    """Run ``argv`` on a pseudo-terminal; its output up to ``until`` (then it is killed)."""
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(argv, cwd=str(pwb_dir), env=pywikibot_environment(pwb_dir),
                            stdin=terminal, stdout=terminal, stderr=terminal,
                            start_new_session=True)
    os.close(terminal)
    output = b''
    deadline = time.monotonic() + timeout
    try:
        while until.encode() not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:   # the child ended
                    break
                if not chunk:
                    break
                output += chunk
    finally:
        proc.kill()
        proc.wait(timeout=30)
        os.close(controller)
    text = output.decode('utf-8', 'replace').replace('\r\n', '\n')
    assert until in text, text
    return text


def test_password_login_off_never_logs_in_with_a_password(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer, pwb_dir_factory: PwbDirFactory,
        tmp_path: Path) -> None:
    """enable(password_login=False): no password is sent, even with a password file."""
    passwords = tmp_path / 'passwords'
    passwords.write_text("('BotUser', 'not-used')\n", encoding='utf-8')
    passwords.chmod(0o600)
    pwb_dir = pwb_dir_factory(
        ['_oauth.enable(password_login=False)',
         authenticate_line(f'localhost:{wiki.port}', oauth1_consumer)],
        extra_lines=[f'password_file = {str(passwords)!r}'])
    before = len(wiki.wiki.request_log)
    result = run(pwb_dir, '-c', LOGIN)
    assert result.returncode == 1
    assert 'LOGGED IN' not in result.stdout
    assert 'Traceback' not in console(result)
    [line] = console(result).splitlines()
    assert line.startswith(f'ERROR: No config.authenticate entry matched 127.0.0.1:{wiki.port},'
                           f" account BotUser; the nearest key is 'localhost:{wiki.port}'")
    assert line.endswith('Password login is off (enable(password_login=False)), so nothing'
                         ' logs in to testwiki:testwiki: add an OAuth entry for it to'
                         ' config.authenticate.')
    actions = actions_since(wiki, before)
    assert 'clientlogin' not in actions and 'login' not in actions, actions


def test_password_login_off_keeps_oauth_working(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = pwb_dir_factory(['_oauth.enable(password_login=False)',
                               authenticate_line(wiki.host, oauth1_consumer)])
    result = run(pwb_dir, '-c', LOGIN)
    assert result.returncode == 0, console(result)
    assert 'LOGGED IN AS BotUser' in result.stdout


def test_password_login_must_be_a_bool(pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = pwb_dir_factory([])
    result = run(pwb_dir, '-c', 'import pwb_oauth_ext as o; o.enable(password_login="no")')
    assert "enable(password_login='no'): give True or False" in result.stderr


# --- item 12: -user: names another account than the token's -------------------------------

@pytest.mark.parametrize('how', ['pwb login -user:OtherBot', "Site(user='OtherBot')"])
def test_another_account_says_where_the_name_came_from(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer, pwb_dir_factory: PwbDirFactory,
        how: str) -> None:
    """usernames[...] = 'BotUser' is there already: the answer must not be to set it."""
    wiki.app.add_bot('OtherBot')
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    if how.startswith('pwb'):
        result = run(pwb_dir, '-c', PWB, 'login', '-user:OtherBot')
        cause = ("this run asks for 'OtherBot' with -user:OtherBot. Run without"
                 ' -user:OtherBot to run as BotUser')
    else:
        result = run(pwb_dir, '-c', 'import pywikibot; pywikibot.Site(user="OtherBot").login()')
        cause = ("the site was created for 'OtherBot' (pywikibot.Site(..., user='OtherBot'))."
                 ' Create it without user= to run as BotUser')
    assert result.returncode == 1
    assert console(result).splitlines() == [
        f"ERROR: OAuth login on testwiki:testwiki: the token of authenticate[{wiki.host!r}]"
        f" (exact host 127.0.0.1, port {wiki.port}) belongs to 'BotUser', but {cause}, or add"
        f" an entry authenticate['OtherBot@{wiki.host}'] with OtherBot's own token."]
    assert 'usernames[' not in console(result)


# --- item 11: one refusal, one message -----------------------------------------------------

def _refused_dir(wiki: RunningWiki, consumer: OAuth1Consumer,
                 pwb_dir_factory: PwbDirFactory) -> Path:
    value = (consumer.consumer_key, 'f' * 40, consumer.access_token, consumer.access_secret)
    return pwb_dir_factory([f'authenticate[{wiki.host!r}] = {value!r}'])


def test_a_refusal_is_said_once(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
                                pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = _refused_dir(wiki, oauth1_consumer, pwb_dir_factory)
    result = run(pwb_dir, '-c', PWB, '-log:refused.log', 'login')
    assert result.returncode == 1
    text = console(result)
    assert text.count('Invalid signature') == 1, text
    assert 'API error mwoauth-invalid-authorization' not in text
    assert text.splitlines()[0].startswith('ERROR: OAuth authentication on testwiki:testwiki'
                                           ' was refused')
    # Pywikibot's own line is still in the log file.
    log = (pwb_dir / 'logs' / 'refused.log').read_text(encoding='utf-8')
    assert 'API error mwoauth-invalid-authorization' in log


def test_check_says_each_thing_once_and_keeps_its_indentation(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = _refused_dir(wiki, oauth1_consumer, pwb_dir_factory)
    (pwb_dir / 'user-config.py').chmod(0o644)
    result = run(pwb_dir, *CLI, 'check')
    assert result.returncode == 1
    text = console(result)
    readable = [line for line in text.splitlines()
                if 'user-config.py' in line and 'read' in line and 'other' in line]
    assert len(readable) == 1, text
    assert 'API error mwoauth-invalid-authorization' not in text
    [cause] = [line for line in result.stdout.splitlines() if 'Likely cause:' in line]
    assert cause.startswith(' ' * 15 + 'Likely cause: the consumer secret'), cause


# --- item 10: no stored token: which store was read, first run or lost store -------------------

def test_no_stored_token_names_the_store_and_why(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory) -> None:
    from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
    client = wiki.app.oauth2.register_client('BotUser', confidential=True,
                                             redirect_uri='http://127.0.0.1:9/callback')
    pwb_dir = pwb_dir_factory([
        f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
        f' client_secret={client.client_secret!r})'])
    store = pwb_dir / 'pwb-oauth-tokens.json'
    first = run(pwb_dir, '-c', LOGIN)
    assert first.returncode == 1 and 'Traceback' not in console(first)
    assert (f'There is no OAuth 2.0 token of BotUser to renew for client'
            f' {client.client_id[:6]}...{client.client_id[-4:]} on {wiki.host}: The token'
            f' store {store} does not exist: if this is the first run with this entry,'
            ' authorize once; if bots ran before, the file was deleted or moved') \
        in console(first)
    assert 'run: pwb-oauth authorize -site:testwiki:testwiki' in console(first)
    # A store that is there, with another client's grant: read, and this one is missing.
    TokenStore(store).put(GrantKey(wiki.host, 'another-client-id', 'BotUser'),
                          {'access_token': 'a' * 40, 'refresh_token': 'r' * 40,
                           'expires_at': time.time() + 3600, 'obtained_at': time.time()})
    lost = run(pwb_dir, '-c', LOGIN)
    assert lost.returncode == 1
    assert f'The token store {store} was read and it holds 1 other grant: authorize this' \
        ' entry once (or, if it was authorized before, its grant was removed' in console(lost)


# --- item 14: store migrate to a relative sqlite:/// path ---------------------------------------

def test_store_migrate_prints_the_absolute_file(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory) -> None:
    pytest.importorskip('sqlalchemy')
    from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(
        GrantKey(wiki.host, 'a-client-id', 'BotUser'),
        {'protocol': 'oauth1', 'access_token': 'a' * 32, 'access_secret': 's' * 32})
    result = run(pwb_dir, *CLI, 'store', 'migrate', '-to:sqlite:///rel.sqlite')
    assert result.returncode == 0, console(result)
    written = pwb_dir / 'rel.sqlite'
    assert written.exists()
    lines = result.stdout.splitlines()
    assert f'The grants are in the file {written}.' in lines
    assert lines[-1] == ('sqlite:///rel.sqlite is relative to the folder this ran in; a bot'
                         f" runs elsewhere: give enable(token_store='sqlite:///{written}').")


# --- item 7: a renewal is one INFO line; token requests under -debug ---------------------------

def test_a_renewal_is_one_info_line_and_token_requests_show_under_debug(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory) -> None:
    from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
    from pwb_oauth_ext.testwiki.browser import authorization_code_grant
    callback = 'http://127.0.0.1:9/callback'
    client = wiki.app.oauth2.register_client('BotUser', confidential=True, redirect_uri=callback)
    tokens = authorization_code_grant(wiki, client, 'BotUser', redirect_uri=callback)
    pwb_dir = pwb_dir_factory([
        f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
        f' client_secret={client.client_secret!r})'])
    expired = {**tokens.to_record(), 'expires_at': time.time() - 60}
    TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(
        GrantKey(wiki.host, client.client_id, 'BotUser'), expired)
    refreshes = wiki.app.oauth2.token_requests['refresh_token']

    quiet = run(pwb_dir, '-c', LOGIN)
    assert quiet.returncode == 0, console(quiet)
    assert wiki.app.oauth2.token_requests['refresh_token'] == refreshes + 1
    shown = f'{client.client_id[:6]}...{client.client_id[-4:]}'
    [line] = [line for line in console(quiet).splitlines() if 'renewed' in line]
    assert line.startswith(f'OAuth 2.0 token renewed for testwiki:testwiki with the refresh'
                           f' token of the grant of BotUser on {wiki.host} (client {shown});'
                           ' it expires '), line
    assert line.endswith(' min).')
    assert 'token request' not in console(quiet)   # only under -debug

    record = TokenStore(pwb_dir / 'pwb-oauth-tokens.json').get(
        GrantKey(wiki.host, client.client_id, 'BotUser'))
    assert record is not None
    TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(
        GrantKey(wiki.host, client.client_id, 'BotUser'), {**record, 'expires_at': 1.0})
    debug = run(pwb_dir, '-c', 'import pywikibot; pywikibot.handle_args();' + LOGIN,
                '-debug', '-log:renew.log')
    assert debug.returncode == 0, console(debug)
    endpoint = f'{wiki.url}/rest.php/oauth2/access_token'
    log = (pwb_dir / 'logs' / 'renew.log').read_text(encoding='utf-8')
    # Pywikibot writes DEBUG records to the log file only (bot.init_handlers).
    assert f'OAuth 2.0 token request: POST {endpoint} (grant_type=refresh_token)' in log
    assert f'OAuth 2.0 token answer from {endpoint}: HTTP 200' in log
    for text in (console(debug), log):
        assert sum('OAuth 2.0 token renewed for testwiki:testwiki' in line
                   for line in text.splitlines()) == 1, text
    new = TokenStore(pwb_dir / 'pwb-oauth-tokens.json').get(
        GrantKey(wiki.host, client.client_id, 'BotUser'))
    assert new is not None
    for secret in (client.client_secret, tokens.refresh_token, record['refresh_token'],
                   record['access_token'], new['access_token'], new['refresh_token']):
        assert secret not in console(quiet) + console(debug) + log
