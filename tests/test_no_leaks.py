"""No secret in any byte Pywikibot writes or prints, with every kind of credential.

Real ``pwb.py`` runs (login script, a page save) with ``-debug -log``, a good run and a
failing one (wrong secret: error paths, tracebacks), then every file under the
PYWIKIBOT_DIR (logs, apicache, cookies, throttle file...), stdout and stderr are searched
for each secret and for values derived from it (JWT signature, Basic-auth base64,
OAuth 1.0a signing key, a 12-character prefix). The only files allowed to hold a secret
are the ones the user put it in (user-config.py) and the private token store.
"""
from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import pytest

from pwb_oauth_ext.protocol.store import TokenStore
from pwb_oauth_ext.testwiki.browser import authorization_code_grant
from pwb_oauth_ext.testwiki.server import RunningWiki

posix_only = pytest.mark.skipif(os.name != 'posix', reason='POSIX file modes')

#: Files that hold secrets on purpose: the user's own config and the private store.
ALLOWED_SECRET_FILES = {'user-config.py', 'pwb-oauth-tokens.json'}

SAVE_CODE = '''
import pywikibot
pywikibot.handle_args()
site = pywikibot.Site()
site.login()
page = pywikibot.Page(site, {title!r})
page.text = 'no leaks here'
page.save('leak test')
pywikibot.info('SAVED as ' + str(site.user()))
'''


@dataclass
class Kind:
    """One kind of credential: its authenticate line and its secrets."""

    name: str
    line: str
    secrets: list[str]
    wrong_line: str
    wrong_secrets: list[str] = field(default_factory=list)
    #: Puts what ``pwb-oauth authorize`` would have stored into a fresh Pywikibot dir;
    #: returns the secrets it stored (they must not leak either).
    prepare: Callable[[Path], list[str]] = lambda pwb_dir: []


def _wrong(secret: str) -> str:
    """A plausible but wrong secret (same shape, different last characters)."""
    return secret[:-4] + ('0000' if not secret.endswith('0000') else '1111')


def derived_values(secret: str, client_id: str | None = None) -> list[str]:
    """Strings that give a secret away as surely as the secret itself."""
    values = {secret, secret[:12], quote(secret, safe=''),
              base64.b64encode(secret.encode()).decode().rstrip('=')}
    if secret.count('.') == 2:  # a JWT: its signature is what makes it a credential
        values.add(secret.rsplit('.', 1)[1])
    if client_id is not None:
        values.add(base64.b64encode(f'{client_id}:{secret}'.encode()).decode().rstrip('='))
        values.add(base64.b64encode(
            f'{quote(client_id, safe="")}:{quote(secret, safe="")}'.encode()).decode()
            .rstrip('='))
    return sorted(v for v in values if len(v) >= 8)


def kinds(wiki: RunningWiki) -> list[Kind]:
    """Fresh credentials of every kind for BotUser on ``wiki``."""
    app, host = wiki.app, wiki.host
    c1 = app.register_oauth1_consumer('BotUser', owner_only=True)
    c2 = app.register_oauth1_consumer('BotUser', owner_only=True)
    owner_only = app.oauth2.register_client('BotUser', owner_only=True)
    client_cc = app.oauth2.register_client('BotUser', owner_only=True)
    token = owner_only.owner_only_token
    head, payload, signature = token.split('.')
    wrong_token = f'{head}.{payload}.{_wrong(signature)}'

    def tuple_line(c, cs: str, access_secret: str) -> str:
        return (f'authenticate[{host!r}] = ({c.consumer_key!r}, {cs!r},'
                f' {c.access_token!r}, {access_secret!r})')

    def object_line(c, cs: str, access_secret: str) -> str:
        return (f'authenticate[{host!r}] = _oauth.OAuth1({c.consumer_key!r}, {cs!r},'
                f' {c.access_token!r}, {access_secret!r})')

    def cc_line(secret: str) -> str:
        return (f'authenticate[{host!r}] = _oauth.OAuth2(client_id={client_cc.client_id!r},'
                f' client_secret={secret!r}, grant="client_credentials")')

    c3 = app.register_oauth1_consumer('BotUser', owner_only=True)
    callback = 'http://127.0.0.1:8765/callback'
    client_ac = app.oauth2.register_client('BotUser', confidential=True, redirect_uri=callback)

    def stored_oauth1(pwb_dir: Path) -> list[str]:
        """The access pair in the store, as ``pwb-oauth authorize`` leaves it."""
        TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(host, c3.consumer_key, 'BotUser', {
            'protocol': 'oauth1', 'access_token': c3.access_token,
            'access_secret': c3.access_secret, 'identity': 'BotUser'})
        return [c3.access_secret]

    def expired_grant(pwb_dir: Path) -> list[str]:
        """A fresh consent whose access token has expired: the run must refresh it."""
        tokens = authorization_code_grant(wiki, client_ac, 'BotUser', redirect_uri=callback)
        record = tokens.to_record()
        record['expires_at'] = time.time() - 3600
        TokenStore(pwb_dir / 'pwb-oauth-tokens.json').put(host, client_ac.client_id,
                                                          'BotUser', record)
        return [tokens.access_token, tokens.refresh_token or '']

    def stored_line(cs: str) -> str:
        return f'authenticate[{host!r}] = _oauth.OAuth1({c3.consumer_key!r}, {cs!r})'

    def ac_line(secret: str) -> str:
        return (f'authenticate[{host!r}] = _oauth.OAuth2(client_id={client_ac.client_id!r},'
                f' client_secret={secret!r}, redirect_uri={callback!r})')

    return [
        Kind('oauth1-tuple', tuple_line(c1, c1.consumer_secret, c1.access_secret),
             [c1.consumer_secret, c1.access_secret, f'{c1.consumer_secret}&{c1.access_secret}'],
             tuple_line(c1, _wrong(c1.consumer_secret), c1.access_secret),
             [_wrong(c1.consumer_secret)]),
        Kind('oauth1-object', object_line(c2, c2.consumer_secret, c2.access_secret),
             [c2.consumer_secret, c2.access_secret, f'{c2.consumer_secret}&{c2.access_secret}'],
             object_line(c2, c2.consumer_secret, _wrong(c2.access_secret)),
             [_wrong(c2.access_secret)]),
        Kind('oauth2-owner-only',
             f'authenticate[{host!r}] = _oauth.OAuth2(access_token={token!r})',
             [token],
             f'authenticate[{host!r}] = _oauth.OAuth2(access_token={wrong_token!r})',
             [wrong_token]),
        Kind('oauth2-client-credentials', cc_line(client_cc.client_secret),
             [client_cc.client_secret], cc_line(_wrong(client_cc.client_secret)),
             [_wrong(client_cc.client_secret)]),
        Kind('oauth1-stored-token', stored_line(c3.consumer_secret),
             [c3.consumer_secret, f'{c3.consumer_secret}&{c3.access_secret}'],
             stored_line(_wrong(c3.consumer_secret)), [_wrong(c3.consumer_secret)],
             prepare=stored_oauth1),
        Kind('oauth2-authorization-code', ac_line(client_ac.client_secret),
             [client_ac.client_secret], ac_line(_wrong(client_ac.client_secret)),
             [_wrong(client_ac.client_secret)], prepare=expired_grant),
    ]


def _client_id_of(kind: Kind) -> str | None:
    marker = 'client_id='
    if marker not in kind.line:
        return None
    return kind.line.split(marker, 1)[1].split("'", 2)[1]


def written_files(pwb_dir: Path) -> dict[Path, bytes]:
    """Every file under the Pywikibot dir, by path, with its bytes."""
    return {path: path.read_bytes() for path in sorted(pwb_dir.rglob('*')) if path.is_file()}


def stored_tokens(pwb_dir: Path) -> list[str]:
    """Access and refresh tokens the run put into the token store (secrets too)."""
    import json
    store = pwb_dir / 'pwb-oauth-tokens.json'
    if not store.exists():
        return []
    data = json.loads(store.read_text(encoding='utf-8'))
    found = []
    for entry in data['entries']:
        for name in ('access_token', 'refresh_token'):
            if entry['record'].get(name):
                found.append(entry['record'][name])
    return found


def find_leaks(secrets: list[str], client_id: str | None, pwb_dir: Path,
               outputs: list[subprocess.CompletedProcess[str]]) -> list[str]:
    """Where each secret-derived value shows up (empty when nothing leaked)."""
    needles = sorted({d for s in secrets for d in derived_values(s, client_id)})
    leaks = []
    for path, data in written_files(pwb_dir).items():
        if path.name in ALLOWED_SECRET_FILES:
            continue
        text = data.decode('utf-8', errors='replace')
        leaks += [f'{path.relative_to(pwb_dir)} holds {n[:6]}...' for n in needles if n in text]
    for number, result in enumerate(outputs):
        for stream_name in ('stdout', 'stderr'):
            stream = getattr(result, stream_name)
            leaks += [f'run {number} {stream_name} holds {n[:6]}...'
                      for n in needles if n in stream]
    return leaks


PWB_ENTRY_POINT = ('import sys; from pywikibot.scripts.wrapper import run;'
                   " sys.argv[0] = 'pwb'; sys.exit(run())")


def wrapper(run_pwb, pwb_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``pwb <args>``: Pywikibot's console-script entry point, as an installed bot runs it."""
    return run_pwb(PWB_ENTRY_POINT, pwb_dir, *args)


@pytest.fixture(scope='module')
def credential_kinds(wiki: RunningWiki) -> dict[str, Kind]:
    return {kind.name: kind for kind in kinds(wiki)}


KIND_NAMES = ['oauth1-tuple', 'oauth1-object', 'oauth2-owner-only', 'oauth2-client-credentials',
              'oauth1-stored-token', 'oauth2-authorization-code']


@pytest.mark.parametrize('kind_name', KIND_NAMES)
def test_good_run_leaks_nothing(kind_name: str, credential_kinds: dict[str, Kind],
                                pwb_dir_factory, run_pwb) -> None:
    kind = credential_kinds[kind_name]
    pwb_dir = pwb_dir_factory([kind.line])
    prepared = kind.prepare(pwb_dir)
    login = wrapper(run_pwb, pwb_dir, '-debug', '-log:login.log', 'login')
    assert login.returncode == 0, login.stderr
    assert 'BotUser' in login.stdout + login.stderr
    save = run_pwb(SAVE_CODE.format(title=f'No leaks {kind_name}'), pwb_dir,
                   '-debug', '-log:save.log')
    assert save.returncode == 0, save.stderr
    assert 'SAVED as BotUser' in save.stdout + save.stderr
    version = wrapper(run_pwb, pwb_dir, '-debug', '-log:version.log', 'version')
    listing = run_pwb(None, pwb_dir, '-m', 'pywikibot.config')
    assert listing.returncode == 0, listing.stderr
    assert 'authenticate={ ...xxxxxxxx... }' in listing.stdout + listing.stderr

    logs = list((pwb_dir / 'logs').glob('*.log'))
    assert {p.name for p in logs} >= {'login.log', 'save.log'}
    # The debug log really is verbose (a search of near-empty files would prove nothing).
    assert any('action=query' in p.read_text(encoding='utf-8', errors='replace')
               or "'action': 'query'" in p.read_text(encoding='utf-8', errors='replace')
               for p in logs)

    secrets = kind.secrets + prepared + stored_tokens(pwb_dir)
    leaks = find_leaks(secrets, _client_id_of(kind), pwb_dir, [login, save, version, listing])
    assert leaks == []
    # Client secrets and other configured secrets are never written to the token store.
    store = pwb_dir / 'pwb-oauth-tokens.json'
    if store.exists():
        text = store.read_text(encoding='utf-8')
        assert [s[:6] for s in kind.secrets if s in text] == []
    if kind.name == 'oauth2-authorization-code':  # the run really went through a refresh
        assert prepared[1] not in stored_tokens(pwb_dir)
        assert stored_tokens(pwb_dir)


READ_CODE = '''
import pywikibot
pywikibot.handle_args()
site = pywikibot.Site()
pywikibot.info('READ ' + pywikibot.Page(site, {title!r}).text)
'''


def test_basic_auth_run_leaks_nothing(wiki: RunningWiki, pwb_dir_factory, run_pwb) -> None:
    """HTTP basic (a 2-tuple): the password travels base64-encoded in every request."""
    password = 'basic-auth-password-0123456789'
    wiki.wiki.save_page('No leaks basic', 'public text', 'BotUser')
    pwb_dir = pwb_dir_factory([f"authenticate[{wiki.host!r}] = ('webuser', {password!r})"],
                              username=None)
    with wiki.app.watch() as exchanges:
        read = run_pwb(READ_CODE.format(title='No leaks basic'), pwb_dir, '-debug', '-log:read.log')
    assert read.returncode == 0, read.stderr
    assert 'READ public text' in read.stdout + read.stderr
    sent = {x.request.headers.get('authorization', '') for x in exchanges}
    expected = 'Basic ' + base64.b64encode(f'webuser:{password}'.encode()).decode()
    assert sent == {expected}  # the secret really was in flight...
    assert 'action=query' in (pwb_dir / 'logs' / 'read.log').read_text(encoding='utf-8')
    assert find_leaks([password], 'webuser', pwb_dir, [read]) == []  # ...and is nowhere else


@pytest.mark.parametrize('kind_name', KIND_NAMES)
def test_failing_run_leaks_nothing(kind_name: str, credential_kinds: dict[str, Kind],
                                   pwb_dir_factory, run_pwb) -> None:
    kind = credential_kinds[kind_name]
    pwb_dir = pwb_dir_factory([kind.wrong_line])
    prepared = kind.prepare(pwb_dir)
    login = wrapper(run_pwb, pwb_dir, '-debug', '-log:login.log', 'login')
    save = run_pwb(SAVE_CODE.format(title=f'Never saved {kind_name}'), pwb_dir,
                   '-debug', '-log:save.log')
    assert save.returncode != 0
    assert 'SAVED' not in save.stdout + save.stderr
    # A traceback was printed: the error path really ran.
    assert 'Traceback' in save.stderr
    assert re.search(r'^[\w.]*OAuth\w*Error: ', save.stderr, re.MULTILINE), save.stderr
    assert 'Logged in' not in login.stdout + login.stderr

    secrets = kind.secrets + kind.wrong_secrets + prepared + stored_tokens(pwb_dir)
    leaks = find_leaks(secrets, _client_id_of(kind), pwb_dir, [login, save])
    assert leaks == []


@pytest.mark.parametrize('kind_name', KIND_NAMES)
def test_failing_run_names_the_config_key(kind_name: str, credential_kinds: dict[str, Kind],
                                          pwb_dir_factory, run_pwb, wiki) -> None:
    kind = credential_kinds[kind_name]
    pwb_dir = pwb_dir_factory([kind.wrong_line])
    kind.prepare(pwb_dir)
    result = run_pwb(SAVE_CODE.format(title=f'Never saved either {kind_name}'), pwb_dir)
    assert result.returncode != 0
    assert f'authenticate[{wiki.host!r}]' in result.stderr


@posix_only
def test_token_store_written_by_client_credentials_is_private(
        credential_kinds: dict[str, Kind], pwb_dir_factory, run_pwb) -> None:
    kind = credential_kinds['oauth2-client-credentials']
    pwb_dir = pwb_dir_factory([kind.line])
    result = run_pwb(SAVE_CODE.format(title='Store mode'), pwb_dir)
    assert result.returncode == 0, result.stderr
    store = pwb_dir / 'pwb-oauth-tokens.json'
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stored_tokens(pwb_dir), 'the client credentials token is stored'
    # The client secret itself is configuration, never stored.
    assert kind.secrets[0] not in store.read_text(encoding='utf-8')
    for path in pwb_dir.glob('pwb-oauth-tokens.json*'):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_the_search_finds_a_planted_secret(tmp_path: Path) -> None:
    """The leak search itself works: every derived form is caught, in files and streams."""
    secret = 'abcdef0123456789abcdef0123456789'
    client_id = 'client0123456789'
    (tmp_path / 'logs').mkdir()
    basic = base64.b64encode(f'{client_id}:{secret}'.encode()).decode()
    (tmp_path / 'logs' / 'x.log').write_text(f'Authorization: Basic {basic}\n')
    (tmp_path / 'user-config.py').write_text(secret)
    jwt_like = f'aaaa.bbbb.{secret}'
    stream = subprocess.CompletedProcess([], 0, stdout=f'... {secret[:12]} ...', stderr='')
    leaks = find_leaks([secret, jwt_like], client_id, tmp_path, [stream])
    assert leaks == [f'logs/x.log holds {basic[:6]}...', 'run 0 stdout holds abcdef...']


# --- repr() and str() of every object handed to Pywikibot ------------------------

SECRET_A = 'consumer-secret-ABCDEFGHIJKLMNOP'
SECRET_B = 'access-secret-QRSTUVWXYZ0123456'
BEARER = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ'
REFRESH = 'def50200refresh-token-secret-value'
CLIENT_SECRET = 'client-secret-0123456789abcdefXYZ'


def _reprs(obj: object) -> str:
    return repr(obj) + '\n' + str(obj) + '\n' + format(obj)


def test_reprs_hold_no_secret(tmp_path: Path) -> None:
    from pwb_oauth_ext.config.credentials import BasicAuth, OAuth1, OAuth2
    from pwb_oauth_ext.integration.session import SessionAuth
    from pwb_oauth_ext.protocol.auth import BearerAuth, HTTPBasicAuth, OAuth1Auth
    from pwb_oauth_ext.protocol.store import TokenStore
    from pwb_oauth_ext.protocol.tokens import BearerTokenSource, TokenSet

    tokens = TokenSet(BEARER, REFRESH, 1e10, obtained_at=1.0)
    store = TokenStore(tmp_path / 'store.json')
    store.put('wiki.example', 'client', 'Bot', tokens.to_record())
    source = BearerTokenSource(store=store, key=('wiki.example', 'client', 'Bot'),
                               obtain=None, initial=tokens)
    bearer = BearerAuth(source)
    source.token()
    objects = [
        OAuth1('consumerkey', SECRET_A, 'accesstoken', SECRET_B),
        OAuth2(access_token=BEARER),
        OAuth2(client_id='clientid', client_secret=CLIENT_SECRET, grant='client_credentials'),
        OAuth2(client_id='clientid', client_secret=CLIENT_SECRET),
        BasicAuth('user', SECRET_A),
        OAuth1Auth('consumerkey', SECRET_A, 'accesstoken', SECRET_B),
        HTTPBasicAuth('user', SECRET_A),
        bearer, source, tokens, store, SessionAuth(None),
    ]
    with store.transaction() as tx:
        objects.append(tx)
        text = '\n'.join(_reprs(obj) for obj in objects)
    signer = objects[5]._signer.client  # type: ignore[attr-defined]
    text += repr(signer)
    for secret in (SECRET_A, SECRET_B, BEARER, BEARER.rsplit('.', 1)[1], REFRESH,
                   CLIENT_SECRET):
        assert secret not in text


def test_oauth1auth_vars_hold_no_secret_outside_the_signer() -> None:
    """A traceback with locals shows ``self`` and its attributes: keep the secrets in the signer."""
    from pwb_oauth_ext.protocol.auth import OAuth1Auth

    auth = OAuth1Auth('consumerkey', SECRET_A, 'accesstoken', SECRET_B)
    assert SECRET_A not in repr(vars(auth))
    assert SECRET_B not in repr(vars(auth))


def test_config_listing_hides_authenticate(pwb_dir_factory, run_pwb,
                                           oauth1_consumer, wiki) -> None:
    """``config.authenticate`` stays the plain dict user-config.py filled, so Pywikibot's
    private-value masking (``isinstance(value, dict)``) applies while the plugin runs."""
    from conftest import authenticate_line
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    code = (
        'import pywikibot\n'
        'from pywikibot import config\n'
        'site = pywikibot.Site(); site.login()\n'
        'print("PLAIN", type(config.authenticate) is dict)\n'
    )
    result = run_pwb(code, pwb_dir)
    assert result.returncode == 0, result.stderr
    assert 'PLAIN True' in result.stdout
    assert oauth1_consumer.consumer_secret not in result.stdout + result.stderr
