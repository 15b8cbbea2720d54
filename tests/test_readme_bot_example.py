"""A bot author's own test, as the manual's "Test your bot offline" shows it.

docs/howto/testing-offline.md includes this file from its first import on, so the page cannot
drift from the tested code."""
import pytest

from pwb_oauth_ext.testwiki.pywikibot_env import run_pywikibot, write_pywikibot_dir

# The bot: appends a greeting to a page. (Yours would live in its own module.)
BOT = '''
import pywikibot
site = pywikibot.Site()
page = pywikibot.Page(site, 'Sandbox')
page.text += ' Hello from my bot!'
page.save(summary='Greeting')
'''


@pytest.mark.test_wiki(pages={'Sandbox': 'Hello.'}, bots=['MyBot'],
                       clients=['oauth2-owner-only'])
def test_my_bot_edits_through_oauth2(test_wiki, tmp_path):
    token = test_wiki.clients['oauth2-owner-only'].owner_only_token
    pwb_dir = write_pywikibot_dir(tmp_path, test_wiki, username='MyBot', authenticate_lines=[
        'import pwb_oauth_ext as _oauth', '_oauth.enable()',
        f'authenticate[{test_wiki.host!r}] = _oauth.OAuth2(access_token={token!r})'])

    with test_wiki.app.watch() as exchanges:
        result = run_pywikibot(BOT, pwb_dir)

    assert result.returncode == 0, result.stderr
    sandbox = test_wiki.wiki.pages['Sandbox']
    assert sandbox.text == 'Hello. Hello from my bot!'
    assert sandbox.revisions[-1].user == 'MyBot'
    # No password was sent: no login request, and every API request carried the token.
    assert test_wiki.app.requests_for('login') == []
    assert test_wiki.app.requests_for('clientlogin') == []
    api = [e.request for e in exchanges if e.request.path == '/api.php']
    assert api and all(r.authorization == f'Bearer {token}' for r in api)
