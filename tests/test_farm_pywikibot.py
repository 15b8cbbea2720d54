"""Real Pywikibot with the plugin against a test farm that answers as farm-1.43/ recorded.

The farm's wikis keep their own OAuth session cache: a code or refresh token works
only at the wiki that issued it and is refused elsewhere like a revoked one, so a
plugin that sent one to another wiki would fail here. Token requests are counted
per wiki (``RunningFarm.token_requests``).
"""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from conftest import result_of
from test_grants import SAVE_ON, STORE_FILE, farm_dir, run

from pwb_oauth_ext.protocol.store import GrantKey, TokenStore
from pwb_oauth_ext.testwiki.browser import consent
from pwb_oauth_ext.testwiki.farm import RunningFarm, run_test_farm
from pwb_oauth_ext.testwiki.pywikibot_env import pywikibot_environment

USER = 'FarmBot'
CALLBACK = 'https://bot.example/callback'


@pytest.fixture(scope='module')
def farm() -> Iterator[RunningFarm]:
    with run_test_farm(('wiki1', 'wiki2')) as running:
        running.farm.add_bot(USER)
        yield running


def authorize(pwb_dir: Path, farm: RunningFarm, site: str) -> tuple[int, str, str]:
    """``pwb-oauth authorize -site:S:S --paste``, approving at the wiki the printed URL names.

    Returns the exit status, the output and the host the consent happened at.
    """
    proc = subprocess.Popen(
        [sys.executable, '-m', 'pwb_oauth_ext.commands.main', 'authorize', f'-site:{site}:{site}',
         '--no-browser', '--paste'], cwd=str(pwb_dir), env=pywikibot_environment(pwb_dir),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        encoding='utf-8')
    assert proc.stdout is not None and proc.stdin is not None
    lines, host = [], ''
    by_host = {farm.central.host: farm.central,
               **{wiki.host: wiki for wiki in farm.wikis.values()}}
    for line in proc.stdout:
        lines.append(line)
        if line.startswith('http') and '/rest.php/oauth2/authorize' in line:
            host = urlsplit(line.strip()).netloc
            proc.stdin.write(consent(by_host[host], USER, line.strip()) + '\n')
            proc.stdin.flush()
            break
    out, err = proc.communicate(timeout=120)
    return proc.returncode, ''.join(lines) + out + err, host


def expire_all(pwb_dir: Path) -> None:
    store = TokenStore(pwb_dir / STORE_FILE)
    with store.transaction() as tx:
        for key, record in tx.entries():
            tx.put(key, {**record, 'expires_at': time.time() - 60})


def issuers(pwb_dir: Path) -> dict[str, str]:
    """Each stored grant's central wiki -> its access token's ``iss``."""
    return {key.central_wiki: jwt.decode(record['access_token'],
                                         options={'verify_signature': False})['iss']
            for key, record in TokenStore(pwb_dir / STORE_FILE).entries()}


def test_a_grant_authorized_at_the_central_wiki_serves_two_wikis_with_one_refresh_there(
        tmp_path: Path, farm: RunningFarm) -> None:
    client = farm.farm.register_oauth2_client(USER, confidential=True, redirect_uri=CALLBACK)
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth2("
        f"client_id={client.client_id!r}, client_secret={client.client_secret!r},"
        f" redirect_uri={CALLBACK!r}, central_wiki={farm.central.host!r})"])
    before = farm.token_requests()

    status, output, consented_at = authorize(pwb_dir, farm, 'wiki1')
    assert status == 0, output
    assert consented_at == farm.central.host
    assert issuers(pwb_dir) == {farm.central.host: farm.central.url}

    saved = result_of(run(pwb_dir, SAVE_ON, 'wiki1,wiki2', 'Central grant', 'first'))
    assert saved == {'wiki1': USER, 'wiki2': USER}
    expire_all(pwb_dir)
    saved = result_of(run(pwb_dir, SAVE_ON, 'wiki1,wiki2,wiki1', 'Central grant', 'renewed'))
    assert saved == {'wiki1': USER, 'wiki2': USER}
    assert farm.wikis['wiki2'].wiki.pages['Central grant'].revisions[-1].text == \
        'renewed on wiki2'

    after = farm.token_requests()
    made = {wiki: {grant: after[wiki].get(grant, 0) - before[wiki].get(grant, 0)
                   for grant in after[wiki] if after[wiki].get(grant, 0) != before[wiki].get(
                       grant, 0)} for wiki in after}
    # The code and the one refresh went to the central wiki, which issued them; the other
    # wikis saw no token request (they would refuse the central wiki's refresh token).
    assert made == {'centralwiki': {'authorization_code': 1, 'refresh_token': 1},
                    'wiki1': {}, 'wiki2': {}}
    assert issuers(pwb_dir) == {farm.central.host: farm.central.url}


def test_without_a_central_wiki_each_wiki_issues_and_renews_its_own_grant(
        tmp_path: Path, farm: RunningFarm) -> None:
    """No central_wiki=: each wiki is its own; its code and refresh token go back to it."""
    client = farm.farm.register_oauth2_client(USER, confidential=True, redirect_uri=CALLBACK)
    wiki1, wiki2 = farm.wikis['wiki1'], farm.wikis['wiki2']
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth2("
        f"client_id={client.client_id!r}, client_secret={client.client_secret!r},"
        f" redirect_uri={CALLBACK!r})"])
    before = farm.token_requests()
    for site, wiki in (('wiki1', wiki1), ('wiki2', wiki2)):
        status, output, consented_at = authorize(pwb_dir, farm, site)
        assert status == 0, output
        assert consented_at == wiki.host   # the wiki runs the whole flow itself
    assert issuers(pwb_dir) == {wiki1.host: wiki1.url, wiki2.host: wiki2.url}
    assert sorted(key for key, _ in TokenStore(pwb_dir / STORE_FILE).entries()) == sorted([
        GrantKey(wiki1.host, client.client_id, USER), GrantKey(wiki2.host, client.client_id,
                                                               USER)])

    expire_all(pwb_dir)
    saved = result_of(run(pwb_dir, SAVE_ON, 'wiki1,wiki2', 'Own grants', 'renewed'))
    assert saved == {'wiki1': USER, 'wiki2': USER}
    after = farm.token_requests()
    for wiki in ('centralwiki', 'wiki1', 'wiki2'):
        expected = 0 if wiki == 'centralwiki' else 1
        for grant in ('authorization_code', 'refresh_token'):
            assert after[wiki].get(grant, 0) - before[wiki].get(grant, 0) == expected, \
                (wiki, grant, after)


def test_a_client_for_one_wiki_gets_the_short_single_wiki_error_on_another(
        tmp_path: Path, farm: RunningFarm) -> None:
    """The central wiki issues the token (as the recorded farm does); wiki2's api.php
    refuses it with mwoauth-invalid-authorization-wrong-wiki; the plugin says why."""
    client = farm.farm.register_oauth2_client(USER, owner_only=True, wiki='wiki1')
    pwb_dir = farm_dir(tmp_path, farm, [
        f"authenticate['127.0.0.2'] = authenticate['127.0.0.3'] = _oauth.OAuth2("
        f"client_id={client.client_id!r}, client_secret={client.client_secret!r},"
        f" grant='client_credentials', central_wiki={farm.central.host!r})"], username=USER)
    assert result_of(run(pwb_dir, SAVE_ON, 'wiki1', 'One wiki only', 'ok')) == {'wiki1': USER}
    proc = run(pwb_dir, SAVE_ON, 'wiki2', 'One wiki only', 'refused')
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert 'The authorization headers in your request are not valid for wiki2' in output
    assert 'The consumer is registered for a single wiki, not for wiki2:wiki2 (127.0.0.3).' \
        in output
    assert "add an authenticate entry for '127.0.0.3'" in output
    assert 'One wiki only' not in farm.wikis['wiki2'].wiki.pages
    assert client.client_secret not in output
    [(_, record)] = TokenStore(pwb_dir / STORE_FILE).entries()
    assert record['access_token'] not in output
    # As recorded, the central wiki that issued the token refuses it on its own api.php.
    refused = requests.post(farm.central.api_url, headers={
        'Authorization': f"Bearer {record['access_token']}"}, data={
        'action': 'query', 'meta': 'userinfo', 'format': 'json'}, timeout=30)
    assert refused.headers['MediaWiki-API-Error'] == 'mwoauth-invalid-authorization-wrong-wiki'
    assert refused.json()['error']['info'] == \
        'The authorization headers in your request are not valid for centralwiki'
