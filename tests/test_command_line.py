"""One command-line convention (issue 21 item 6), what authorize says while it waits (item 4),
the documented exit statuses (item 5), telling keys apart (item 13) and the replace guard
of ``authorize -user:`` (issue 20 item 12): run as a user types them.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PwbDirFactory, authenticate_line

from pwb_oauth_ext.commands.main import _split_args, build_parser
from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment, write_pywikibot_dir
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

CLI = ('-m', 'pwb_oauth_ext.commands.main')


def run(pwb_dir: Path, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *CLI, *argv], cwd=str(pwb_dir),
                          env=pywikibot_environment(pwb_dir), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, encoding='utf-8', errors='replace',
                          timeout=timeout, check=False)


def console(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def shown(identifier: str) -> str:
    return f'{identifier[:6]}...{identifier[-4:]}'


# --- item 6: Pywikibot's form everywhere, GNU forms as aliases --------------------------------

def _every_parser(parser: argparse.ArgumentParser, name: str = 'pwb-oauth'
                  ) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                found += _every_parser(sub, f'{name} {command}')
    return found


def test_every_option_has_pywikibots_form_first() -> None:
    """Every command's own options, whoever adds them (testwiki's, store's too)."""
    seen = set()
    for name, parser in _every_parser(build_parser()):
        for action in parser._actions:
            gnu = [option for option in action.option_strings if option.startswith('--')]
            for option in gnu:
                assert action.option_strings[0] == option[1:], (name, action.option_strings)
                seen.add(option)
    assert {'--json', '--all', '--force', '--paste', '--show', '--no-browser', '--dir',
            '--site', '--user', '--to', '--from', '--port', '--mediawiki'} <= seen


@pytest.mark.parametrize('argv, field, value', [
    (['check', '-json', '-all', '-site:wikipedia:en'], 'site', ['wikipedia:en']),
    (['check', '--json', '--site', 'wikipedia:en', '-site:wikipedia:de'], 'site',
     ['wikipedia:en', 'wikipedia:de']),
    (['check', '-user:Bot_B'], 'user', 'Bot_B'),
    (['check', '--user', 'BotB'], 'user', 'BotB'),
    (['authorize', '-paste', '-force', '-show', '-no-browser'], 'no_browser', True),
    (['explain', '-site:wikipedia:en'], 'site', 'wikipedia:en'),
    (['testwiki', '-dir:/tmp/a:b'], 'dir', '/tmp/a:b'),
    (['store', 'migrate', '-to:sqlite:///x.sqlite', '-from:/tmp/t.json'], 'to',
     'sqlite:///x.sqlite'),
])
def test_both_forms_parse_alike(argv: list[str], field: str, value: object) -> None:
    parser = build_parser()
    ours, _ = _split_args(parser, argv)
    assert getattr(parser.parse_args(ours), field) == value


def test_own_options_are_not_taken_for_pywikibots() -> None:
    parser = build_parser()
    assert _split_args(parser, ['check', '-json', '-log', '-site:a:b']) == (
        ['check', '-json', '-site:a:b'], ['-log', '-site:a:b'])
    assert _split_args(parser, ['testwiki', '-dir:/x', '-port:0']) == (
        ['testwiki', '-dir:/x', '-port:0'], [])


def test_help_shows_pywikibots_form(tmp_path: Path) -> None:
    for command, forms in (('check', ['-site:FAMILY:CODE, --site FAMILY:CODE',
                                      '-user:NAME, --user NAME', '-json, --json',
                                      '-all, --all']),
                           ('authorize', ['-paste, --paste', '-force, --force',
                                          '-no-browser, --no-browser', '-show, --show']),
                           ('testwiki', ['-dir:DIR, --dir DIR']),
                           ('explain', ['-site:FAMILY:CODE, --site FAMILY:CODE'])):
        result = run(tmp_path, command, '-h')
        assert result.returncode == 0, console(result)
        for form in forms:
            assert form in result.stdout, (command, result.stdout)
        assert '[-site FAMILY:CODE]' not in result.stdout


def test_check_json_and_user_in_pywikibots_form(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory) -> None:
    wiki.app.add_bot('SomeoneElse')
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run(pwb_dir, 'check', '-json', '-site:testwiki:testwiki')
    assert result.returncode == 0, console(result)
    assert json.loads(result.stdout)['sites'][0]['identity'] == 'BotUser'
    other = run(pwb_dir, 'check', '-json', '--user', 'SomeoneElse')
    assert other.returncode == 1, console(other)
    [site] = json.loads(other.stdout)['sites']
    assert site['configured_user'] == 'SomeoneElse'
    assert site['errors'][0].startswith('identity mismatch:')


def test_explain_takes_a_site(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
                              pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run(pwb_dir, 'explain', '-site:testwiki:testwiki', '-user:BotUser')
    assert result.returncode == 0, console(result)
    assert result.stdout.splitlines()[0] == (f'{wiki.api_url}: host 127.0.0.1, port'
                                             f' {wiki.port}, account BotUser')
    assert 'Protocol: OAuth 1.0a' in result.stdout
    neither = run(pwb_dir, 'explain')
    assert neither.returncode == 2
    assert 'give a URL or -site:FAMILY:CODE' in neither.stderr


# --- item 5: exit statuses as documented (2 = configuration error) ----------------------------

def test_check_with_a_three_tuple_is_a_configuration_error(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = pwb_dir_factory([f"authenticate[{wiki.host!r}] = ('a', 'b', 'c')"])
    result = run(pwb_dir, 'check')
    assert result.returncode == 2, console(result)
    assert 'has 3 items' in result.stdout


def test_authorize_an_owner_only_entry_is_a_configuration_error(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = pwb_dir_factory([f"authenticate[{wiki.host!r}] = _oauth.OAuth2("
                               "access_token='x' * 30)"])
    result = run(pwb_dir, 'authorize', '-site:testwiki:testwiki', '-no-browser')
    assert result.returncode == 2, console(result)
    assert 'is an owner-only OAuth 2.0 token: it needs no authorization' in result.stdout


# --- item 4: authorize checks reachability, says how long it waits and what next ---------------

def _client_dir(tmp_path: Path, wiki: RunningWiki, redirect_uri: str) -> tuple[Path, object]:
    client = wiki.app.oauth2.register_client('BotUser', confidential=True,
                                             redirect_uri=redirect_uri)
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki, username='BotUser', authenticate_lines=[
        'import pwb_oauth_ext as _oauth', '_oauth.enable()',
        f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
        f' client_secret={client.client_secret!r}, redirect_uri={redirect_uri!r})'])
    return pwb_dir, client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_authorize_an_unreachable_wiki_exits_3_at_once(tmp_path: Path) -> None:
    with run_test_wiki() as stopped:
        stopped.app.add_bot('BotUser')
        pwb_dir, _ = _client_dir(tmp_path, stopped,
                                 f'http://127.0.0.1:{_free_port()}/callback')
    result = run(pwb_dir, 'authorize', '-site:testwiki:testwiki', '--no-browser', timeout=60)
    assert result.returncode == 3, console(result)
    assert result.stdout.splitlines() == [
        f'Error: cannot reach 127.0.0.1:{stopped.port}: connection refused: nothing listens on'
        ' that port (the wiki server is not running, or the port in the family file is'
        ' wrong). Nothing was sent; start the wiki (or fix the family file) and run this'
        ' again.']


def test_authorize_says_how_long_it_waits_and_what_to_do_after(
        wiki: RunningWiki, tmp_path: Path) -> None:
    redirect = f'http://127.0.0.1:{_free_port()}/callback'
    pwb_dir, _ = _client_dir(tmp_path, wiki, redirect)
    result = run(pwb_dir, 'authorize', '-site:testwiki:testwiki', '-no-browser',
                 '-timeout:1')
    assert result.returncode == 1, console(result)
    lines = result.stdout.splitlines()
    assert (f'Waiting for the wiki to send the browser to {redirect} (for up to 1 s; press'
            ' Ctrl-C to cancel, or run again with -paste to paste the address from the browser'
            ' instead) ...') in lines
    assert lines[-1] == (
        f'Error: No OAuth redirect arrived at {redirect} within 1 s. Nothing was stored. Run'
        ' this again and press "Allow" in time (-timeout:SECONDS waits longer), or with'
        ' -paste if the browser runs on another machine, then paste the address it shows'
        ' after "Allow".')


# --- issue 20 item 12: -user:Bot_User is the grant of 'Bot User' ------------------------------

def test_authorize_user_is_normalised_before_the_replace_guard(
        wiki: RunningWiki, tmp_path: Path) -> None:
    from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
    wiki.app.add_bot('Bot User')
    pwb_dir, client = _client_dir(tmp_path, wiki, f'http://127.0.0.1:{_free_port()}/callback')
    record = {'protocol': 'oauth2', 'access_token': 'a' * 40, 'refresh_token': 'r' * 40,
              'expires_at': None}
    store = TokenStore(pwb_dir / 'pwb-oauth-tokens.json')
    store.put(GrantKey(wiki.host, client.client_id, 'Bot User'), record)  # type: ignore[attr-defined]
    result = run(pwb_dir, 'authorize', '-site:testwiki:testwiki', '-user:Bot_User',
                 '-no-browser', '-paste')
    assert result.returncode == 1, console(result)
    assert result.stdout.startswith(
        f'Error: A grant of Bot User for client {shown(client.client_id)} on'  # type: ignore[attr-defined]
        f' {wiki.host} is already stored'), result.stdout
    assert 'Open this URL' not in result.stdout
    assert [key.account for key, _ in store.entries()] == ['Bot User']


# --- item 13: a key with a typo at its end looks different ----------------------------------

def test_keys_that_differ_at_the_end_are_shown_differently() -> None:
    from pwb_oauth_ext import OAuth1, OAuth2
    right, typo = '0123456789abcdef0123456789abcdef', '0123456789abcdef0123456789abcdeX'
    assert OAuth1(right, 'cs').public_id() == '012345...cdef'
    assert OAuth1(right, 'cs').public_id() != OAuth1(typo, 'cs').public_id()
    assert OAuth2(client_id=typo).public_id() == '012345...cdeX'
    assert 'cdeX' in repr(OAuth2(client_id=typo))


# --- item 1 in explain and check: the nearest key when none matches ---------------------------

def test_explain_and_check_name_the_nearest_key(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(f'localhost:{wiki.port}', oauth1_consumer)])
    why = (f"the nearest key is 'localhost:{wiki.port}': its host localhost is not 127.0.0.1:"
           ' keys are compared as written, and these are two names of this machine')
    explained = run(pwb_dir, 'explain', wiki.api_url)
    assert explained.returncode == 1
    assert f'Pywikibot would send no credentials there. The{why[3:]}.' in explained.stdout
    checked = run(pwb_dir, 'check', '-json')
    assert checked.returncode == 2, console(checked)
    [site] = json.loads(checked.stdout)['sites']
    assert site['errors'] == [f'no config.authenticate key matches {wiki.api_url}; {why}']
