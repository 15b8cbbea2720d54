"""Requests without a site (``http.fetch`` of a wiki URL: link checkers, raw page reads) use
the grant and the endpoints the entry names, whatever site is in flight (issue 20, items
7 and 8). Real Pywikibot in subprocesses.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PYWIKIBOT_PYTHON, result_of
from test_grants import STORE_FILE, USER, farm_dir, run

from pwb_oauth_ext.protocol.oauth2 import TokenSet
from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.farm import RunningFarm, run_test_farm
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment

# --- 7. the central wiki follows from the entry and the family of the host ------------------

#: requests' transport replaced by one that records what would be sent: nothing leaves.
WIKIMEDIA_FETCH = '''
import json, sys
import requests
from pywikibot.comms import http

seen = []

class Recorder(requests.adapters.BaseAdapter):
    def send(self, request, **kwargs):
        seen.append([request.url, request.headers.get('Authorization')])
        response = requests.Response()
        response.status_code, response._content = 200, b'page'
        response.url, response.request, response.encoding = request.url, request, 'utf-8'
        return response

    def close(self):
        pass

http.session.mount('https://', Recorder())
outcome = {}
for url in sys.argv[1:]:
    try:
        outcome[url] = http.fetch(url).status_code
    except Exception as exc:
        outcome[url] = '%s: %s' % (type(exc).__name__, exc)
print('RESULT ' + json.dumps({'outcome': outcome, 'seen': seen}))
'''


def test_a_wikimedia_page_fetched_without_a_site_uses_the_grant_on_meta(tmp_path: Path) -> None:
    """The README's Wikimedia setup: '*.wikipedia.org', a grant stored at Meta."""
    pwb_dir = tmp_path / 'pwb'
    pwb_dir.mkdir(mode=0o700)
    config = pwb_dir / 'user-config.py'
    config.write_text('import pwb_oauth_ext as _oauth\n_oauth.enable()\npassword_file = None\n'
                      "authenticate['*.wikipedia.org'] = authenticate['commons.wikimedia.org']"
                      " = _oauth.OAuth2(client_id='cid-wm', client_secret='cs-wm')\n")
    config.chmod(0o600)
    TokenStore(pwb_dir / STORE_FILE).put(
        GrantKey('meta.wikimedia.org', 'cid-wm', 'WikimediaBot'),
        TokenSet('AT-meta', 'RT-meta', time.time() + 3600).to_record())
    env = {**pywikibot_environment(pwb_dir), 'HTTPS_PROXY': 'http://127.0.0.1:9',
           'HTTP_PROXY': 'http://127.0.0.1:9', 'NO_PROXY': '', 'no_proxy': ''}
    urls = ['https://en.wikipedia.org/wiki/X', 'https://de.wikipedia.org/w/index.php?title=Y',
            'https://commons.wikimedia.org/wiki/File:Z.png',
            'https://en.m.wikipedia.org/wiki/X']   # in the wikipedia family's domain only
    import subprocess
    proc = subprocess.run([PYWIKIBOT_PYTHON, '-c', WIKIMEDIA_FETCH, *urls], cwd=str(pwb_dir),
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    result = result_of(proc)
    assert result['outcome'] == dict.fromkeys(urls, 200), result
    assert result['seen'] == [[url, 'Bearer AT-meta'] for url in urls]


# --- 8. endpoints come from the entry and its central wiki, not the request's directory ----

SITELESS_THEN_SITE = '''
import json, sys
import pywikibot
from pywikibot.comms import http
outcome = {}
try:
    outcome['fetch'] = http.fetch(sys.argv[1]).status_code
except Exception as exc:
    outcome['fetch'] = '%s: %s' % (type(exc).__name__, exc)
try:
    site = pywikibot.Site('wiki1', 'wiki1')
    site.login()
    page = pywikibot.Page(site, 'Site-less first')
    page.text = 'saved after a site-less fetch'
    page.save(summary='siteless test')
    outcome['saved as'] = site.user()
except Exception as exc:
    outcome['saved as'] = '%s: %s' % (type(exc).__name__, exc)
print('RESULT ' + json.dumps(outcome))
'''


def total_refreshes(farm: RunningFarm) -> int:
    """Refresh requests over every wiki of the farm (each has its own token endpoint)."""
    return sum(counts.get('refresh_token', 0) for counts in farm.token_requests().values())


@pytest.fixture(scope='module')
def farm() -> Iterator[RunningFarm]:
    with run_test_farm(('wiki1', 'wiki2')) as running:
        running.farm.add_bot(USER)
        yield running


@pytest.mark.parametrize('central', ['central_wiki', 'own wiki'])
def test_a_siteless_first_request_refreshes_at_the_entry_endpoint_and_the_site_then_works(
        tmp_path: Path, farm: RunningFarm, central: str) -> None:
    """The wiki's script path is '' ; a page URL's directory is /wiki. The first request
    of the process has no site and finds the token expired: it refreshes."""
    callback = 'https://bot.example/callback'
    client = farm.farm.register_oauth2_client(USER, confidential=True, redirect_uri=callback)
    wiki1 = farm.wikis['wiki1']
    issuer = farm.central if central == 'central_wiki' else wiki1
    central_option = f', central_wiki={farm.central.host!r}' if central == 'central_wiki' else ''
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = _oauth.OAuth2(client_id={client.client_id!r},"
        f" client_secret={client.client_secret!r}{central_option})"])
    # The wiki that issues the grant renews it (farm-1.43: refresh tokens work only there).
    tokens = authorization_code_grant(issuer, client, USER, redirect_uri=callback)
    record = tokens.to_record()
    record['expires_at'] = time.time() - 3600
    TokenStore(pwb_dir / STORE_FILE).put(GrantKey(issuer.host, client.client_id, USER), record)
    refreshes = total_refreshes(farm)

    with farm.central.app.watch() as at_central, wiki1.app.watch() as at_wiki1:
        outcome = result_of(run(pwb_dir, SITELESS_THEN_SITE, f'{wiki1.url}/wiki/Farm_page'))
    paths = [exchange.request.path for exchange in [*at_central, *at_wiki1]]
    assert not [path for path in paths if path.startswith('/wiki/rest.php')], paths
    assert isinstance(outcome['fetch'], int), outcome
    assert outcome['saved as'] == USER, outcome
    assert total_refreshes(farm) == refreshes + 1
    issuer_paths = [exchange.request.path
                    for exchange in (at_central if issuer is farm.central else at_wiki1)]
    assert issuer_paths.count('/rest.php/oauth2/access_token') == 1, paths
    [(_key, stored)] = [entry for entry in TokenStore(pwb_dir / STORE_FILE).entries()
                        if entry[0].client_id == client.client_id]
    assert stored['refresh_token'] != tokens.refresh_token
    assert json.dumps(outcome).count(client.client_secret) == 0


SITELESS_UNKNOWN_THEN_SITE = SITELESS_THEN_SITE.replace("pywikibot.Site('wiki1', 'wiki1')",
                                                        'pywikibot.Site()')


def test_endpoints_guessed_for_a_host_no_family_names_are_not_kept_for_the_grant(
        tmp_path: Path, farm: RunningFarm) -> None:
    """127.0.0.2 is in no family of this Pywikibot directory, 127.0.0.3 (the site) is; one
    entry and one grant for both. The site-less first request can only guess the script
    path (Pywikibot's default, /w): its refresh fails, and the site's login must not reuse
    that guess."""
    from pwb_oauth_ext.testwiki.pywikibot_env import write_pywikibot_dir

    provider = farm.oauth2
    callback = 'https://bot.example/callback'
    client = farm.farm.register_oauth2_client(USER, confidential=True, redirect_uri=callback)
    unknown, site_wiki = farm.wikis['wiki1'], farm.wikis['wiki2']
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', site_wiki, username=None, authenticate_lines=[
        'import pwb_oauth_ext as _oauth', '_oauth.enable()',
        "authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth2("
        f"client_id={client.client_id!r}, client_secret={client.client_secret!r},"
        f" central_wiki={farm.central.host!r})"])
    tokens = authorization_code_grant(farm.central, client, USER, redirect_uri=callback)
    record = tokens.to_record()
    record['expires_at'] = time.time() - 3600
    TokenStore(pwb_dir / STORE_FILE).put(GrantKey(farm.central.host, client.client_id, USER),
                                         record)
    refreshes = provider.token_requests['refresh_token']
    with farm.central.app.watch() as at_central:
        outcome = result_of(run(pwb_dir, SITELESS_UNKNOWN_THEN_SITE,
                                f'{unknown.url}/wiki/Farm_page'))
    paths = [exchange.request.path for exchange in at_central]
    assert not [path for path in paths if path.startswith('/wiki/')], paths
    assert outcome['saved as'] == USER, outcome
    assert paths.count('/rest.php/oauth2/access_token') == 1, paths
    assert provider.token_requests['refresh_token'] == refreshes + 1
