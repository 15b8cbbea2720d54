"""enable() checks every Pywikibot internal it patches before patching any (issue 22, item 2).

Each test changes a real Pywikibot the way another release might (an internal missing,
renamed, not callable, with another signature; another version number) right after
Pywikibot's site module loads, in the subprocess, before the plugin checks it; then
it runs a bot against the local test wiki and asserts what the user sees.
"""
from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import authenticate_line
from test_enable import PATCH_STATE, PYWIKIBOT_OWN

from pwb_oauth_ext.integration import patch_points

#: Runs ``_change()`` right after pywikibot.site._apisite has executed, before the
#: plugin's own hook (armed later, by enable() in user-config.py) checks and patches.
CHANGE_PYWIKIBOT = '''
import importlib.util as _util, sys as _sys

class _ChangeAfterImport:
    def find_spec(self, fullname, path, target=None):
        if fullname != 'pywikibot.site._apisite':
            return None
        _sys.meta_path.remove(self)
        spec = _util.find_spec(fullname)
        real = spec.loader.exec_module
        def exec_module(module):
            real(module)
            _change(_sys.modules)
        spec.loader.exec_module = exec_module
        return spec

_sys.meta_path.insert(0, _ChangeAfterImport())

def _change(modules):
    http = modules['pywikibot.comms.http']
    api = modules['pywikibot.data.api']
    APISite = modules['pywikibot.site._apisite'].APISite
    metadata = modules['pywikibot.__metadata__']
{change}
'''

#: kind of mismatch -> (the change, the internal the one line names)
MISMATCHES = {
    'missing': ('del APISite.is_oauth_token_available',
                'pywikibot.site._apisite.APISite.is_oauth_token_available is missing'),
    'renamed': ('api.Request._handle_api_error = api.Request._internal_api_error\n'
                'del api.Request._internal_api_error',
                'pywikibot.data.api.Request._internal_api_error is missing'),
    'not callable': ('api.Request._internal_api_error = None',
                     'pywikibot.data.api.Request._internal_api_error is not callable'),
    'other signature': ('original = APISite.login\n'
                        'def login(self, user=None, autocreate=False, *, cookie_only=False):\n'
                        '    return original(self, autocreate, user, cookie_only=cookie_only)\n'
                        'APISite.login = login',
                        'pywikibot.site._apisite.APISite.login takes (self, user, autocreate)'
                        ' where the plugin passes (self, autocreate, user)'),
    'other positional parameters': (
        'original = http.fetch\n'
        'def fetch(url, method="GET", **kwargs):\n'
        '    return original(url, method, **kwargs)\n'
        'http.fetch = fetch',
        'pywikibot.comms.http.fetch takes (url, method) where the plugin passes (uri)'),
}

SAVE = '''
import json, sys, pywikibot
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, sys.argv[1])
page.text = 'edited'
page.save(summary='test')
print('REPORT ' + json.dumps({'user': site.user(), 'state': patch_state()}), flush=True)
'''


def changed(change: str) -> str:
    body = '\n'.join('    ' + line for line in change.splitlines())
    return CHANGE_PYWIKIBOT.format(change=body)


def report(result: Any) -> dict[str, Any] | None:
    found = [json.loads(line[len('REPORT '):]) for line in result.stdout.splitlines()
             if line.startswith('REPORT ')]
    return found[0] if found else None


def console(result: Any) -> list[str]:
    return (result.stdout + result.stderr).splitlines()


def version_of(run_pwb: Any, pwb_dir: Any) -> str:
    result = run_pwb('import pywikibot; print(pywikibot.__version__)', pwb_dir)
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.contract
@pytest.mark.parametrize('kind', sorted(MISMATCHES))
def test_a_differing_internal_patches_nothing_and_an_oauth_entry_stops_the_run(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, kind):
    change, internal = MISMATCHES[kind]
    c = oauth1_consumer
    pwb_dir = pwb_dir_factory([f'authenticate[{wiki.host!r}] = _oauth.OAuth1('
                               f'{c.consumer_key!r}, {c.consumer_secret!r},'
                               f' {c.access_token!r}, {c.access_secret!r})'])
    version = version_of(run_pwb, pwb_dir)
    before = len(wiki.wiki.request_log)
    title = f'Refused {kind}'
    result = run_pwb(changed(change) + PATCH_STATE + SAVE, pwb_dir, title)
    line = patch_points.refusal(version, internal)
    assert result.returncode != 0
    assert report(result) is None
    # what the user sees: the line once when Pywikibot loads, then as the run's error
    assert console(result) == [f'WARNING: {line}', f'ERROR: {line}'], result.stderr
    # nothing sent in the entry's place: no password, no unsigned edit
    log = [entry[2] for entry in wiki.wiki.request_log[before:]]
    assert 'login' not in log and 'clientlogin' not in log and 'edit' not in log, log
    assert title not in wiki.wiki.pages


@pytest.mark.contract
def test_with_a_differing_internal_a_four_tuple_works_as_pywikibot_handles_it(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb):
    change, internal = MISMATCHES['other signature']
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    version = version_of(run_pwb, pwb_dir)
    result = run_pwb(changed(change) + PATCH_STATE + SAVE, pwb_dir,
                     'Four-tuple, plugin off')
    assert report(result) == {'user': 'BotUser', 'state': PYWIKIBOT_OWN}, result.stderr
    warnings = [line for line in console(result) if line.startswith('WARNING: pwb_oauth_ext')]
    assert warnings == [f'WARNING: {patch_points.refusal(version, internal)}']
    assert wiki.wiki.pages['Four-tuple, plugin off'].revisions[-1].user == 'BotUser'


@pytest.mark.contract
@pytest.mark.parametrize('version', ['12.0.0', '9.6.3', '11.10.0'])
def test_a_release_outside_the_tested_range_is_enabled_with_one_warning(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, version):
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    change = f'metadata.__version__ = {version!r}'
    title = f'Untested {version}'
    result = run_pwb(changed(change) + PATCH_STATE + SAVE, pwb_dir, title)
    outcome = report(result)
    assert outcome is not None, result.stderr
    assert outcome['user'] == 'BotUser'
    assert all(outcome['state'][name] != own for name, own in PYWIKIBOT_OWN.items())
    warnings = [line for line in console(result) if line.startswith('WARNING')]
    assert warnings == [f'WARNING: {patch_points.untested_warning(version)}']
    assert f'Pywikibot {version} is outside the tested range (10.0 to 11.9)' in warnings[0]


@pytest.mark.contract
@pytest.mark.parametrize('how', ['environment', 'enable argument'])
def test_an_accepted_release_is_enabled_without_a_warning(
        wiki, oauth1_consumer, pwb_dir_factory, run_pwb, monkeypatch, how):
    lines = [authenticate_line(wiki.host, oauth1_consumer)]
    code = changed("metadata.__version__ = '12.0.0'") + PATCH_STATE + SAVE
    not_accepted = run_pwb(code, pwb_dir_factory(lines), f'Not accepted by {how}')
    assert [line for line in console(not_accepted) if line.startswith('WARNING')] == [
        f"WARNING: {patch_points.untested_warning('12.0.0')}"]
    if how == 'environment':
        monkeypatch.setenv(patch_points.ACCEPT_ENV, '9.6.3, 12.0.0')
    else:
        lines.append("_oauth.enable(accept_pywikibot='12.0.0')")
    result = run_pwb(code, pwb_dir_factory(lines), f'Accepted by {how}')
    outcome = report(result)
    assert outcome is not None, result.stderr
    assert outcome['user'] == 'BotUser'
    assert all(outcome['state'][name] != own for name, own in PYWIKIBOT_OWN.items())
    assert [line for line in console(result) if line.startswith('WARNING')] == []


@pytest.mark.contract
def test_this_pywikibot_checks_out_without_a_warning(wiki, oauth1_consumer, pwb_dir_factory,
                                                     run_pwb):
    """Every release of the matrix: all patch points as expected, inside the range."""
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(REPORT_CHECK, pwb_dir)
    assert report(result) == {'problem': None, 'in_range': True}, result.stderr
    assert 'WARNING' not in result.stderr


REPORT_CHECK = '''
import json, pywikibot
from pwb_oauth_ext.integration import patch_points
print('REPORT ' + json.dumps({'problem': patch_points.find_problem(),
      'in_range': patch_points.in_tested_range(patch_points.pywikibot_version())}))
'''


def test_tested_range_boundaries() -> None:
    inside = ['10.0.0', '10.0.1', '10.7.6', '11.0.0', '11.9.0', '11.9.3', '11.9.0.dev1']
    outside = ['9.6.3', '12.0.0', '11.10.0', '1.0', 'unknown', '']
    assert [v for v in inside if not patch_points.in_tested_range(v)] == []
    assert [v for v in outside if patch_points.in_tested_range(v)] == []

