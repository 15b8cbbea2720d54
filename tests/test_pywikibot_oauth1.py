"""Real Pywikibot, with the plugin enabled in user-config.py, against the local wiki (OAuth 1.0a).

Each test writes its own Pywikibot dir and runs Pywikibot in a subprocess; the wiki
(in this process) is shared by the module, so each test uses its own page titles.
"""
from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from conftest import authenticate_line

from pwb_oauth_ext.testwiki.model import InvalidAuthorization
from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.server import RunningWiki

#: Prints one JSON line (prefixed) that the tests read back.
REPORT = '''
import json as _json
def report(**values):
    print('REPORT ' + _json.dumps(values), flush=True)
'''


def reports(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line[len('REPORT '):]) for line in stdout.splitlines()
            if line.startswith('REPORT ')]


def report(result: Any) -> dict[str, Any]:
    """The single report of a run, failing with the child's output if there is none."""
    found = reports(result.stdout)
    assert len(found) == 1, f'rc={result.returncode}\n{result.stdout}\n{result.stderr}'
    return found[0]


def save_page_code(title: str, text: str = 'Saved by the bot', handle_args: bool = False) -> str:
    """A snippet that saves ``title`` through Pywikibot and reports who the site thinks it is."""
    return REPORT + f'''
import pywikibot
{'pywikibot.handle_args()' if handle_args else ''}
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, {title!r})
page.text = {text!r}
page.save(summary='test')
report(user=site.user(), logged_in=site.logged_in())
'''


def last_editor(wiki: RunningWiki, title: str) -> str:
    return wiki.wiki.pages[title].revisions[-1].user


def mark(wiki: RunningWiki, label: str) -> str:
    """Python source that puts ``label`` into the wiki's request log (not through Pywikibot)."""
    return (f'__import__("urllib.request").request.build_opener('
            f'__import__("urllib.request").request.ProxyHandler({{}})).open('
            f'{wiki.url + "/index.php?title=" + label!r}).read()\n')


def between(wiki: RunningWiki, start: str, end: str) -> list[tuple[str, str, str]]:
    """The wiki's request log entries between two ``mark`` labels."""
    log = list(wiki.wiki.request_log)
    titles = [entry[2] for entry in log]
    return log[titles.index(start) + 1:titles.index(end)]


@pytest.fixture
def header_log(wiki: RunningWiki) -> Iterator[Callable[[], list[tuple[str, str]]]]:
    """(action, Authorization header or '') of every api.php request so far in the test."""
    with wiki.app.watch() as exchanges:
        yield lambda: [(x.request.params.get('action', ''),
                        x.request.headers.get('authorization', ''))
                       for x in exchanges if x.request.path == '/api.php']


class HeaderRecorder(http.server.BaseHTTPRequestHandler):
    """A bare server on 127.0.0.1 that remembers the headers of each request."""

    seen: list[dict[str, str]]

    def do_GET(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        body = b'unrelated'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """(base URL, headers seen) of a second, unrelated server on 127.0.0.1."""
    seen: list[dict[str, str]] = []
    handler = type('Recorder', (HeaderRecorder,), {'seen': seen})
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}', seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope='module')
def bot_b(wiki: RunningWiki) -> OAuth1Consumer:
    """A second bot on the same wiki with its own owner-only consumer."""
    wiki.app.add_bot('BotB')
    return wiki.app.register_oauth1_consumer('BotB', owner_only=True)


# --- 2. configuration forms ---------------------------------------------------------

@pytest.mark.parametrize('key_form', ['host:port', 'host', '*'])
def test_four_tuple_under_each_key_form_saves_as_the_bot(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, key_form):
    key = {'host:port': wiki.host, 'host': '127.0.0.1', '*': '*'}[key_form]
    title = f'Key form {key_form}'
    pwb_dir = pwb_dir_factory([authenticate_line(key, oauth1_consumer)])
    result = run_pwb(save_page_code(title), pwb_dir)
    assert report(result) == {'user': 'BotUser', 'logged_in': True}
    assert last_editor(wiki, title) == 'BotUser'


@pytest.mark.contract
def test_oauth1_object_saves_as_the_bot(wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    c = oauth1_consumer
    pwb_dir = pwb_dir_factory([
        f'authenticate[{wiki.host!r}] = _oauth.OAuth1({c.consumer_key!r}, {c.consumer_secret!r},'
        f' {c.access_token!r}, {c.access_secret!r})'])
    result = run_pwb(save_page_code('OAuth1 object'), pwb_dir)
    assert report(result)['user'] == 'BotUser'
    assert last_editor(wiki, 'OAuth1 object') == 'BotUser'


def test_second_account_on_one_wiki_is_chosen_with_user_option(
        wiki, oauth1_consumer, bot_b, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer),
                               authenticate_line(f'BotB@{wiki.host}', bot_b)])
    as_b = run_pwb(save_page_code('Two bots B', handle_args=True), pwb_dir, '-user:BotB')
    as_default = run_pwb(save_page_code('Two bots A', handle_args=True), pwb_dir)
    assert report(as_b)['user'] == 'BotB'
    assert report(as_default)['user'] == 'BotUser'
    assert last_editor(wiki, 'Two bots B') == 'BotB'
    assert last_editor(wiki, 'Two bots A') == 'BotUser'


# --- 3. credentials only where an entry matches -------------------------------------

def test_entry_for_another_port_leaves_the_wiki_anonymous(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, header_log):
    pwb_dir = pwb_dir_factory([authenticate_line('127.0.0.1:1', oauth1_consumer)],
                              username=None)
    result = run_pwb(REPORT + '''
import pywikibot
site = pywikibot.Site()
report(anon='anon' in site.userinfo, oauth=site.is_oauth_token_available())
''', pwb_dir)
    assert report(result) == {'anon': True, 'oauth': False}
    log = header_log()
    assert log, 'the wiki saw no API request'
    assert all(auth == '' for _, auth in log)


@pytest.mark.contract
@pytest.mark.parametrize('key_form', ['host:port', '*'])
def test_unrelated_url_fetched_by_pywikibot_carries_no_authorization(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, other_server, key_form):
    other_url, seen = other_server
    key = wiki.host if key_form == 'host:port' else '*'
    pwb_dir = pwb_dir_factory([authenticate_line(key, oauth1_consumer)])
    result = run_pwb(REPORT + f'''
import pywikibot
from pywikibot.comms import http
site = pywikibot.Site()
site.login()
response = http.fetch({other_url + '/sparql?q=1'!r})
report(status=response.status_code, user=site.user())
''', pwb_dir)
    assert report(result) == {'status': 200, 'user': 'BotUser'}
    assert len(seen) == 1
    assert 'authorization' not in seen[0]


def test_entry_for_the_other_host_is_sent_there(
        oauth1_consumer, pwb_dir_factory, run_pwb, other_server):
    """The control for the test above: a matching entry does reach that host."""
    other_url, seen = other_server
    pwb_dir = pwb_dir_factory([authenticate_line(other_url.split('://')[1], oauth1_consumer)],
                              username=None)
    result = run_pwb(REPORT + f'''
from pywikibot.comms import http
report(status=http.fetch({other_url + '/x'!r}).status_code)
''', pwb_dir)
    assert report(result) == {'status': 200}
    assert seen[0].get('authorization', '').startswith('OAuth ')


# --- 4. OAuth-only login ---------------------------------------------------------------

@pytest.mark.contract
def test_login_never_sends_a_password_even_with_a_password_file(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, tmp_path):
    passwords = tmp_path / 'passwords.txt'
    passwords.write_text("('BotUser', 'a-password-that-must-stay-home')\n", encoding='utf-8')
    passwords.chmod(0o600)
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                              extra_lines=[f'password_file = {str(passwords)!r}'])
    before = len(wiki.wiki.request_log)
    result = run_pwb(REPORT + '''
import pywikibot
site = pywikibot.Site()
site.login()
site.login(autocreate=True)
report(user=site.user(), logged_in=site.logged_in())
''', pwb_dir)
    assert report(result) == {'user': 'BotUser', 'logged_in': True}
    actions = [entry[2] for entry in wiki.wiki.request_log[before:]]
    assert 'query' in actions
    assert 'login' not in actions
    assert 'clientlogin' not in actions


@pytest.mark.contract
def test_site_and_login_make_one_request(wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    code = ('import pywikibot\n'
            'pywikibot.Site().siteinfo["generator"]\n'  # family and site info, not the login
            'pywikibot._sites.clear()\n'
            + mark(wiki, 'BeforeLogin')
            + 'site = pywikibot.Site()\nsite.login()\nsite.login()\n'
            + mark(wiki, 'AfterLogin')
            + 'print("USER", site.user())\n')
    result = run_pwb(code, pwb_dir)
    assert 'USER BotUser' in result.stdout, result.stderr
    assert [entry[2] for entry in between(wiki, 'BeforeLogin', 'AfterLogin')] == ['query']


def test_unset_username_becomes_the_token_identity(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)], username=None)
    result = run_pwb(save_page_code('No username configured'), pwb_dir)
    assert 'No username has been defined' not in result.stderr
    assert report(result) == {'user': 'BotUser', 'logged_in': True}
    assert last_editor(wiki, 'No username configured') == 'BotUser'


@pytest.mark.contract
def test_configured_username_differing_from_token_names_both(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                              username='SomeoneElse')
    result = run_pwb(REPORT + '''
import pywikibot
from pywikibot.exceptions import NoUsernameError
try:
    site = pywikibot.Site()
    site.login()
except NoUsernameError as exc:
    report(error=type(exc).__name__, message=str(exc))
''', pwb_dir)
    outcome = report(result)
    assert outcome['error'] == 'OAuthIdentityError'
    for part in ('BotUser', 'SomeoneElse', repr(wiki.host)):
        assert part in outcome['message']


# --- 5. logout under OAuth -------------------------------------------------------------

@pytest.mark.contract
def test_logout_is_local_and_login_restores_the_identity(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, header_log):
    wiki.wiki.save_page('Read after logout', 'public text', 'BotUser')
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(REPORT + mark(wiki, 'LoggedIn') + '''
import pywikibot
site = pywikibot.Site()
site.login()
site.logout()
''' + mark(wiki, 'LoggedOut') + '''
after_logout = dict(logged_in=site.logged_in(), user=site.user(),
                    text=pywikibot.Page(site, 'Read after logout').text,
                    anon='anon' in site.userinfo)
''' + mark(wiki, 'ReadDone') + '''
site.login()
report(after_logout=after_logout, user_again=site.user(), logged_in_again=site.logged_in())
''', pwb_dir)
    outcome = report(result)
    assert outcome == {'after_logout': {'logged_in': False, 'user': None,
                                        'text': 'public text', 'anon': True},
                       'user_again': 'BotUser', 'logged_in_again': True}
    assert 'logout' not in [entry[2] for entry in wiki.wiki.request_log]
    # site.logout() explains itself in the log only: `pwb login -logout` prints one line.
    assert 'are no longer sent' not in result.stderr + result.stdout
    read_requests = between(wiki, 'LoggedOut', 'ReadDone')
    assert read_requests
    # header_log holds only api.php; the anonymous reads are the ones after logout
    log = header_log()
    anonymous = [auth for _, auth in log[-len(read_requests) - 1:-1]]
    assert anonymous and all(auth == '' for auth in anonymous), log
    assert log[-1][1].startswith('OAuth ')


#: What the ``pwb`` console script runs (``python -m pywikibot.scripts.wrapper`` of an
#: installed Pywikibot wants its source checkout's setup.py).
PWB_COMMAND = 'import sys; from pywikibot.scripts.wrapper import run; sys.exit(run())'


@pytest.mark.parametrize('args', [['login'], ['login', '-logout']])
def test_login_script_under_oauth(wiki, oauth1_consumer, pwb_dir_factory, run_pwb, args):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    before = len(wiki.wiki.request_log)
    result = run_pwb(PWB_COMMAND, pwb_dir, *args)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    if '-logout' in args:
        # One short line (Pywikibot's own); the explanation goes to the log only.
        assert [line for line in output.splitlines() if 'Logged out' in line] == [
            'Logged out of testwiki:testwiki.']
    else:
        assert 'Logged in on testwiki:testwiki as BotUser' in output
    actions = [entry[2] for entry in wiki.wiki.request_log[before:]]
    assert not {'login', 'clientlogin', 'logout'} & set(actions)


# --- 6. refusals ----------------------------------------------------------------------

FAILING_SITE = REPORT + '''
import pywikibot
from pywikibot.exceptions import NoUsernameError
try:
    site = pywikibot.Site()
    site.login()
    report(user=site.user())
except NoUsernameError as exc:
    report(error=type(exc).__name__, message=str(exc))
'''


@pytest.mark.parametrize(('broken', 'cause'), [
    ('consumer_secret', 'consumer secret'),
    ('consumer_key', 'consumer key is wrong'),
    ('access_token', 'access token is wrong'),
])
@pytest.mark.contract
def test_refused_credentials_raise_a_clear_error_without_secrets(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, broken, cause):
    values = {'consumer_key': oauth1_consumer.consumer_key,
              'consumer_secret': oauth1_consumer.consumer_secret,
              'access_token': oauth1_consumer.access_token,
              'access_secret': oauth1_consumer.access_secret}
    values[broken] = 'f' * 32 if broken != 'consumer_secret' else 'wrong-secret-' + 'e' * 27
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = {tuple(values.values())!r}'])
    result = run_pwb(FAILING_SITE, pwb_dir)
    outcome = report(result)
    assert outcome['error'] == 'OAuthAuthorizationError'
    message = outcome['message']
    assert repr(wiki.host) in message
    assert values['consumer_key'][:6] in message
    assert cause in message
    output = result.stdout + result.stderr
    for secret in (values['consumer_secret'], values['access_secret'],
                   oauth1_consumer.consumer_secret):
        assert secret not in output


def test_refusal_is_a_no_username_error_subclass(pwb_dir_factory, run_pwb):
    result = run_pwb(REPORT + '''
from pywikibot.exceptions import NoUsernameError
import pwb_oauth_ext
report(sub=issubclass(pwb_oauth_ext.OAuthAuthorizationError, NoUsernameError))
''', pwb_dir_factory([]))
    assert report(result) == {'sub': True}


def fail_edits(monkeypatch: pytest.MonkeyPatch, wiki: RunningWiki, times: int) -> list[int]:
    """Make the wiki answer the next ``times`` edits with 'Nonce already used'."""
    provider = wiki.app.oauth1
    original = provider.authenticate
    failed: list[int] = []

    def authenticate(req: Any) -> Any:
        if req.params.get('action') == 'edit' and len(failed) < times:
            failed.append(1)
            nonce = re.search(r'oauth_nonce="([^"]*)"', req.headers['authorization'])
            raise InvalidAuthorization(f'Nonce already used: {nonce[1] if nonce else ""}')
        return original(req)
    monkeypatch.setattr(provider, 'authenticate', authenticate)
    return failed


def test_reused_nonce_is_retried_once(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, monkeypatch):
    failed = fail_edits(monkeypatch, wiki, 1)
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(save_page_code('Nonce retried'), pwb_dir)
    assert report(result)['user'] == 'BotUser'
    assert failed == [1]
    assert last_editor(wiki, 'Nonce retried') == 'BotUser'


def test_reused_nonce_twice_is_an_error(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, monkeypatch):
    failed = fail_edits(monkeypatch, wiki, 5)
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(save_page_code('Nonce refused'), pwb_dir)
    assert 'OAuthAuthorizationError' in result.stderr
    assert 'Nonce already used' in result.stderr
    assert failed == [1, 1]
    assert 'Nonce refused' not in wiki.wiki.pages


def test_clock_skew_is_corrected_from_the_wiki_clock(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    wiki.wiki.clock_offset = 1000
    try:
        result = run_pwb(save_page_code('Clock skew'), pwb_dir)
    finally:
        wiki.wiki.clock_offset = 0
    assert report(result)['user'] == 'BotUser'
    assert last_editor(wiki, 'Clock skew') == 'BotUser'
    # The wiki's clock runs 1000 s ahead; the bot signs in whole seconds a moment before
    # the wiki reads its own clock, so a loaded machine may report a second or two more.
    skew = re.search(r'Clock differs from \S+ by (\d+) s', result.stderr)
    assert skew is not None, result.stderr
    assert 1000 <= int(skew[1]) <= 1005


def test_marker_helper_reaches_the_wiki(wiki):
    """The request-log markers used above really land in the log."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    opener.open(wiki.url + '/index.php?title=MarkOne').read()
    opener.open(wiki.url + '/index.php?title=MarkTwo').read()
    assert between(wiki, 'MarkOne', 'MarkTwo') == []



