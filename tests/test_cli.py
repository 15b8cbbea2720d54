"""``pwb-oauth explain`` / ``check`` / ``authorize`` dispatch, run as a user would run them."""
from __future__ import annotations

import json

from conftest import PwbDirFactory, RunPwb, authenticate_line

from pwb_oauth_ext.testwiki.providers.oauth1.records import OAuth1Consumer
from pwb_oauth_ext.testwiki.server import RunningWiki

CLI = ('-m', 'pwb_oauth_ext.commands.main')


def secrets_of(consumer: OAuth1Consumer) -> tuple[str, str]:
    return consumer.consumer_secret, consumer.access_secret


def assert_no_secret(result: object, *secrets: str) -> None:
    text = result.stdout + result.stderr  # type: ignore[attr-defined]
    for secret in secrets:
        assert secret not in text


# --- explain -------------------------------------------------------------------

def test_explain_lists_candidates_and_the_winner(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer),
                               authenticate_line('*', oauth1_consumer)])
    result = run_pwb(None, pwb_dir, *CLI, 'explain', wiki.api_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f'{wiki.api_url}: host 127.0.0.1, port {wiki.port}, no account'
    assert lines[1].startswith(f'-> {wiki.host}  used: exact host 127.0.0.1')
    assert lines[2].split() == ['*', 'outranked:', "'*'", '(any', 'host)']
    assert lines[-1] == 'Protocol: OAuth 1.0a'
    assert_no_secret(result, *secrets_of(oauth1_consumer))


def test_explain_prefers_the_account_key_with_user_option(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([
        authenticate_line(wiki.host, oauth1_consumer),
        f"authenticate['OtherBot@{wiki.host}'] = _oauth.OAuth2(access_token='x' * 20)"])
    result = run_pwb(None, pwb_dir, *CLI, 'explain', wiki.api_url, '-user:OtherBot')
    assert result.returncode == 0, result.stderr
    assert f'-> OtherBot@{wiki.host}  used' in result.stdout
    assert f'=> credentials of key \'OtherBot@{wiki.host}\'' in result.stdout
    assert 'Protocol: OAuth 2.0 owner-only' in result.stdout
    assert 'x' * 20 not in result.stdout


def test_explain_without_a_matching_key_exits_1(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line('*.example.org', oauth1_consumer)])
    result = run_pwb(None, pwb_dir, *CLI, 'explain', 'https://example.org/w/api.php')
    assert result.returncode == 1
    assert "'*.example.org' matches subdomains only" in result.stdout
    assert 'No config.authenticate key matches https://example.org/w/api.php' in result.stdout


# --- check ---------------------------------------------------------------------

def test_check_reports_key_protocol_identity_and_rights(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    before = len(wiki.wiki.request_log)
    result = run_pwb(None, pwb_dir, *CLI, 'check', '-site:testwiki:testwiki')
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith(f'testwiki:testwiki  ({wiki.api_url})')
    assert f"key:         '{wiki.host}' (exact host 127.0.0.1, port {wiki.port})" in out
    key = oauth1_consumer.consumer_key
    assert f'protocol:    OAuth 1.0a (id {key[:6]}...{key[-4:]})' in out
    assert 'identity:    BotUser (configured user: BotUser)' in out
    assert 'groups:      bot, user, autoconfirmed' in out
    # The test wiki answers as MediaWiki 1.43, which has no writeapi right any more.
    assert 'rights:      present: edit, createpage, bot, apihighlimits; missing: -' \
        in out
    assert 'grants:      basic, highvolume, editpage, createeditmovepage' in out
    assert out.rstrip().endswith('All checks passed.')
    # userinfo, then siteinfo (on MediaWiki 1.43 writeapi is "missing": which rights does
    # the wiki have?) and identify (for the grants); no password login.
    actions = [entry[2] for entry in wiki.wiki.request_log[before:]]
    assert actions[0] == 'query' and actions[-1] == 'Special:OAuth/identify'
    assert set(actions[1:-1]) == {'query'} and len(actions) <= 4
    assert_no_secret(result, *secrets_of(oauth1_consumer))


def test_check_json_fields(wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
                           pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data['ok'] is True
    [site] = data['sites']
    assert {key: site[key] for key in ('site', 'api_url', 'key', 'protocol', 'protocol_name',
                                       'identity', 'configured_user', 'groups', 'errors',
                                       'warnings', 'ok')} == {
        'site': 'testwiki:testwiki', 'api_url': wiki.api_url, 'key': wiki.host,
        'protocol': 'oauth1', 'protocol_name': 'OAuth 1.0a', 'identity': 'BotUser',
        'configured_user': 'BotUser', 'groups': ['bot', 'user', 'autoconfirmed'],
        'errors': [], 'warnings': [], 'ok': True}
    assert site['rights'] == {'present': ['edit', 'createpage', 'bot', 'apihighlimits'],
                              'missing': []}
    key = oauth1_consumer.consumer_key
    assert site['public_id'] == f'{key[:6]}...{key[-4:]}'
    assert_no_secret(result, *secrets_of(oauth1_consumer))


def test_check_oauth2_client_credentials_grants_and_expiry(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    pwb_dir = pwb_dir_factory([
        f"authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id={client.client_id!r},"
        f" client_secret={client.client_secret!r}, grant='client_credentials')"])
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    assert result.returncode == 0, result.stdout + result.stderr
    [site] = json.loads(result.stdout)['sites']
    assert site['protocol_name'] == 'OAuth 2.0 client credentials'
    assert site['identity'] == 'BotUser'
    assert site['grants'] and 'basic' in site['grants']
    assert site['token_expiry'].startswith('expires at ')
    assert site['token_expires_at'] > 0
    assert_no_secret(result, client.client_secret)


def test_check_oauth2_owner_only_token_does_not_expire(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    client = wiki.app.oauth2.register_client('BotUser', owner_only=True)
    pwb_dir = pwb_dir_factory([
        f"authenticate[{wiki.host!r}] = _oauth.OAuth2(access_token={client.owner_only_token!r})"])
    result = run_pwb(None, pwb_dir, *CLI, 'check')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'protocol:    OAuth 2.0 owner-only' in result.stdout
    assert 'token:       does not expire' in result.stdout
    assert_no_secret(result, client.owner_only_token, client.client_secret)


def test_check_fails_for_a_wrong_secret(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    wrong = 'f' * 40
    pwb_dir = pwb_dir_factory([
        f"authenticate[{wiki.host!r}] = ({oauth1_consumer.consumer_key!r}, {wrong!r},"
        f" {oauth1_consumer.access_token!r}, {oauth1_consumer.access_secret!r})"])
    result = run_pwb(None, pwb_dir, *CLI, 'check')
    assert result.returncode == 1
    assert 'ERROR:       login refused' in result.stdout
    assert 'Invalid signature' in result.stdout
    assert 'result:      FAILED' in result.stdout
    assert_no_secret(result, wrong, oauth1_consumer.access_secret)


def test_check_fails_for_an_identity_mismatch(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    wiki.app.add_bot('SomeoneElse')
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)],
                              username='SomeoneElse')
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    assert result.returncode == 1
    [site] = json.loads(result.stdout)['sites']
    assert site['ok'] is False
    [error] = site['errors']
    assert error.startswith('identity mismatch:')
    assert "belongs to 'BotUser'" in error and "'SomeoneElse'" in error
    assert_no_secret(result, *secrets_of(oauth1_consumer))


def test_check_fails_without_the_edit_right(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    wiki.app.add_bot('ReaderBot')
    reader = wiki.app.register_oauth1_consumer('ReaderBot', owner_only=True, grants=['basic'])
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, reader)], username='ReaderBot')
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    assert result.returncode == 1
    [site] = json.loads(result.stdout)['sites']
    assert 'edit' in site['rights']['missing']
    assert site['errors'] == ["ReaderBot lacks the 'edit' right (check the grants of the"
                              ' consumer and the groups of the user)']


def test_check_warns_about_catch_all_key_and_readable_token_file(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line('*', oauth1_consumer)])
    token_file = pwb_dir / 'pwb-oauth-tokens.json'
    token_file.write_text('{}', encoding='utf-8')
    token_file.chmod(0o640)
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    assert result.returncode == 0, result.stdout + result.stderr   # warnings do not fail
    [site] = json.loads(result.stdout)['sites']
    assert site['key'] == '*'
    assert site['warnings'] == [
        f'token file {token_file} is readable by group or others (mode 640);'
        f' run: chmod 600 {token_file}',
        "the catch-all key '*' is in use: add a key for this host so these credentials"
        ' cannot go to another one']
    text = run_pwb(None, pwb_dir, *CLI, 'check')
    assert "WARNING:     the catch-all key '*' is in use" in text.stdout
    assert_no_secret(result, *secrets_of(oauth1_consumer))
    assert_no_secret(text, *secrets_of(oauth1_consumer))


def test_check_warns_when_the_plugin_is_not_enabled(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)], enable=False)
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    [site] = json.loads(result.stdout)['sites']
    assert site['identity'] == 'BotUser'   # Pywikibot's own OAuth 1.0a login still works
    assert any('pwb_oauth_ext is not enabled' in warning for warning in site['warnings'])


def test_check_rejects_a_malformed_site(pwb_dir_factory: PwbDirFactory,
                                        run_pwb: RunPwb) -> None:
    result = run_pwb(None, pwb_dir_factory([]), *CLI, 'check', '-site:testwiki')
    assert result.returncode == 2
    assert "site 'testwiki' must be FAMILY:CODE" in result.stderr


# --- authorize dispatch ----------------------------------------------------------

STUB_AUTHORIZE = '''
import sys
import pwb_oauth_ext.commands.authorize as authorize
def stub(site, *, user, paste, show, out, inp, open_browser=True, timeout=300.0, force=False):
    print('AUTHORIZE', site.family.name, site.code, site.username(), user, paste, show,
          open_browser, file=out)
    return 7
authorize.run_authorize = stub
from pwb_oauth_ext.commands.main import main
sys.exit(main(sys.argv[1:]))
'''


def test_authorize_dispatches_with_a_site_that_has_no_token_yet(
        wiki: RunningWiki, pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    pwb_dir = pwb_dir_factory([
        f"authenticate[{wiki.host!r}] = _oauth.OAuth2(client_id='c' * 32)"], username=None)
    before = len(wiki.wiki.request_log)
    result = run_pwb(STUB_AUTHORIZE, pwb_dir, 'authorize', '-site:testwiki:testwiki',
                     '-user:BotUser', '--paste', '--no-browser')
    assert result.returncode == 7, result.stdout + result.stderr
    assert result.stdout.split() == ['AUTHORIZE', 'testwiki', 'testwiki', 'BotUser', 'BotUser',
                                     'True', 'False', 'False']
    # Creating the site did not try to log in with the missing token.
    assert not any(entry[1].endswith('access_token')
                   for entry in wiki.wiki.request_log[before:])


def test_check_names_a_refused_token_a_refusal_even_when_its_hint_says_belongs_to(
        wiki: RunningWiki, oauth1_consumer: OAuth1Consumer,
        pwb_dir_factory: PwbDirFactory, run_pwb: RunPwb) -> None:
    """The kind of failure comes from the exception's type, not from words in its message:
    the hint for 'No approved grant' says the token may belong to another consumer."""
    wrong_token = 'a' * 32
    pwb_dir = pwb_dir_factory([
        f"authenticate[{wiki.host!r}] = ({oauth1_consumer.consumer_key!r},"
        f" {oauth1_consumer.consumer_secret!r}, {wrong_token!r},"
        f" {oauth1_consumer.access_secret!r})"])
    result = run_pwb(None, pwb_dir, *CLI, 'check', '--json')
    assert result.returncode == 1, result.stdout + result.stderr
    [site] = json.loads(result.stdout)['sites']
    [error] = site['errors']
    assert 'belongs to' in error, error
    assert error.startswith('login refused:'), error
    assert_no_secret(result, oauth1_consumer.consumer_secret, oauth1_consumer.access_secret)
