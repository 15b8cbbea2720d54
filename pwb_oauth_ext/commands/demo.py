"""``pwb-oauth demo``: real Pywikibot logs in with OAuth against a local test wiki.

Everything happens on 127.0.0.1 with throw-away credentials, so the demo works
on a fresh machine with no account and no network. All three modes run in one
Pywikibot process: each bot account has its own ``User@host`` entry in
``config.authenticate`` (which is also how one machine runs several bots).

Pywikibot reads user-config.py once per process, so when Pywikibot is already
imported (``pwb oauth demo``) the demo runs in a fresh child process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, TextIO

FAMILY = 'testwiki'
PAGE_TITLE = 'Sandbox'

#: mode -> (bot account, header)
MODES = {
    'oauth1': ('OAuth1Bot', 'OAuth 1.0a, owner-only consumer'),
    'oauth2': ('OAuth2Bot', 'OAuth 2.0, owner-only client (bearer token)'),
    'client-credentials': ('ClientCredentialsBot', 'OAuth 2.0, client credentials grant'),
}
ALL_MODES = tuple(MODES)


class DemoFailed(Exception):
    """A demo step did not do what it should; the message says which."""


def run_demo(modes: tuple[str, ...] = ALL_MODES, out: TextIO | None = None, *,
             pywikibot_args: Sequence[str] = ()) -> int:
    """Run the demo for ``modes``; return the exit status (0 on success).

    ``pywikibot_args`` are Pywikibot global options (``-log``, ``-debug``...).
    """
    out = out or sys.stdout
    if 'pywikibot' in sys.modules:
        return _run_in_child(modes, out, pywikibot_args)
    try:
        _run(modes, out, pywikibot_args)
    except DemoFailed as exc:
        print(f'\nDEMO FAILED: {exc}', file=out, flush=True)
        return 1
    except ImportError as exc:
        module = (exc.name or 'cryptography').split('.')[0]
        print(f'\nDEMO FAILED: the local test wiki needs the module {module!r}, which'
              " comes with the [testwiki] extra: pip install '.[testwiki]' in the checkout"
              " (or 'pwb_oauth_ext[testwiki]')", file=out, flush=True)
        return 1
    except Exception as exc:  # a Pywikibot error is a failed demo, said plainly
        print(f'\nDEMO FAILED: {type(exc).__name__}: {exc}', file=out, flush=True)
        return 1
    print('\nAll demo steps succeeded.', file=out, flush=True)
    return 0


def _run_in_child(modes: tuple[str, ...], out: TextIO, pywikibot_args: Sequence[str]) -> int:
    """Run the demo in a fresh interpreter (Pywikibot is configured once per process)."""
    env = {k: v for k, v in os.environ.items() if k not in ('PYWIKIBOT_DIR', 'PYWIKIBOT_DIR_PWB')}
    package_root = str(Path(__file__).resolve().parents[1])
    env['PYTHONPATH'] = os.pathsep.join(
        [package_root] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    result = subprocess.run(
        [sys.executable, '-m', 'pwb_oauth_ext.commands.demo', '--mode', ','.join(modes),
         *pywikibot_args],
        env=env, capture_output=True, text=True, encoding='utf-8', errors='replace',
        check=False)
    out.write(result.stdout)
    if result.returncode and result.stderr:
        out.write(result.stderr[-3000:])
    out.flush()
    return result.returncode


def _write_user_config(directory: Path, wiki: Any, credentials: dict[str, str]) -> None:
    """A user-config.py as a user would write it; secrets come from environment variables."""
    lines = [
        '# Written by pwb-oauth demo for the local test wiki.',
        'import pwb_oauth_ext as _oauth',
        '_oauth.enable()',
        f"family_files['{FAMILY}'] = '{wiki.api_url}'",
        f"family = '{FAMILY}'",
        f"mylang = '{FAMILY}'",
        'password_file = None',
        'put_throttle = 0',
        'minthrottle = 0',
        'max_retries = 1',
        'retry_wait = 1',
        "console_encoding = 'utf-8'",
    ]
    lines += [line for line in credentials.values()]
    config = directory / 'user-config.py'
    config.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    config.chmod(0o600)


def _setup_wiki(wiki: Any, modes: tuple[str, ...]) -> dict[str, str]:
    """Create the bot accounts and their consumers; return the authenticate lines.

    The secrets are put in this process's environment and referenced with
    ``_oauth.env(...)``, so the generated user-config.py holds none.
    """
    app = wiki.app
    host = wiki.host
    lines: dict[str, str] = {}
    for mode in modes:
        bot, _ = MODES[mode]
        app.add_bot(bot)
        prefix = 'PWB_OAUTH_DEMO_' + mode.upper().replace('-', '_')
        if mode == 'oauth1':
            consumer = app.register_oauth1_consumer(bot, owner_only=True)
            os.environ[prefix + '_CONSUMER_SECRET'] = consumer.consumer_secret
            os.environ[prefix + '_ACCESS_TOKEN'] = consumer.access_token
            os.environ[prefix + '_ACCESS_SECRET'] = consumer.access_secret
            value = (f"_oauth.OAuth1('{consumer.consumer_key}', "
                     f"_oauth.env('{prefix}_CONSUMER_SECRET'), "
                     f"_oauth.env('{prefix}_ACCESS_TOKEN'), "
                     f"_oauth.env('{prefix}_ACCESS_SECRET'))")
        elif mode == 'oauth2':
            client = app.oauth2.register_client(bot, owner_only=True)
            os.environ[prefix + '_TOKEN'] = client.owner_only_token
            value = f"_oauth.OAuth2(access_token=_oauth.env('{prefix}_TOKEN'))"
        else:
            client = app.oauth2.register_client(bot, owner_only=True)
            os.environ[prefix + '_CLIENT_SECRET'] = client.client_secret
            value = (f"_oauth.OAuth2(client_id='{client.client_id}', "
                     f"client_secret=_oauth.env('{prefix}_CLIENT_SECRET'), "
                     "grant='client_credentials')")
        lines[mode] = f"authenticate['{bot}@{host}'] = {value}"
    return lines


def _run(modes: tuple[str, ...], out: TextIO, pywikibot_args: Sequence[str] = ()) -> None:
    # The OAuth 2.0 provider needs the [testwiki] extra: fail before anything is written.
    from pwb_oauth_ext.testwiki.providers.oauth2 import provider  # noqa: F401
    from pwb_oauth_ext.testwiki.server import run_test_wiki

    def say(text: str = '') -> None:
        print(text, file=out, flush=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='pwb-oauth-demo-') as tmp, \
            run_test_wiki() as wiki:
        directory = Path(tmp)
        directory.chmod(0o700)
        say(f'Local test wiki at {wiki.api_url} (nothing leaves this computer).')
        credentials = _setup_wiki(wiki, modes)
        wiki.wiki.save_page(PAGE_TITLE, 'Welcome to the sandbox.', 'WikiSysop', 'created')
        _write_user_config(directory, wiki, credentials)
        os.environ['PYWIKIBOT_DIR'] = str(directory)
        os.environ.pop('PYWIKIBOT_NO_USER_CONFIG', None)
        say(f'Pywikibot directory {directory}; its user-config.py says:')
        for line in credentials.values():
            say(f'    {line}')
        say('(secrets are read from environment variables, none is in the file)')

        import pywikibot  # only now: Pywikibot reads PYWIKIBOT_DIR once, on import

        from pwb_oauth_ext.integration.facade import handle_global_args
        unknown = handle_global_args(list(pywikibot_args))
        if unknown:
            raise DemoFailed(f'unknown option(s) {", ".join(unknown)}')

        for mode in modes:
            bot, header = MODES[mode]
            say()
            say(f'=== {header}: {bot} ===')
            _run_mode(pywikibot, wiki, bot, mode, say)
        say()
        say(f'Finished in {time.monotonic() - started:.1f} s.')


def _run_mode(pywikibot: Any, wiki: Any, bot: str, mode: str,
              say: Callable[[str], None]) -> None:
    """Site, login, read, edit, logout for one bot, each step checked and printed."""
    log = wiki.wiki.request_log
    before = len(log)
    site = pywikibot.Site(FAMILY, FAMILY, user=bot)
    site.login()
    seen = log[before:]
    password_logins = [entry for entry in seen if entry[2] in ('login', 'clientlogin')]
    token_requests = [entry for entry in seen if entry[2] == '/oauth2/access_token']
    if not site.logged_in() or site.userinfo.get('name') != bot:
        raise DemoFailed(f'{mode}: expected to be logged in as {bot}, the wiki says'
                         f' {site.userinfo.get("name")!r}')
    if password_logins:
        raise DemoFailed(f'{mode}: Pywikibot sent a password login request')
    say(f'1. pywikibot.Site() + site.login(): logged in as {site.userinfo["name"]}'
        f' (groups: {", ".join(g for g in site.userinfo.get("groups", []) if g != "*")})')
    detail = (f', of which {len(token_requests)} to obtain a token at rest.php/oauth2/access_token'
              if token_requests else '')
    say(f'   the wiki saw {len(seen)} HTTP request(s){detail}; no password was sent')

    page = pywikibot.Page(site, PAGE_TITLE)
    say(f'2. read [[{PAGE_TITLE}]]: {page.text!r} (revision {page.latest_revision_id})')

    page.text = f'Edited by {bot} through {MODES[mode][1]}.'
    page.save(summary=f'pwb-oauth demo ({mode})', bot=True, quiet=True)
    revision = wiki.wiki.pages[PAGE_TITLE].revisions[-1]
    if revision.user != bot or revision.revid != page.latest_revision_id:
        raise DemoFailed(f'{mode}: the edit was not saved as {bot}')
    say(f'3. edited [[{PAGE_TITLE}]]: new revision {revision.revid} by {revision.user}')

    before_logout = len(log)
    site.logout()
    logout_requests = [entry for entry in log[before_logout:] if entry[2] == 'logout']
    if logout_requests or site.logged_in():
        raise DemoFailed(f'{mode}: logout did not end the session locally')
    say('4. site.logout(): no logout request was sent to the wiki (OAuth sessions cannot'
        ' be ended there); site.logged_in() is now False')


def main(argv: list[str] | None = None) -> int:
    """``python -m pwb_oauth_ext.commands.demo [--mode oauth1,oauth2,...]`` (what the CLI runs)."""
    import argparse
    parser = argparse.ArgumentParser(prog='pwb-oauth demo')
    parser.add_argument('--mode', default='all')
    args, pywikibot_args = parser.parse_known_args(argv)
    return run_demo(parse_modes(args.mode), pywikibot_args=pywikibot_args)


def parse_modes(text: str) -> tuple[str, ...]:
    """'all' or a comma-separated list of modes; ValueError for an unknown one."""
    if text == 'all':
        return ALL_MODES
    modes = tuple(part.strip() for part in text.split(',') if part.strip())
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise ValueError(f'unknown demo mode {", ".join(unknown) or repr(text)}; choose from'
                         f' {", ".join(ALL_MODES)} or all')
    return modes


if __name__ == '__main__':
    sys.exit(main())
