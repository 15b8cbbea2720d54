"""The test wiki's page API: query modules, generators, continuation and page actions.

Over HTTP for the shapes, and through real Pywikibot (a subprocess) for what a bot sees.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import PYWIKIBOT_PYTHON

from pwb_oauth_ext.testwiki.pywikibot_env import run_pywikibot, write_pywikibot_dir
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki

VERSIONS = ['1.39', '1.43']


@pytest.fixture(scope='module', params=VERSIONS)
def wiki(request: pytest.FixtureRequest) -> Iterator[RunningWiki]:
    with run_test_wiki(seed_all=True, mediawiki=request.param) as running:
        yield running


class Api:
    """api.php as one user (OAuth 2.0 bearer token), formatversion 1 like Pywikibot."""

    def __init__(self, wiki: RunningWiki, token: str | None) -> None:
        self.wiki = wiki
        self.session = requests.Session()
        self.session.trust_env = False
        if token:
            self.session.headers['Authorization'] = f'Bearer {token}'

    def __call__(self, **params: Any) -> dict[str, Any]:
        params.setdefault('format', 'json')
        reply = self.session.post(self.wiki.api_url, data=params, timeout=30)
        return {'error_header': reply.headers.get('MediaWiki-API-Error'), **reply.json()}

    def csrf(self) -> str:
        return self(action='query', meta='tokens')['query']['tokens']['csrftoken']


@pytest.fixture(scope='module')
def bot(wiki: RunningWiki) -> Api:
    return Api(wiki, wiki.clients['oauth2-owner-only'].owner_only_token)


@pytest.fixture(scope='module')
def admin(wiki: RunningWiki) -> Api:
    client = wiki.app.oauth2.register_client(
        'AdminBot', owner_only=True,
        grants=['basic', 'editpage', 'createeditmovepage', 'delete'])
    return Api(wiki, client.owner_only_token)


def titles(items: list[dict[str, Any]]) -> list[str]:
    return [item['title'] for item in items]


def test_allpages_continues_in_batches(wiki: RunningWiki, bot: Api) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {'action': 'query', 'list': 'allpages', 'aplimit': '2'}
    for _ in range(20):
        reply = bot(**params)
        seen += titles(reply['query']['allpages'])
        if 'continue' not in reply:
            break
        params.update(reply['continue'])
    assert seen == sorted(t for t in wiki.wiki.pages if ':' not in t)
    assert 'Old name' in seen


def test_allpages_nonredirects_as_generator_with_info(wiki: RunningWiki, bot: Api) -> None:
    reply = bot(action='query', generator='allpages', gapfilterredir='nonredirects',
                gaplimit='max', prop='info')
    pages = reply['query']['pages'].values()
    assert 'Old name' not in {p['title'] for p in pages}
    assert all('lastrevid' in p for p in pages)


def test_categorymembers_and_categoryinfo(wiki: RunningWiki, bot: Api) -> None:
    members = bot(action='query', list='categorymembers', cmtitle='Category:Test_pages',
                  cmlimit='max')['query']['categorymembers']
    assert titles(members)[:3] == ['Test page 1', 'Test page 2', 'Test page 3']
    info = bot(action='query', prop='categoryinfo', titles='Category:Test pages')
    page = next(iter(info['query']['pages'].values()))
    assert page['categoryinfo']['pages'] == len(members)
    assert bot(action='query', list='categorymembers', cmtitle='Sandbox')['error_header'] \
        == 'invalidcategory'


def test_titles_are_normalized_and_redirects_resolved(wiki: RunningWiki, bot: Api) -> None:
    reply = bot(action='query', titles='old_name', redirects='', prop='info')['query']
    assert reply['normalized'] == [{'from': 'old_name', 'to': 'Old name'}]
    assert reply['redirects'] == [{'from': 'Old name', 'to': 'Test page 1'}]
    assert titles(list(reply['pages'].values())) == ['Test page 1']


def test_backlinks_embeddedin_templates_search(wiki: RunningWiki, bot: Api) -> None:
    backlinks = bot(action='query', list='backlinks', bltitle='Test page 1')['query']
    assert set(titles(backlinks['backlinks'])) == {'Old name', 'Test page 2'}
    embedded = bot(action='query', list='embeddedin', eititle='Template:Greeting')['query']
    assert titles(embedded['embeddedin']) == ['Template user']
    used = bot(action='query', prop='templates', titles='Template user')['query']['pages']
    assert titles(next(iter(used.values()))['templates']) == ['Template:Greeting']
    found = bot(action='query', list='search', srsearch='second test', srwhat='text')
    assert titles(found['query']['search']) == ['Test page 2']
    assert found['query']['searchinfo']['totalhits'] == 1


def test_revisions_content_formatversion_1_and_2(wiki: RunningWiki, bot: Api) -> None:
    text = wiki.wiki.pages['Sandbox'].text
    v1 = bot(action='query', prop='revisions', titles='Sandbox', rvprop='content|ids',
             rvslots='*')['query']['pages']
    assert next(iter(v1.values()))['revisions'][0]['slots']['main']['*'] == text
    v2 = bot(action='query', prop='revisions', titles='Sandbox', rvprop='content',
             rvslots='main', formatversion='2')['query']['pages']
    assert v2[0]['revisions'][0]['slots']['main']['content'] == text


def test_edit_conflict_from_basetimestamp(wiki: RunningWiki, bot: Api) -> None:
    wiki.app.add_page('Conflict', 'start', user='OtherBot')
    base = wiki.wiki.pages['Conflict'].revisions[-1].timestamp
    wiki.wiki.clock_offset += 5
    wiki.wiki.save_page('Conflict', 'someone else was here', 'OtherBot')
    token = bot.csrf()
    refused = bot(action='edit', title='Conflict', text='mine', basetimestamp=base,
                  token=token)
    assert refused['error_header'] == 'editconflict'
    assert refused['error']['info'] == 'Edit conflict.'
    assert wiki.wiki.pages['Conflict'].text == 'someone else was here'
    fresh = wiki.wiki.pages['Conflict'].revisions[-1].timestamp
    saved = bot(action='edit', title='Conflict', text='mine', basetimestamp=fresh,
                token=token)
    assert saved['edit']['result'] == 'Success'
    assert wiki.wiki.pages['Conflict'].text == 'mine'


def test_edit_nocreate_and_createonly(wiki: RunningWiki, bot: Api) -> None:
    token = bot.csrf()
    assert bot(action='edit', title='Not there', text='x', nocreate='',
               token=token)['error_header'] == 'missingtitle'
    assert bot(action='edit', title='Sandbox', text='x', createonly='',
               token=token)['error_header'] == 'articleexists'
    assert 'Not there' not in wiki.wiki.pages


def test_move_leaves_a_redirect_and_logs_it(wiki: RunningWiki, bot: Api) -> None:
    wiki.app.add_page('Before move', 'content')
    reply = bot(action='move', **{'from': 'Before move'}, to='After move',
                reason='tidy', token=bot.csrf())
    assert reply['move'] == {'from': 'Before move', 'to': 'After move', 'reason': 'tidy',
                             'redirectcreated': ''}
    assert wiki.wiki.pages['Before move'].text == '#REDIRECT [[After move]]'
    log = bot(action='query', list='logevents', letype='move')['query']['logevents']
    assert (log[0]['title'], log[0]['params']['target_title']) == ('Before move', 'After move')
    again = bot(action='move', **{'from': 'Sandbox'}, to='After move', token=bot.csrf())
    assert again['error_header'] == 'articleexists'


def test_delete_needs_the_delete_right(wiki: RunningWiki, bot: Api, admin: Api) -> None:
    wiki.app.add_page('Delete me', 'bye')
    refused = bot(action='delete', title='Delete me', token=bot.csrf())
    assert refused['error_header'] == 'permissiondenied'
    assert 'Delete me' in wiki.wiki.pages
    done = admin(action='delete', title='Delete me', reason='test', token=admin.csrf())
    assert done['delete']['title'] == 'Delete me'
    assert 'Delete me' not in wiki.wiki.pages
    changes = bot(action='query', list='recentchanges', rctype='log',
                  rcprop='title|user')['query']['recentchanges']
    assert ('Delete me', 'AdminBot') in [(c['title'], c['user']) for c in changes]


def test_purge(wiki: RunningWiki, bot: Api) -> None:
    reply = bot(action='purge', titles='Sandbox|No such page', forcelinkupdate='')
    assert reply['purge'] == [{'ns': 0, 'title': 'Sandbox', 'purged': '', 'linkupdate': ''},
                              {'ns': 0, 'title': 'No such page', 'missing': ''}]


SITE_SCRIPT = '''
import pywikibot
site = pywikibot.Site()
site.login()
print('ALLPAGES', [p.title() for p in site.allpages(start='!', filterredir=False)])
cat = pywikibot.Category(site, 'Category:Test pages')
print('MEMBERS', [p.title() for p in cat.articles()])
print('CATINFO', cat.categoryinfo['pages'])
print('SEARCH', [p.title() for p in site.search('third', namespaces=[0])])
print('BACKLINKS', sorted(p.title() for p in pywikibot.Page(site, 'Test page 1').backlinks()))
print('EMBEDDED', [p.title() for p in pywikibot.Page(site, 'Template:Greeting').embeddedin()])
print('REDIRECT', pywikibot.Page(site, 'Old name').getRedirectTarget().title())
page = pywikibot.Page(site, 'Sandbox')
page.text += ' Saved by Pywikibot.'
page.save(summary='test')
print('LOG', [e.type() for e in site.logevents(total=3)])
print('RC', [c['title'] for c in site.recentchanges(total=1)])
'''


def test_pywikibot_site_methods(wiki: RunningWiki, tmp_path: Path) -> None:
    token = wiki.clients['oauth2-owner-only'].owner_only_token
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki, username='BotUser', authenticate_lines=[
        'import pwb_oauth_ext as _oauth', '_oauth.enable()',
        f'authenticate[{wiki.host!r}] = _oauth.OAuth2(access_token={token!r})'])
    result = run_pywikibot(SITE_SCRIPT, pwb_dir, python=PYWIKIBOT_PYTHON)
    assert result.returncode == 0, result.stderr[-3000:]
    for unwanted in ('not loaded', 'does not exist', 'Traceback'):
        assert unwanted not in result.stderr
    lines = dict(line.split(' ', 1) for line in result.stdout.splitlines())
    assert 'Old name' not in lines['ALLPAGES'] and "'Sandbox'" in lines['ALLPAGES']
    assert lines['MEMBERS'].startswith("['Test page 1', 'Test page 2', 'Test page 3'")
    assert int(lines['CATINFO']) >= 3
    assert lines['SEARCH'] == "['Test page 3']"
    assert lines['BACKLINKS'] == "['Old name', 'Test page 2']"
    assert lines['EMBEDDED'] == "['Template user']"
    assert lines['REDIRECT'] == 'Test page 1'
    assert wiki.wiki.pages['Sandbox'].text.endswith(' Saved by Pywikibot.')
    assert lines['RC'] == "['Sandbox']"


def test_password_login_without_a_key_fails_normally(wiki: RunningWiki, tmp_path: Path) -> None:
    pwb_dir = write_pywikibot_dir(tmp_path / 'pwb', wiki, username='BotUser',
                                  authenticate_lines=[],
                                  extra_lines=["password_file = 'passwords'"])
    (pwb_dir / 'passwords').write_text("('BotUser', 'wrong')\n", encoding='utf-8')
    (pwb_dir / 'passwords').chmod(0o600)
    result = run_pywikibot(['-c', 'import sys\nfrom pywikibot.scripts.wrapper import run\n'
                            'sys.exit(run())', 'login'], pwb_dir, python=PYWIKIBOT_PYTHON)
    output = result.stdout + result.stderr
    assert 'Not logged in on testwiki:testwiki.' in output
    assert 'Traceback' not in output and 'paraminfo' not in output
