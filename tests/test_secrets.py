"""Secrets kept out of user-config.py: env(), file(), keyring(); and the readable-config warning.

What a user sees: a reference is only looked at when its entry is first used, a missing
one is an error naming the config key and the reference (never a value), and a
user-config.py that others can read while it holds secrets gets a warning saying how to fix
it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import pwb_oauth_ext as _oauth
from pwb_oauth_ext.config.credentials import BasicAuth, OAuth1, OAuth2
from pwb_oauth_ext.config.references import resolve_secret
from pwb_oauth_ext.config.user_config import (
    inline_secret_keys,
    readable_by_others,
    user_config_warning,
)
from pwb_oauth_ext.errors import ConfigError

posix_only = pytest.mark.skipif(os.name != 'posix', reason='POSIX file modes')

SECRET = 'Sup3rSecretValue-0123456789abcdef'


def _private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding='utf-8')
    path.chmod(mode)
    return path


# --- env() -----------------------------------------------------------------

def test_env_resolves_stripped_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PWB_T_SECRET_OK', f'  {SECRET}\n')
    assert resolve_secret(_oauth.env('PWB_T_SECRET_OK'), 'en.wikipedia.org') == SECRET


def test_env_is_read_at_use_not_at_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv('PWB_T_LATE', raising=False)
    cred = OAuth1('ck', _oauth.env('PWB_T_LATE'), 'ak', 'as')  # no error: nothing read yet
    monkeypatch.setenv('PWB_T_LATE', SECRET)
    assert resolve_secret(cred.consumer_secret, 'k') == SECRET


@pytest.mark.parametrize('value', [None, '', '   \t\n'])
def test_env_missing_or_empty_names_key_and_variable(monkeypatch: pytest.MonkeyPatch,
                                                     value: str | None) -> None:
    if value is None:
        monkeypatch.delenv('PWB_T_MISSING', raising=False)
    else:
        monkeypatch.setenv('PWB_T_MISSING', value)
    with pytest.raises(ConfigError) as info:
        resolve_secret(_oauth.env('PWB_T_MISSING'), 'meta.wikimedia.org')
    message = str(info.value)
    assert "authenticate['meta.wikimedia.org']" in message
    assert "env('PWB_T_MISSING')" in message
    assert 'PWB_T_MISSING is not set or empty' in message


def test_env_needs_a_name() -> None:
    with pytest.raises(ConfigError, match='name of an environment variable'):
        _oauth.env('')


# --- file() ----------------------------------------------------------------

def test_file_resolves_private_file_with_tilde(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('HOME', str(tmp_path))
    _private_file(tmp_path / 'cs.txt', SECRET + '\n')
    ref = _oauth.file('~/cs.txt')
    assert resolve_secret(ref, 'k') == SECRET
    assert repr(ref) == f"file({str(tmp_path / 'cs.txt')!r})"


def test_missing_file_names_key_and_path(tmp_path: Path) -> None:
    path = tmp_path / 'nope.txt'
    with pytest.raises(ConfigError) as info:
        resolve_secret(_oauth.file(path), 'de.wikipedia.org')
    message = str(info.value)
    assert "authenticate['de.wikipedia.org']" in message
    assert str(path) in message
    assert 'mode 0600' in message


@posix_only
@pytest.mark.parametrize('mode', [0o640, 0o604, 0o660, 0o644, 0o700 | 0o004])
def test_file_readable_by_others_is_refused_with_chmod_fix(tmp_path: Path, mode: int) -> None:
    path = _private_file(tmp_path / 'secret.txt', SECRET, mode)
    with pytest.raises(ConfigError) as info:
        resolve_secret(_oauth.file(path), 'k')
    message = str(info.value)
    assert f'chmod 600 {path}' in message
    assert SECRET not in message


@posix_only
def test_file_secret_is_refused_for_every_mode_with_a_group_or_other_bit(tmp_path: Path) -> None:
    """The one rule: any permission of group or others (read, write or execute) refuses it.

    A check of the read bits alone would accept 0620 or 0602 (group- or world-writable:
    anyone may replace the secret) and read it.
    """
    path = _private_file(tmp_path / 'secret.txt', SECRET)
    accepted, badly_refused = [], []
    for owner in (0o400, 0o600, 0o700):
        for rest in range(0o100):
            mode = owner | rest
            path.chmod(mode)
            try:
                resolve_secret(_oauth.file(path), 'k')
            except ConfigError as exc:
                if rest == 0 or f'chmod 600 {path}' not in str(exc) or SECRET in str(exc) \
                        or f'mode {mode:04o}' not in str(exc):
                    badly_refused.append(f'{mode:04o}')
            else:
                if rest:
                    accepted.append(f'{mode:04o}')
    assert accepted == [], 'read although group or others have access'
    assert badly_refused == []


@posix_only
def test_file_permission_error_names_config_key(tmp_path: Path) -> None:
    path = _private_file(tmp_path / 'secret.txt', SECRET, 0o644)
    with pytest.raises(ConfigError, match=r"authenticate\['fr.wikipedia.org'\]"):
        resolve_secret(_oauth.file(path), 'fr.wikipedia.org')


# --- keyring() ---------------------------------------------------------------

@pytest.fixture
def fake_keyring() -> dict[tuple[str, str], str]:
    """An in-memory keyring backend installed with keyring.set_keyring."""
    keyring = pytest.importorskip('keyring')
    from keyring.backend import KeyringBackend

    passwords: dict[tuple[str, str], str] = {}

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str | None:
            return passwords.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            passwords[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            passwords.pop((service, username), None)

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield passwords
    keyring.set_keyring(previous)


def test_keyring_resolves(fake_keyring: dict[tuple[str, str], str]) -> None:
    fake_keyring[('pywikibot', 'bot-cs')] = SECRET
    assert resolve_secret(_oauth.keyring('pywikibot', 'bot-cs'), 'k') == SECRET


def test_keyring_missing_entry_names_key_reference_and_command(
        fake_keyring: dict[tuple[str, str], str]) -> None:
    fake_keyring[('pywikibot', 'other')] = SECRET
    with pytest.raises(ConfigError) as info:
        resolve_secret(_oauth.keyring('pywikibot', 'bot-cs'), 'commons.wikimedia.org')
    message = str(info.value)
    assert "authenticate['commons.wikimedia.org']" in message
    assert "keyring('pywikibot', 'bot-cs')" in message
    assert 'keyring set pywikibot bot-cs' in message
    assert SECRET not in message


def test_keyring_backend_failure_is_a_config_error(
        fake_keyring: dict[tuple[str, str], str], monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring

    def broken(service: str, username: str) -> str:
        raise RuntimeError(f'backend exploded near {SECRET}')

    monkeypatch.setattr(keyring, 'get_password', broken)
    with pytest.raises(ConfigError) as info:
        resolve_secret(_oauth.keyring('pywikibot', 'x'), 'k')
    assert 'the keyring failed (RuntimeError)' in str(info.value)
    assert SECRET not in str(info.value)


# --- reprs of references inside credentials ------------------------------------

def test_credential_reprs_show_references_not_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PWB_T_CS', SECRET)
    creds = [
        OAuth1('consumerkey123', _oauth.env('PWB_T_CS'), 'accesstoken', SECRET),
        OAuth2(access_token=SECRET),
        OAuth2(client_id='clientid', client_secret=SECRET, grant='client_credentials'),
        BasicAuth('user', SECRET),
    ]
    for cred in creds:
        assert SECRET not in repr(cred)
        assert SECRET not in str(cred)
    assert "env('PWB_T_CS')" in repr(creds[0])


# --- config/user_config.py and config/file_modes.py -----------------------------------

@posix_only
@pytest.mark.parametrize(('mode', 'expected'), [
    (0o600, False), (0o400, False), (0o700, False), (0o640, True), (0o604, True),
    (0o644, True), (0o620, False),
])
def test_readable_by_others(tmp_path: Path, mode: int, expected: bool) -> None:
    path = _private_file(tmp_path / 'user-config.py', 'x = 1\n', mode)
    assert readable_by_others(path) is expected


def test_readable_by_others_missing_file(tmp_path: Path) -> None:
    assert readable_by_others(tmp_path / 'absent.py') is False


def test_inline_secret_keys_finds_plain_strings_only() -> None:
    ref = _oauth.env('X')
    entries = {
        'plain.tuple': ('ck', 'cs', 'ak', 'as'),
        'ref.tuple': ('ck', ref, 'ak', ref),
        'half.tuple': ('ck', ref, 'ak', 'as'),
        'obj.plain': OAuth1('ck', 'cs', 'ak', 'as'),
        'obj.refs': OAuth1('ck', ref, 'ak', _oauth.file('/nonexistent')),
        'obj.stored': OAuth1('ck', ref),
        'bearer.plain': OAuth2(access_token='tok'),
        'bearer.ref': OAuth2(access_token=ref),
        'cc.plain': OAuth2(client_id='id', client_secret='s', grant='client_credentials'),
        'cc.ref': OAuth2(client_id='id', client_secret=ref, grant='client_credentials'),
        'public': OAuth2(client_id='id'),
        'basic.plain': ('user', 'password'),
        'basic.ref': ('user', ref),
        'basic.obj': BasicAuth('user', 'pw'),
        'junk': 42,
        'short': ('a', 'b', 'c'),
    }
    assert inline_secret_keys(entries) == [
        'plain.tuple', 'half.tuple', 'obj.plain', 'bearer.plain', 'cc.plain',
        'basic.plain', 'basic.obj',
    ]


def test_inline_secret_keys_ignores_public_parts() -> None:
    ref = _oauth.keyring('s', 'n')
    # Consumer key and access token are sent in clear in every header: not secrets.
    assert inline_secret_keys({'k': ('consumer', ref, 'token', ref)}) == []


@posix_only
def test_user_config_warning_text(tmp_path: Path) -> None:
    path = _private_file(tmp_path / 'user-config.py', 'x = 1\n', 0o644)
    entries = {'en.wikipedia.org': ('ck', SECRET, 'ak', SECRET),
               'safe.org': ('ck', _oauth.env('A'), 'ak', _oauth.env('B')),
               '*': OAuth2(access_token=SECRET)}
    warning = user_config_warning(path, entries)
    assert warning == (
        "user-config.py holds secrets for authenticate['en.wikipedia.org'],"
        " authenticate['*'] and can be read by other users:"
        f' chmod 600 {path}, or use _oauth.env()/file()/keyring()')
    assert SECRET not in warning


@posix_only
def test_no_warning_when_private_or_no_inline_secret(tmp_path: Path) -> None:
    private = _private_file(tmp_path / 'a.py', 'x = 1\n', 0o600)
    public = _private_file(tmp_path / 'b.py', 'x = 1\n', 0o644)
    inline = {'k': ('ck', SECRET, 'ak', SECRET)}
    assert user_config_warning(private, inline) is None
    assert user_config_warning(public, {'k': ('ck', _oauth.env('A'), 'ak', _oauth.env('B'))}) \
        is None
    assert user_config_warning(public, {}) is None


def test_permissions_module_imports_no_third_party() -> None:
    import subprocess
    import sys
    code = ('import sys, pwb_oauth_ext.config.user_config;'
            'bad = [m for m in ("pywikibot", "requests", "requests_oauthlib", "oauthlib",'
            ' "jwt", "mwoauth") if m in sys.modules]; print(bad)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True, env={**os.environ,
                                          'PYTHONPATH': str(Path(__file__).parents[1])})
    assert out.stdout.strip() == '[]'


# --- through real Pywikibot ------------------------------------------------------

LOGIN_CODE = ('import pywikibot\n'
              'site = pywikibot.Site()\n'
              'site.login()\n'
              'print("USER=" + str(site.user()))\n')


def test_unused_missing_reference_does_not_break_import(pwb_dir_factory, run_pwb,
                                                        oauth1_consumer, wiki) -> None:
    from conftest import authenticate_line
    pwb_dir = pwb_dir_factory([
        authenticate_line(wiki.host, oauth1_consumer),
        "authenticate['other.example.org'] = _oauth.OAuth1(_oauth.env('PWB_T_NEVER_SET_1'),"
        " _oauth.env('PWB_T_NEVER_SET_2'), _oauth.env('PWB_T_NEVER_SET_3'),"
        " _oauth.file('/nonexistent/secret'))",
    ])
    result = run_pwb(LOGIN_CODE, pwb_dir)
    assert result.returncode == 0, result.stderr
    assert 'USER=BotUser' in result.stdout
    assert 'PWB_T_NEVER_SET' not in result.stderr


def test_missing_reference_fails_at_first_use_naming_key(pwb_dir_factory, run_pwb,
                                                         oauth1_consumer, wiki,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('PWB_T_CK', oauth1_consumer.consumer_key)
    monkeypatch.delenv('PWB_T_CS_ABSENT', raising=False)
    pwb_dir = pwb_dir_factory([
        f"authenticate[{wiki.host!r}] = _oauth.OAuth1(_oauth.env('PWB_T_CK'),"
        f" _oauth.env('PWB_T_CS_ABSENT'), {oauth1_consumer.access_token!r},"
        f" {oauth1_consumer.access_secret!r})",
    ])
    # Importing pywikibot (which runs user-config.py) is fine: nothing is resolved yet.
    imported = run_pwb('import pywikibot; print("IMPORTED")', pwb_dir)
    assert imported.returncode == 0, imported.stderr
    assert 'IMPORTED' in imported.stdout

    result = run_pwb(LOGIN_CODE, pwb_dir)
    assert result.returncode != 0
    assert f'authenticate[{wiki.host!r}]' in result.stderr
    assert "env('PWB_T_CS_ABSENT')" in result.stderr
    for secret in (oauth1_consumer.consumer_secret, oauth1_consumer.access_secret):
        assert secret not in result.stderr + result.stdout


def test_references_end_to_end_keep_user_config_clean(pwb_dir_factory, run_pwb, wiki,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = wiki.app.register_oauth1_consumer('BotUser', owner_only=True)
    monkeypatch.setenv('PWB_T_E2E_CK', consumer.consumer_key)
    monkeypatch.setenv('PWB_T_E2E_CS', consumer.consumer_secret)
    monkeypatch.setenv('PWB_T_E2E_AK', consumer.access_token)
    secret_file = _private_file(tmp_path / 'access-secret', consumer.access_secret + '\n')
    pwb_dir = pwb_dir_factory([
        f"authenticate[{wiki.host!r}] = _oauth.OAuth1(_oauth.env('PWB_T_E2E_CK'),"
        " _oauth.env('PWB_T_E2E_CS'), _oauth.env('PWB_T_E2E_AK'),"
        f" _oauth.file({str(secret_file)!r}))",
    ])
    result = run_pwb(LOGIN_CODE + (
        'page = pywikibot.Page(site, "Secrets end to end")\n'
        'page.text = "saved with secret references"\n'
        'page.save("test")\n'
        'print("SAVED")\n'), pwb_dir)
    assert result.returncode == 0, result.stderr
    assert 'USER=BotUser' in result.stdout
    assert 'SAVED' in result.stdout
    config_text = (pwb_dir / 'user-config.py').read_text(encoding='utf-8')
    for value in (consumer.consumer_key, consumer.consumer_secret, consumer.access_token,
                  consumer.access_secret):
        assert value not in config_text


@posix_only
def test_pywikibot_warns_about_readable_user_config_with_inline_secrets(
        pwb_dir_factory, run_pwb, oauth1_consumer, wiki) -> None:
    from conftest import authenticate_line
    pwb_dir = pwb_dir_factory([authenticate_line(wiki.host, oauth1_consumer)])
    config = pwb_dir / 'user-config.py'
    config.chmod(0o644)
    assert stat.S_IMODE(config.stat().st_mode) == 0o644
    result = run_pwb(LOGIN_CODE + 'site.userinfo\nprint("DONE")\n', pwb_dir)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert f"user-config.py holds secrets for authenticate[{wiki.host!r}]" in output
    assert f'chmod 600 {config}' in output
    assert output.count('user-config.py holds secrets') == 1
