"""Drop-in fidelity: Pywikibot's public behaviour with the plugin enabled (issue 11).

Everything runs real Pywikibot in a subprocess against the local test wiki; run this
file with ``PWB_OAUTH_TEST_PYTHON=<a Pywikibot 10.x python>`` for the 10.x checks
(the tests read the child's Pywikibot version where 10 and 11 differ).
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import authenticate_line, oauth1_tuple
from versions_table import child_pywikibot, limited

REPORT = '''
import json as _json
def report(**values):
    print('REPORT ' + _json.dumps(values, default=repr), flush=True)
'''


def report(result: Any) -> dict[str, Any]:
    found = [json.loads(line[len('REPORT '):]) for line in result.stdout.splitlines()
             if line.startswith('REPORT ')]
    assert len(found) == 1, f'rc={result.returncode}\n{result.stdout}\n{result.stderr}'
    return found[0]


def authorization(exchange: Any) -> str:
    """The scheme of the request's Authorization header ('' for none)."""
    return exchange.request.headers.get('authorization', '').split(' ', 1)[0]


@pytest.fixture(scope='module')
def other_consumer(wiki):
    """An owner-only OAuth 1.0a consumer of another bot, OtherBot."""
    wiki.app.add_bot('OtherBot')
    return wiki.app.register_oauth1_consumer('OtherBot', owner_only=True)


# --- 1. get_authentication ---------------------------------------------------------

#: Pywikibot 11.7's tests/http_tests.py::TestGetAuthenticationConfig, verbatim.
UPSTREAM_TEST = '''
import warnings
from pywikibot import config
from pywikibot.comms import http
config.authenticate = {
    'zh.wikipedia.beta.wmcloud.org': ('1', '2'),
    '*.wikipedia.beta.wmcloud.org': ('3', '4', '3', '4'),
    '*.beta.wmcloud.org': ('5', '6'),
    '*.wmcloud.org': ('7', '8', '8'),
}
pairs = {
    'https://zh.wikipedia.beta.wmcloud.org': ('1', '2'),
    'https://en.wikipedia.beta.wmcloud.org': ('3', '4', '3', '4'),
    'https://wiki.beta.wmcloud.org': ('5', '6'),
    'https://beta.wmcloud.org': None,
    'https://wmcloud.org': None,
    'https://www.wikiquote.org/': None,
}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    answers = {url: http.get_authentication(url) for url in pairs}
invalid_warned = any("config.authenticate['*.wmcloud.org'] has invalid value" in str(w.message)
                     for w in caught)
'''


@pytest.mark.contract
def test_pywikibots_own_get_authentication_test_passes_with_the_plugin(
        pwb_dir_factory, run_pwb):
    result = run_pwb(REPORT + '''
import pywikibot, pwb_oauth_ext
from pywikibot.comms import http
from pwb_oauth_ext.integration import install as _install
patched = _install.integration().patched(http, 'get_authentication')
''' + UPSTREAM_TEST + '''
report(patched=patched, ok=all(answers[url] == auth for url, auth in pairs.items()),
       answers=answers, invalid_warned=invalid_warned)
''', pwb_dir_factory([]))
    outcome = report(result)
    assert outcome['patched'], 'the plugin did not replace get_authentication'
    assert outcome['ok'], outcome['answers']
    assert outcome['invalid_warned']


@pytest.mark.contract
def test_get_authentication_answers_for_each_kind_of_entry(pwb_dir_factory, run_pwb):
    """Tuples as written; OAuth1 with plain strings as its 4-tuple; other objects as they are.

    The answer follows the plugin's matcher (the key it will really use), not
    Pywikibot's netloc comparison, so ``localhost`` also answers for ``localhost:8080``.
    """
    pwb_dir = pwb_dir_factory([
        "authenticate['basic.example.org'] = ('user', 'pw')",
        "authenticate['tuple.example.org'] = ['ck', 'cs', 'at', 'as']",
        "authenticate['obj.example.org'] = _oauth.OAuth1('ck', 'cs', 'at', 'as')",
        "authenticate['ref.example.org'] = _oauth.OAuth1(_oauth.env('NO_SUCH_VAR_1'), 'cs')",
        "authenticate['*.wikipedia.org'] = _oauth.OAuth2(access_token=_oauth.env('NO_VAR_2'))",
        "authenticate['localhost'] = ('ck', 'cs', 'at', 'as')",
        "authenticate['BotB@account.example.org'] = ('ck', 'cs', 'at', 'as')",
    ])
    result = run_pwb(REPORT + '''
import pywikibot
from pywikibot import config
from pywikibot.comms import http
ask = http.get_authentication
report(basic=ask('https://basic.example.org/w/api.php'),
       basic_same=ask('https://basic.example.org/') is config.authenticate['basic.example.org'],
       tuple=ask('https://tuple.example.org/'),
       obj=ask('https://obj.example.org/'),
       ref=type(ask('https://ref.example.org/')).__name__,
       oauth2=type(ask('https://en.wikipedia.org/')).__name__,
       port=ask('http://localhost:8080/'),
       account=ask('https://account.example.org/'),
       none=ask('https://elsewhere.example.net/'))
''', pwb_dir)
    assert report(result) == {
        'basic': ['user', 'pw'], 'basic_same': True, 'tuple': ['ck', 'cs', 'at', 'as'],
        'obj': ['ck', 'cs', 'at', 'as'], 'ref': 'OAuth1',
        'oauth2': 'OAuth2', 'port': ['ck', 'cs', 'at', 'as'], 'account': None, 'none': None}


@pytest.mark.contract
def test_fetch_gets_nothing_from_get_authentication_the_session_auth_decides(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    """get_authentication names the '*' entry for any URL (as in Pywikibot), but a URL
    fetched without a site gets nothing: the session auth decides, and signs once."""
    pwb_dir = pwb_dir_factory([authenticate_line('*', oauth1_consumer)])
    with wiki.app.watch() as exchanges:
        result = run_pwb(REPORT + f'''
import pywikibot
from pywikibot.comms import http
site = pywikibot.Site()
answer = http.get_authentication({wiki.api_url!r})
r = http.fetch({wiki.api_url!r} + '?action=query&meta=userinfo&format=json')
report(answer=answer, anon='anon' in r.json()['query']['userinfo'], user=site.user())
''', pwb_dir)
    assert report(result) == {'answer': list(json.loads(json.dumps(
        [oauth1_consumer.consumer_key, oauth1_consumer.consumer_secret,
         oauth1_consumer.access_token, oauth1_consumer.access_secret]))),
        'anon': True, 'user': 'BotUser'}
    schemes = [authorization(e) for e in exchanges]
    assert schemes == ['OAuth', ''], schemes   # Site()'s userinfo signed once; fetch bare
    assert exchanges[0].request.headers['authorization'].count('oauth_signature=') == 1


# --- 2. fetch(auth=...) ------------------------------------------------------------

@pytest.mark.contract
def test_fetch_auth_none_sends_nothing_and_an_auth_object_is_used_as_given(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    url = wiki.api_url + '?action=query&meta=userinfo&format=json'
    with wiki.app.watch() as exchanges:
        result = run_pwb(REPORT + f'''
import pywikibot, requests
from pywikibot.comms import http
def who(**kwargs):
    try:
        r = http.fetch({url!r}, **kwargs)
    except TypeError as exc:
        return 'TypeError'
    info = r.json()['query']['userinfo']
    return 'anon' if 'anon' in info else info['name']
report(version=pywikibot.__version__, configured=who(), none=who(auth=None),
       basic=who(auth=requests.auth.HTTPBasicAuth('u', 'p')), again=who())
''', pwb_dir)
    outcome = report(result)
    schemes = [authorization(e) for e in exchanges]
    assert outcome.pop('version') == child_pywikibot()
    if limited('fetch-auth'):
        # Before 11.9 fetch has no auth parameter: any auth= is a TypeError raised
        # before anything is sent, with or without the plugin (docs/reference/versions.md).
        assert outcome == {'configured': 'BotUser', 'none': 'TypeError', 'basic': 'TypeError',
                           'again': 'BotUser'}
        assert schemes == ['OAuth', 'OAuth']
    else:
        assert outcome == {'configured': 'BotUser', 'none': 'anon', 'basic': 'anon',
                           'again': 'BotUser'}
        assert schemes == ['OAuth', '', 'Basic', 'OAuth']


# --- 3. config.authenticate stays the user's dict -----------------------------------

def test_a_reference_taken_before_first_use_and_changed_later_counts(
        wiki, oauth1_consumer, other_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([], username=None)
    result = run_pwb(REPORT + f'''
import pywikibot
from pywikibot import config
from pywikibot.config import authenticate as A
site = pywikibot.Site()
before = site.userinfo.get('name'), 'anon' in site.userinfo
A[{wiki.host!r}] = {oauth1_tuple(oauth1_consumer)}
site.login()
first = site.user()
A[{wiki.host!r}] = {oauth1_tuple(other_consumer)}    # same key: a value replaced
del site.userinfo
replaced = site.userinfo['name']
A['unrelated.example.org'] = ('u', 'p')                 # a key added
del A['unrelated.example.org']
del site.userinfo
report(before_anon=before[1], first=first, replaced=replaced, after=site.userinfo['name'],
       same_object=config.authenticate is A, plain_dict=type(config.authenticate) is dict)
''', pwb_dir)
    assert report(result) == {'before_anon': True, 'first': 'BotUser', 'replaced': 'OtherBot',
                              'after': 'OtherBot', 'same_object': True, 'plain_dict': True}


def test_keys_swapped_at_the_same_length_are_noticed_at_login(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    """The per-request check is O(1) (length, last key, matched value); a removal and an
    insertion that keep both are found by the full comparison that login() makes."""
    pwb_dir = pwb_dir_factory(["authenticate['a.example.org'] = ('u', 'p')",
                               "authenticate['z.example.org'] = ('u', 'p')"])
    result = run_pwb(REPORT + f'''
import pywikibot
from pywikibot import config
site = pywikibot.Site()
anon_first = not site.logged_in()
A = config.authenticate
value = A.pop('z.example.org')
del A['a.example.org']
A[{wiki.host!r}] = {oauth1_tuple(oauth1_consumer)}
A['z.example.org'] = value                  # same length, same last key as before
site.login()
report(anon_first=anon_first, user=site.user())
''', pwb_dir)
    assert report(result) == {'anon_first': True, 'user': 'BotUser'}


# --- 4. names, signatures, documentation ------------------------------------------

@pytest.mark.contract
def test_replaced_functions_keep_pywikibots_name_signature_and_docs(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)], enable=False)
    result = run_pwb(REPORT + '''
import inspect, pydoc
import pywikibot
from pywikibot.comms import http
from pywikibot.data import api
from pywikibot.site import APISite
def functions():
    return {'APISite.login': APISite.login, 'APISite.logout': APISite.logout,
            'APISite.is_oauth_token_available': APISite.is_oauth_token_available,
            'http.request': http.request, 'http.fetch': http.fetch,
            'http.get_authentication': http.get_authentication,
            'Request._internal_api_error': api.Request._internal_api_error}
def describe(f):
    return [f.__name__, f.__qualname__, f.__module__, f.__doc__, str(inspect.signature(f)),
            pydoc.render_doc(f, renderer=pydoc.plaintext).split(chr(10), 2)[2]]
own = {name: describe(f) for name, f in functions().items()}
own_code = {name: f.__code__ for name, f in functions().items()}
import pwb_oauth_ext
pwb_oauth_ext.enable()
ours = {name: describe(f) for name, f in functions().items()}
replaced = [name for name, f in functions().items() if f.__code__ is not own_code[name]]
report(replaced=sorted(replaced), differ={n: [own[n], ours[n]] for n in own if own[n] != ours[n]},
       login_doc='Log the user in if not already logged in' in own['APISite.login'][5])
''', pwb_dir)
    outcome = report(result)
    assert outcome['replaced'] == sorted([
        'APISite.login', 'APISite.logout', 'APISite.is_oauth_token_available', 'http.request',
        'http.fetch', 'http.get_authentication', 'Request._internal_api_error'])
    assert outcome['differ'] == {}
    assert outcome['login_doc']


# --- 5. the login manager ---------------------------------------------------------

@pytest.mark.contract
def test_login_goes_through_a_subclass_of_pywikibots_login_manager(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)], username=None)
    before = len(wiki.wiki.request_log)
    result = run_pwb(REPORT + '''
import pywikibot
from pywikibot import login
calls = []
cls = login.ClientLoginManager
original = cls.login
def traced(self, *args, **kwargs):
    calls.append(type(self).__name__)
    return original(self, *args, **kwargs)
cls.login = traced
site = pywikibot.Site()
site.login()
report(subclass=issubclass(cls, cls.__mro__[2]) and cls.__mro__[2].__module__,
       base=cls.__mro__[2].__name__, calls=calls, user=site.user())
''', pwb_dir)
    assert report(result) == {'subclass': 'pywikibot.login', 'base': 'ClientLoginManager',
                              'calls': ['OAuthClientLoginManager'] * 2, 'user': 'BotUser'}
    log = [entry[2] for entry in wiki.wiki.request_log[before:]]
    assert log.count('query') == 1                 # Site() logged in; login() sent nothing
    assert 'login' not in log and 'clientlogin' not in log


@pytest.mark.contract
def test_pwb_login_script_logs_in_through_it(wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    """Without ``usernames`` set: only the plugin's login manager adopts the identity."""
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)], username=None)
    before = len(wiki.wiki.request_log)
    # what the ``pwb`` console script runs (the wrapper in site-package mode)
    result = run_pwb('from pywikibot.scripts.wrapper import run; run()', pwb_dir, 'login')
    if limited('pwb-wrapper'):
        # Pywikibot 11.0.0's wrapper fails for every script, with or without the plugin
        # (docs/reference/versions.md): nothing is sent either way.
        plain = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                                username=None, enable=False)
        without = run_pwb('from pywikibot.scripts.wrapper import run; run()', plain, 'login')
        for run in (result, without):
            assert run.returncode != 0
            assert "ModuleNotFoundError: No module named 'setup'" in run.stderr, run.stderr
        assert len(wiki.wiki.request_log) == before
        return
    assert result.returncode == 0, result.stderr
    assert 'Logged in on testwiki:testwiki as BotUser.' in result.stdout + result.stderr
    log = [entry[2] for entry in wiki.wiki.request_log[before:]]
    assert 'login' not in log and 'clientlogin' not in log


@pytest.mark.contract
def test_a_site_without_oauth_entry_keeps_pywikibots_password_login(
        wiki, pwb_dir_factory, run_pwb, tmp_path):
    passwords = tmp_path / 'passwords.txt'
    passwords.write_text("('BotUser', 'not-the-password')\n", encoding='utf-8')
    passwords.chmod(0o600)
    pwb_dir = pwb_dir_factory(["authenticate['elsewhere.example.org'] = ('u', 'p')"],
                              extra_lines=[f'password_file = {str(passwords)!r}'])
    before = len(wiki.wiki.request_log)
    result = run_pwb(REPORT + '''
import pywikibot
from pywikibot.exceptions import NoUsernameError
site = pywikibot.Site()
try:
    site.login()
    error = None
except NoUsernameError as exc:
    error = type(exc).__name__
report(user=site.user(), error=error)
''', pwb_dir)
    assert report(result) == {'user': None, 'error': 'NoUsernameError'}
    assert 'clientlogin' in [entry[2] for entry in wiki.wiki.request_log[before:]]


# --- 6. -user: naming another account than the OAuth identity ---------------------

def test_user_override_is_refused_not_turned_into_a_password_login(
        wiki, oauth1_consumer, other_consumer, pwb_dir_factory, run_pwb, tmp_path):
    """Pywikibot 11.9 drops OAuth for the site and logs in with a password; the plugin
    refuses and names the entry that gets the other account."""
    passwords = tmp_path / 'passwords.txt'
    passwords.write_text("('OtherBot', 'a-password-that-must-stay-home')\n", encoding='utf-8')
    passwords.chmod(0o600)
    code = REPORT + '''
import pywikibot
from pywikibot.exceptions import NoUsernameError
try:
    pywikibot.handle_args()
    site = pywikibot.Site()
    site.login()
    report(user=site.user(), error=None)
except NoUsernameError as exc:
    report(user=None, error=str(exc))
'''
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                              extra_lines=[f'password_file = {str(passwords)!r}'])
    before = len(wiki.wiki.request_log)
    refused = report(run_pwb(code, pwb_dir, '-user:OtherBot'))
    log = [entry[2] for entry in wiki.wiki.request_log[before:]]
    assert refused['user'] is None
    assert re.search(r"belongs to 'BotUser', but this run asks for 'OtherBot' with"
                     r' -user:OtherBot\. Run without -user:OtherBot to run as BotUser',
                     refused['error'])
    assert f"add an entry authenticate['OtherBot@{wiki.host}']" in refused['error']
    assert 'login' not in log and 'clientlogin' not in log

    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer),
                               authenticate_line(f'OtherBot@{wiki.host}', other_consumer)])
    assert report(run_pwb(code, pwb_dir, '-user:OtherBot')) == {'user': 'OtherBot',
                                                                'error': None}


# --- 7. Pywikibot's own tests whose outcome the plugin changes ----------------------

def test_pywikibots_login_logout_test_takes_its_non_oauth_branch(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    """Pywikibot 11.7 tests/site_login_logout_tests.py (network only, so not in the offline
    run) expects ``cannotlogout`` from logout() under OAuth; with the plugin, logout works
    and the test's expectations for a logout hold instead, and login() restores the session."""
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(REPORT + '''
import pywikibot
loginstatus = pywikibot.login.LoginStatus
site = pywikibot.Site()
assert site.logged_in()
assert site._loginstatus in (loginstatus.IN_PROGRESS, loginstatus.AS_USER)
assert '_userinfo' in site.__dict__.keys()
assert site.login() is None
oauth = site.is_oauth_token_available()
site.logout()
after = dict(logged_in=site.logged_in(), status=site._loginstatus.name,
             userinfo='_userinfo' in site.__dict__.keys(), user=site.user())
site.login()      # TestClearCookies: login() after logout() does not raise
report(oauth=oauth, after=after, relogin=site.user())
''', pwb_dir)
    assert report(result) == {'oauth': True, 'relogin': 'BotUser', 'after': {
        'logged_in': False, 'status': 'NOT_LOGGED_IN', 'userinfo': False, 'user': None}}
