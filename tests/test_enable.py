"""enable() / disable() as a user meets them: from user-config.py, cheap, idempotent, reversible."""
from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import authenticate_line

HEAVY_MODULES = ('pywikibot', 'requests_oauthlib', 'oauthlib', 'jwt', 'mwoauth')

REPORT = '''
import json as _json
def report(**values):
    print('REPORT ' + _json.dumps(values), flush=True)
'''

#: Whose each patched name is: 'pwb_oauth_ext' when it is the replacement the integration's
#: patch records hold (identity, not where the code lives: a checkout named pwb_oauth_ext
#: holds Pywikibot's files too), else 'pywikibot' (names and docstrings are Pywikibot's
#: either way: functools.wraps).
PATCH_STATE = '''
from pywikibot import login
from pywikibot.comms import http
from pywikibot.data import api
from pywikibot.site import APISite
import sys as _sys
def _home(owner, name):
    # Without the integration module loaded nothing can be patched (and the state
    # must not load it: a test checks that the plugin stays unloaded).
    install = _sys.modules.get('pwb_oauth_ext.integration.install')
    patched = install is not None and install.integration().patched(owner, name)
    return 'pwb_oauth_ext' if patched else 'pywikibot'
def patch_state():
    return {
        'login': _home(APISite, 'login'),
        'logout': _home(APISite, 'logout'),
        'is_oauth_token_available': _home(APISite, 'is_oauth_token_available'),
        'get_authentication': _home(http, 'get_authentication'),
        'request': _home(http, 'request'),
        'fetch': _home(http, 'fetch'),
        'api_error': _home(api.Request, '_internal_api_error'),
        'session_auth': type(http.session.auth).__name__,
        'login_manager': login.ClientLoginManager.__module__.split('.')[0],
    }
'''

PYWIKIBOT_OWN = {'login': 'pywikibot', 'logout': 'pywikibot',
                 'is_oauth_token_available': 'pywikibot', 'get_authentication': 'pywikibot',
                 'request': 'pywikibot', 'fetch': 'pywikibot', 'api_error': 'pywikibot',
                 'session_auth': 'NoneType', 'login_manager': 'pywikibot'}


def report(result: Any) -> dict[str, Any]:
    found = [json.loads(line[len('REPORT '):]) for line in result.stdout.splitlines()
             if line.startswith('REPORT ')]
    assert len(found) == 1, f'rc={result.returncode}\n{result.stdout}\n{result.stderr}'
    return found[0]


def test_import_and_enable_load_no_heavy_module(pwb_dir_factory, run_pwb):
    result = run_pwb(REPORT + f'''
import sys
import pwb_oauth_ext as _oauth
_oauth.enable()
_oauth.enable()
loaded = [name for name in sys.modules if name.split('.')[0] in {HEAVY_MODULES!r}]
report(loaded=loaded)
''', pwb_dir_factory([]))
    assert report(result) == {'loaded': []}


@pytest.mark.contract
def test_enable_from_user_config_patches_pywikibot_without_warnings(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    """user-config.py runs while pywikibot is half imported; enable() must cope."""
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(REPORT + PATCH_STATE + '''
import pywikibot
site = pywikibot.Site()
page = pywikibot.Page(site, 'Enabled from user-config')
page.text = 'hello'
page.save(summary='test')
report(state=patch_state(), user=site.user())
''', pwb_dir)
    outcome = report(result)
    assert outcome['user'] == 'BotUser'
    assert all(outcome['state'][name] != own for name, own in PYWIKIBOT_OWN.items())
    assert 'unknown variable' not in result.stderr
    assert 'Traceback' not in result.stderr
    assert wiki.wiki.pages['Enabled from user-config'].revisions[-1].user == 'BotUser'


@pytest.mark.contract
def test_enable_twice_is_harmless_and_one_disable_restores_everything(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                              extra_lines=['_oauth.enable()'])
    before = len(wiki.wiki.request_log)
    result = run_pwb(REPORT + PATCH_STATE + '''
import pywikibot
import pwb_oauth_ext
pwb_oauth_ext.enable()
site = pywikibot.Site()
site.login()
enabled = patch_state()
user = site.user()
pwb_oauth_ext.disable()
report(enabled=enabled, user=user, disabled=patch_state())
''', pwb_dir)
    outcome = report(result)
    assert outcome['user'] == 'BotUser'
    assert all(outcome['enabled'][name] != own for name, own in PYWIKIBOT_OWN.items())
    assert outcome['disabled'] == PYWIKIBOT_OWN
    # one userinfo request for the login, whatever the number of enable() calls
    assert [entry[2] for entry in wiki.wiki.request_log[before:]].count('query') == 1


#: Bot code: log in, then log out; ``logout`` is 'no error' or the API error's code.
LOGIN_THEN_LOGOUT = '''
site = pywikibot.Site()
site.login()
try:
    site.logout()
    logout = 'no error'
except APIError as exc:
    logout = exc.code
'''


@pytest.mark.contract
def test_after_disable_pywikibot_handles_a_four_tuple_itself(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    """Pywikibot's own OAuth: it logs in, and its logout gets MediaWiki's cannotlogout."""
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(REPORT + PATCH_STATE + '''
import pywikibot
import pwb_oauth_ext
from pywikibot.exceptions import APIError
pwb_oauth_ext.disable()
''' + LOGIN_THEN_LOGOUT + '''
report(state=patch_state(), user=site.user(), logout=logout)
''', pwb_dir)
    assert report(result) == {'state': PYWIKIBOT_OWN, 'user': 'BotUser',
                              'logout': 'cannotlogout'}


def test_installed_but_not_enabled_changes_nothing(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)], enable=False)
    before = len(wiki.wiki.request_log)
    result = run_pwb(REPORT + PATCH_STATE + '''
import sys
import pywikibot
from pywikibot.exceptions import APIError
''' + LOGIN_THEN_LOGOUT + '''
report(state=patch_state(), user=site.user(), logout=logout,
       plugin_loaded='pwb_oauth_ext' in sys.modules)
''', pwb_dir)
    assert report(result) == {'state': PYWIKIBOT_OWN, 'user': 'BotUser',
                              'logout': 'cannotlogout', 'plugin_loaded': False}
    # Pywikibot's own logout does send action=logout (which the plugin never does)
    assert 'logout' in [entry[2] for entry in wiki.wiki.request_log[before:]]
