"""Promises of the README and the manual (docs/) that no other test pinned, and the
manual's statements that must stay true of the code.

Most tests run a small bot in a subprocess against the local wiki and check what a user
would see: the bot's output, what the wiki received, what Pywikibot keeps in memory. The
manual's own examples run under ``tox -e docs`` (docs/examples.py); the tests at the end
compare the manual's tables and command lines with the code, so that they cannot drift.
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import authenticate_line, oauth1_tuple

from pwb_oauth_ext.protocol.store import TokenStore
from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.server import RunningWiki

REPORT = '''
import json as _json
def report(**values):
    print('REPORT ' + _json.dumps(values), flush=True)
'''


def report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one REPORT line of a run; fails with the bot's output when there is none."""
    found = [json.loads(line[len('REPORT '):]) for line in result.stdout.splitlines()
             if line.startswith('REPORT ')]
    assert len(found) == 1, f'rc={result.returncode}\n{result.stdout}\n{result.stderr}'
    return found[0]


# --- oauthlib's and requests-oauthlib's DEBUG loggers are held at INFO ---------------------

ROOT_DEBUG_BOT = REPORT + '''
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                    format='%(name)s:%(levelname)s:%(message)s')
import pywikibot
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, 'Root logging at DEBUG')
page.text = 'signed while the root logger is at DEBUG'
page.save(summary='logging test')
report(user=site.user())
'''


def test_a_bot_logging_everything_at_debug_shows_no_signing_detail(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(ROOT_DEBUG_BOT, pwb_dir)
    assert report(result) == {'user': 'BotUser'}
    output = result.stdout + result.stderr
    # Root logging really is at DEBUG: the HTTP library's debug lines are there.
    assert 'urllib3.connectionpool:DEBUG:' in output
    assert 'oauthlib' not in output.lower()  # no line from oauthlib or requests_oauthlib
    assert 'signature base string' not in output.lower()
    assert 'oauth_signature' not in output
    for secret in (oauth1_consumer.consumer_secret, oauth1_consumer.access_secret):
        assert secret not in output


# --- config.authenticate changed while a bot runs ---------------------------------------

def test_an_entry_added_while_the_bot_runs_applies_to_later_requests(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    """A more specific entry added after ``Site()`` wins from the next request on."""
    late = wiki.app.register_oauth1_consumer('BotUser', owner_only=True)
    host_only = wiki.host.rsplit(':', 1)[0]   # '127.0.0.1': any port
    pwb_dir = pwb_dir_factory([authenticate_line(host_only, oauth1_consumer)])
    with wiki.app.watch() as exchanges:
        result = run_pwb(REPORT + f'''
import pywikibot
from pywikibot import config
site = pywikibot.Site()
def read(title):
    site.simple_request(action='query', titles=title).submit()
read('Before the change')
config.authenticate[{wiki.host!r}] = {oauth1_tuple(late)}   # exact host with its port
read('After adding')
del config.authenticate[{wiki.host!r}]
read('After deleting')
report(user=site.user())
''', pwb_dir)
    assert report(result) == {'user': 'BotUser'}
    consumer_of = {x.request.params.get('titles'): x.request.headers.get('authorization', '')
                   for x in exchanges if x.request.params.get('titles')}
    assert f'oauth_consumer_key="{oauth1_consumer.consumer_key}"' in consumer_of[
        'Before the change']
    assert f'oauth_consumer_key="{late.consumer_key}"' in consumer_of['After adding']
    assert f'oauth_consumer_key="{oauth1_consumer.consumer_key}"' in consumer_of[
        'After deleting']


def test_the_clock_correction_lasts_while_the_entries_stay_the_same(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    """Corrected once, signed with the wiki's time from then on: one warning, one refusal."""
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    wiki.wiki.clock_offset = 1000
    try:
        with wiki.app.watch() as exchanges:
            result = run_pwb(REPORT + '''
import pywikibot
site = pywikibot.Site()
site.login()
for n in range(3):
    page = pywikibot.Page(site, f'Clock kept {n}')
    page.text = f'saved {n}'
    page.save(summary='clock test')
report(user=site.user())
''', pwb_dir)
    finally:
        wiki.wiki.clock_offset = 0
    assert report(result) == {'user': 'BotUser'}
    assert result.stderr.count('Clock differs') == 1, result.stderr
    refused = [x for x in exchanges if b'Expired timestamp' in x.response.body]
    assert len(refused) == 1


# --- logout() forgets the site's cookies and tokens --------------------------------------

LOGOUT_BOT = REPORT + '''
import pywikibot
from pywikibot.comms import http
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, {title!r})
page.text = 'an edit makes the wiki set cookies'
page.save(summary='logout test')
from requests.cookies import create_cookie
http.cookie_jar.set_cookie(create_cookie('elsewhere', 'kept', domain='other.example', path='/'))
def cookies():
    return sorted((c.domain, c.name) for c in http.cookie_jar)
token = site.tokens['csrf']
before = dict(cookies=cookies(), token_cached=token in str(site.tokens))
site.logout()
report(before=before, cookies=cookies(), tokens=str(site.tokens),
       token_cached=token in str(site.tokens), anon_token=token == '+\\\\')
'''


def test_logout_drops_the_sites_cookies(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    outcome = report(run_pwb(LOGOUT_BOT.format(title='Logout drops cookies'), pwb_dir))
    site_host = wiki.host.rsplit(':', 1)[0]
    assert [d for d, _ in outcome['before']['cookies'] if d == site_host], outcome
    assert outcome['cookies'] == [['other.example', 'elsewhere']]


def test_logout_drops_the_sites_tokens(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    outcome = report(run_pwb(LOGOUT_BOT.format(title='Logout drops tokens'), pwb_dir))
    assert outcome['before']['token_cached'] is True
    assert outcome['anon_token'] is False   # it was BotUser's token
    assert outcome['token_cached'] is False
    assert outcome['tokens'] == '{}'


# --- token requests: Pywikibot's session, its User-Agent, nothing else attached ------------

def test_token_requests_carry_pywikibots_user_agent_and_no_other_credential(
        wiki: RunningWiki, oauth1_consumer: Any, pwb_dir_factory: Any, run_pwb: Any) -> None:
    """The token endpoint sits on a host that has an OAuth 1.0a entry of its own
    (``localhost``): the token request still carries no Authorization header."""
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    port = wiki.host.rsplit(':', 1)[1]
    token_url = f'http://localhost:{port}/rest.php/oauth2/access_token'
    pwb_dir = pwb_dir_factory([
        f'authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},'
        f' client_secret={client.client_secret!r}, grant="client_credentials",'
        f' token_url={token_url!r})',
        authenticate_line('localhost', oauth1_consumer)],
        extra_lines=["user_agent_description = 'promise-test-agent'"])
    with wiki.app.watch() as exchanges:
        result = run_pwb(REPORT + '''
import pywikibot
from pywikibot.comms import http
site = pywikibot.Site()
site.login()
report(user=site.user(), agent=http.user_agent())
''', pwb_dir)
    outcome = report(result)
    assert outcome['user'] == 'BotUser'
    token_requests = [x.request for x in exchanges
                      if x.request.path == '/rest.php/oauth2/access_token']
    api_requests = [x.request for x in exchanges if x.request.path == '/api.php']
    assert len(token_requests) == 1 and api_requests
    (token_request,) = token_requests
    assert token_request.headers['host'] == f'localhost:{port}'
    # Pywikibot's User-Agent as http.fetch() without a site makes it (the site's API
    # requests add the bot's user name to it).
    agent = token_request.headers['user-agent']
    assert agent == outcome['agent']
    assert 'Pywikibot/' in agent and 'promise-test-agent' in agent
    assert 'authorization' not in token_request.headers
    assert 'cookie' not in token_request.headers
    assert api_requests[-1].headers['authorization'].startswith('Bearer ')


# --- no password is ever sent, even with a password file: OAuth 2.0 entries ---------------

PASSWORD = 'a-password-that-must-stay-home'


def _oauth2_entry(kind: str, wiki: RunningWiki, pwb_dir_factory: Any,
                  extra_lines: list[str]) -> Path:
    provider = wiki.app.oauth2
    if kind == 'owner-only':
        client = provider.register_client('BotUser', owner_only=True)
        return pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                                f'access_token={client.owner_only_token!r})'],
                               extra_lines=extra_lines)
    if kind == 'client-credentials':
        client = provider.register_client('BotUser', owner_only=True)
        return pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                                f'client_id={client.client_id!r},'
                                f' client_secret={client.client_secret!r},'
                                " grant='client_credentials')"], extra_lines=extra_lines)
    callback = 'http://127.0.0.1:8765/callback'
    client = provider.register_client('BotUser', confidential=True, redirect_uri=callback)
    tokens = authorization_code_grant(wiki, client, 'BotUser', redirect_uri=callback)
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                               f'client_id={client.client_id!r},'
                               f' client_secret={client.client_secret!r})'],
                              extra_lines=extra_lines)
    record = tokens.to_record()
    record['expires_at'] = time.time() - 3600   # and it refreshes on the way
    TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(wiki.host, client.client_id, 'BotUser',
                                                      record)
    return pwb_dir


@pytest.fixture
def header_stripping_proxy(wiki: RunningWiki, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wiki answers bearer requests as anonymous, as behind a proxy that drops the header.

    Plain Pywikibot would then fall back to a password login; the plugin must not.
    """
    from pwb_oauth_ext.testwiki.actionapi import Caller

    original = wiki.app.api._authenticate

    def authenticate(req: Any, session_cookie_name: str) -> Any:
        if req.authorization.startswith('Bearer'):
            return Caller(None)
        return original(req, session_cookie_name)
    monkeypatch.setattr(wiki.app.api, '_authenticate', authenticate)


LOGIN_TWICE = REPORT + '''
import pywikibot
site = pywikibot.Site()
site.login()
site.login(autocreate=True)
report(user=site.user(), logged_in=site.logged_in())
'''


def _assert_no_password_sent(exchanges: list[Any]) -> None:
    actions = [x.request.params.get('action') for x in exchanges
               if x.request.path == '/api.php']
    assert 'query' in actions
    assert not {'login', 'clientlogin'} & set(actions)
    for x in exchanges:
        assert PASSWORD.encode() not in x.request.body
        assert PASSWORD not in repr(x.request.headers) + x.request.query_string


def _password_file(tmp_path: Path) -> list[str]:
    passwords = tmp_path / 'passwords.txt'
    passwords.write_text(f"('BotUser', {PASSWORD!r})\n", encoding='utf-8')
    passwords.chmod(0o600)
    return [f'password_file = {str(passwords)!r}']


OAUTH2_KINDS = ['owner-only', 'client-credentials', 'authorization-code']


@pytest.mark.parametrize('kind', OAUTH2_KINDS)
def test_oauth2_login_never_sends_a_password_even_with_a_password_file(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any, tmp_path: Path,
        kind: str) -> None:
    pwb_dir = _oauth2_entry(kind, wiki, pwb_dir_factory, _password_file(tmp_path))
    with wiki.app.watch() as exchanges:
        result = run_pwb(LOGIN_TWICE, pwb_dir)
    assert report(result) == {'user': 'BotUser', 'logged_in': True}
    _assert_no_password_sent(exchanges)


@pytest.mark.parametrize('kind', OAUTH2_KINDS)
def test_oauth2_login_treated_as_anonymous_fails_instead_of_sending_the_password(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any, tmp_path: Path,
        kind: str, header_stripping_proxy: None) -> None:
    pwb_dir = _oauth2_entry(kind, wiki, pwb_dir_factory, _password_file(tmp_path))
    with wiki.app.watch() as exchanges:
        result = run_pwb(LOGIN_TWICE, pwb_dir)
    assert result.returncode != 0
    assert 'REPORT' not in result.stdout
    assert 'anonymous' in result.stderr   # the error says why (client credentials: which client)
    _assert_no_password_sent(exchanges)


# --- the manual's statements that must match the code -----------------------------------

ROOT = Path(__file__).resolve().parents[1]
MANUAL = ROOT / 'docs'


def manual_text(*names: str) -> str:
    paths = [MANUAL / name for name in names] if names else [
        ROOT / 'README.md', *sorted(MANUAL.rglob('*.md'))]
    return '\n'.join(path.read_text(encoding='utf-8') for path in paths)


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row (header and rule rows included)."""
    return [[cell.strip() for cell in re.split(r'(?<!\\)\|', line.strip())[1:-1]]
            for line in text.splitlines() if line.lstrip().startswith('|')]


def row_for(message: str) -> list[str]:
    """The row of the errors reference whose first cell describes ``message``.

    A cell names one or more messages in backticks; ``…`` stands for any text and KEY for
    a config key. Fails naming the message when no row matches.
    """
    rows = table_rows(manual_text('reference/errors.md'))
    for row in rows:
        for shown in re.findall(r'`([^`]+)`', row[0]):
            pattern = '.*'.join(re.escape(part).replace('KEY', '.*') for part in shown.split('…'))
            if re.search(pattern, message):
                return row
    raise AssertionError(f'no row of docs/reference/errors.md describes: {message}')


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if line.startswith('ERROR: ')]
    assert len(lines) == 1, f'rc={result.returncode}\n{result.stdout}\n{result.stderr}'
    return lines[0][len('ERROR: '):]


#: ``pwb login``, as the ``pwb`` console script runs it.
LOGIN = ('-c', 'from pywikibot.scripts.wrapper import run; run()', 'login')


def test_the_errors_reference_describes_a_missing_oauth1_grant(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any) -> None:
    consumer = wiki.app.register_oauth1_consumer('BotUser', owner_only=False,
                                                 callback='oob')
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth1('
                               f'{consumer.consumer_key!r}, {consumer.consumer_secret!r})'])
    message = error_line(run_pwb(None, pwb_dir, *LOGIN))
    assert 'pwb-oauth authorize' in row_for(message)[1]


def test_the_errors_reference_describes_a_missing_oauth2_grant(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=False,
                                           redirect_uri='http://127.0.0.1:9/callback')
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                               f'client_id={client.client_id!r},'
                               f' client_secret={client.client_secret!r})'])
    message = error_line(run_pwb(None, pwb_dir, *LOGIN))
    assert 'pwb-oauth authorize' in row_for(message)[1]


def test_the_errors_reference_describes_a_secret_file_open_to_others(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any, tmp_path: Path) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    secret = tmp_path / 'token'
    secret.write_text(client.owner_only_token + '\n')
    secret.chmod(0o620)   # others may not read it, but the group may write: refused too
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                               f'access_token=_oauth.file({str(secret)!r}))'])
    message = error_line(run_pwb(None, pwb_dir, *LOGIN))
    assert 'chmod' in row_for(message)[1]


def test_the_errors_reference_describes_a_token_store_open_to_others(
        wiki: RunningWiki, pwb_dir_factory: Any, run_pwb: Any) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth2('
                               f'client_id={client.client_id!r},'
                               f' client_secret={client.client_secret!r},'
                               " grant='client_credentials')"])
    store = pwb_dir / 'pwb-oauth-tokens.json'
    store.write_text('{"version": 2, "grants": []}')
    store.chmod(0o604)
    message = error_line(run_pwb(None, pwb_dir, *LOGIN))
    assert 'chmod' in row_for(message)[1]


def test_the_store_formats_table_says_what_each_database_store_needs() -> None:
    """Each URL scheme's row names the extra that installs SQLAlchemy and the driver, or
    SQLAlchemy itself where no extra does (SQLite's driver comes with Python)."""
    from pwb_oauth_ext.protocol.stores.urls import _DATABASES
    rows = table_rows(manual_text('reference/store-formats.md'))
    install_of = {}
    for row in rows:
        for scheme in re.findall(r'`(\w+)://', row[0]):
            install_of[scheme] = row[-1]
    assert set(install_of) == set(_DATABASES), install_of
    for scheme, database in _DATABASES.items():
        needed = f'pwb_oauth_ext[{database.extra}]' if database.extra else 'SQLAlchemy'
        assert needed in install_of[scheme], (scheme, install_of[scheme])


def test_the_exit_statuses_in_the_manual_are_the_commands() -> None:
    from pwb_oauth_ext.commands.main import build_parser
    epilog = build_parser().epilog or ''
    in_code = dict(re.findall(r'(\d+) ([^;.]+)', epilog.split(':', 1)[1]))
    rows = table_rows(manual_text('reference/commands.md'))
    in_manual = {row[0]: row[1] for row in rows if len(row) == 2 and row[0].isdigit()}
    assert set(in_manual) == set(in_code), (in_manual, in_code)
    for status, meaning in in_code.items():
        assert in_manual[status].startswith(meaning.strip()), (status, in_manual[status])


#: Pywikibot's global options, as pwb-oauth hands them to pywikibot.handle_args.
GLOBAL_OPTIONS = ('-dir:', '-config:', '-family:', '-lang:', '-code:', '-site:', '-user:',
                  '-log', '-debug', '-verbose', '-simulate')


def test_every_pwb_oauth_command_line_in_the_manual_parses() -> None:
    """What the README and the manual show in backticks (and console blocks do not run, such
    as authorize on a real wiki) is a command line the parser accepts: no option that only
    one of Pywikibot's and the GNU spellings knows, no synopsis from an older parser."""
    from pwb_oauth_ext.commands import main
    lines = set(re.findall(r'`(pwb-oauth [^`]+)`', manual_text()))
    lines |= set(re.findall(r'^\$ (pwb-oauth .+)$', manual_text(), re.MULTILINE))
    checked = 0
    for line in sorted(lines):
        if re.search(r'[\[\]|]|help|COMMAND|\.\.\.|;', line):
            continue  # a synopsis with alternatives, or help (it exits)
        argv = shlex.split(line)[1:]
        if not any(arg.startswith('-') for arg in argv):
            continue  # a command named in a sentence ('pwb-oauth store migrate'), not a line
        parser = main.build_parser()
        ours, pywikibot_args = main._split_args(parser, argv)
        try:
            parser.parse_args(ours)
        except SystemExit:
            raise AssertionError(f'the manual shows {line!r}, which pwb-oauth refuses') from None
        unknown = [arg for arg in pywikibot_args if not arg.startswith(GLOBAL_OPTIONS)]
        assert unknown == [], f'{line!r}: {unknown} is neither an option nor a global option'
        checked += 1
    assert checked >= 10


def test_the_readme_is_a_first_screen_that_links_into_the_manual() -> None:
    """Short, the two commands CI runs kept as they are, and every link to the manual leads
    to a page that exists (a page renamed in docs/ fails here, not on a reader)."""
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(readme.splitlines()) <= 150
    two = readme.split('\n## Two commands\n', 1)[1].split('\n## ', 1)[0]
    assert ("\n    python3 -m venv .venv && .venv/bin/pip install -q '.[testwiki]'"
            " && .venv/bin/pwb-oauth demo\n") in two
    assert ("\n    python3 -m venv .venv && .venv/bin/pip install -q 'tox>=4'"
            " && .venv/bin/tox\n") in two
    links = re.findall(r'\]\((docs/[^)#]+)', readme)
    assert len(links) >= 10
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert missing == []
