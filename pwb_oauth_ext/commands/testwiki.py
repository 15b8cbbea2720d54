"""``pwb-oauth testwiki``: serve a seeded local OAuth wiki and a ready Pywikibot directory.

The directory (a family file and a commented user-config.py with one ``authenticate``
entry per kind of credential) is written before the wiki starts serving, so ``pwb
-dir:DIR login`` works the moment the URL is printed. Ctrl-C or SIGTERM stops the wiki
and removes what this command created, and nothing else.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.server import RunningWiki

FAMILY = 'testwiki'
MARKER = '# Written by `pwb-oauth testwiki`'
#: Which credential user-config.py uses until you switch (see the file's comments).
ACTIVE_KIND = 'oauth2-owner-only'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options (commands/main.py builds the subparser)."""
    parser.add_argument('--dir', metavar='DIR',
                        help='the Pywikibot directory to write (default: a new folder)')
    parser.add_argument('--port', type=int, default=0,
                        help='port on 127.0.0.1 (default: any free port)')
    parser.add_argument('--mediawiki', choices=('1.39', '1.43'), default='1.43',
                        help='answer as this MediaWiki version (default: 1.43)')


def run(args: Any, out: TextIO) -> int:
    """Serve until Ctrl-C/SIGTERM; return the exit status."""
    from pwb_oauth_ext.testwiki.server import free_loopback_port, run_test_wiki
    stop = threading.Event()
    # Ctrl-C, kill and a closed terminal all stop the wiki through the same cleanup,
    # even when the shell started this with SIGINT ignored (a background job).
    stopping = [getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
                if hasattr(signal, name)]
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in stopping}
    try:
        redirect_uri = f'http://127.0.0.1:{free_loopback_port()}/callback'
        with run_test_wiki(args.port, seed_all=True, mediawiki=args.mediawiki,
                           redirect_uri=redirect_uri) as wiki, \
                pywikibot_directory(args.dir, wiki) as directory:
            _announce(wiki, directory, redirect_uri, out)
            while not stop.wait(0.5):
                pass
            print('\nStopping the test wiki.', file=out, flush=True)
    except OSError as exc:   # port in use, --dir not writable, a foreign user-config.py
        print(f'pwb-oauth testwiki: {exc}', file=sys.stderr)
        return 1
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


@contextmanager
def pywikibot_directory(path: str | None, wiki: RunningWiki) -> Iterator[Path]:
    """Write the Pywikibot directory for ``wiki``; on exit remove what was written.

    A folder this created goes with everything in it (Pywikibot's caches and token
    store for a wiki that no longer exists). In a folder given with ``--dir``, only
    the files written here go; a user-config.py not written by this command is refused.
    """
    created_root = path is None or not Path(path).exists()
    root = Path(tempfile.mkdtemp(prefix='pwb-testwiki-')) if path is None else Path(path)
    written: list[Path] = []
    created_dirs: list[Path] = []
    try:
        if not created_root:
            existing = root / 'user-config.py'
            if existing.exists() and MARKER not in existing.read_text(encoding='utf-8',
                                                                       errors='replace'):
                raise FileExistsError(
                    f'{existing} exists and was not written by pwb-oauth testwiki; '
                    'give another --dir (or none for a new folder)')
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o700)
        families = root / 'families'
        if not families.exists():
            families.mkdir()
            created_dirs.append(families)
        family_file = families / f'{FAMILY}_family.py'
        family_file.write_text(family_source(wiki), encoding='utf-8')
        written.append(family_file)
        config = root / 'user-config.py'
        config.write_text(user_config_source(wiki, root), encoding='utf-8')
        config.chmod(0o600)
        written.append(config)
        yield root
    finally:
        if created_root:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for item in written:
                item.unlink(missing_ok=True)
            for folder in created_dirs:
                shutil.rmtree(folder / '__pycache__', ignore_errors=True)
                if folder.exists() and not any(folder.iterdir()):
                    folder.rmdir()


def family_source(wiki: RunningWiki) -> str:
    """A Pywikibot family file for the wiki, as generate_family_file would write it."""
    return f'''{MARKER} for the local test wiki at {wiki.url}.
from pywikibot import family


class Family(family.Family):  # noqa: D101

    name = {FAMILY!r}
    langs = {{
        {FAMILY!r}: {wiki.host!r},
    }}

    def scriptpath(self, code):
        return {{{FAMILY!r}: ''}}[code]

    def protocol(self, code):
        return {{{FAMILY!r}: 'http'}}[code]
'''


def authenticate_entries(wiki: RunningWiki) -> list[tuple[str, str, str]]:
    """(kind, comment, ``authenticate[...] = ...`` line) for every kind of credential."""
    c = wiki.clients
    entries: list[tuple[str, str, str]] = []

    def add(kind: str, comment: str, value: str) -> None:
        entries.append((kind, comment, f'authenticate[{wiki.host!r}] = {value}'))

    if 'oauth1-owner-only' in c:
        o1 = c['oauth1-owner-only']
        add('oauth1-owner-only', 'OAuth 1.0a, owner-only consumer: '
            "Pywikibot's own 4-tuple (consumer key/secret, access token/secret)",
            f'({o1.consumer_key!r}, {o1.consumer_secret!r},'
            f' {o1.access_token!r}, {o1.access_secret!r})')
    if 'oauth2-owner-only' in c:
        o2 = c['oauth2-owner-only']
        add('oauth2-owner-only', 'OAuth 2.0, owner-only client: its non-expiring access token',
            f'_oauth.OAuth2(access_token={o2.owner_only_token!r})')
        add('oauth2-client-credentials', 'OAuth 2.0 client credentials (the owner-only'
            ' client): tokens fetched and renewed by themselves',
            f'_oauth.OAuth2(client_id={o2.client_id!r}, client_secret={o2.client_secret!r},'
            " grant='client_credentials')")
    for kind, label in (('oauth2-confidential', 'confidential'), ('oauth2-public', 'public')):
        if kind in c:
            client = c[kind]
            secret = (f', client_secret={client.client_secret!r}'
                      if client.client_secret else '')
            add(kind, f'OAuth 2.0 authorization code, {label} client'
                f'{" (PKCE, no secret)" if not secret else ""}: run once '
                f'`pwb-oauth authorize -dir:DIR -site:{FAMILY}:{FAMILY}`',
                f'_oauth.OAuth2(client_id={client.client_id!r}{secret},'
                f' redirect_uri={client.redirect_uri!r})')
    return entries


def user_config_source(wiki: RunningWiki, root: Path) -> str:
    """A commented user-config.py: the plugin, the family, one active entry."""
    bot = next(iter(wiki.passwords))
    lines = [
        f'{MARKER} for the local OAuth test wiki at {wiki.url}',
        f'# (answering as MediaWiki {wiki.app.wiki.mediawiki}). It is removed when the wiki '
        'stops,',
        '# and its secrets are worthless then: every run registers new ones.',
        '',
        '# The OAuth plugin: no password is ever sent to a wiki with an OAuth entry below.',
        'import pwb_oauth_ext as _oauth',
        '_oauth.enable()',
        '',
        f'# The wiki, described by families/{FAMILY}_family.py beside this file.',
        f'family = {FAMILY!r}',
        f'mylang = {FAMILY!r}',
        f"usernames[{FAMILY!r}][{FAMILY!r}] = {bot!r}   # the owner of every client below",
        'password_file = None',
        'put_throttle = 0      # a local wiki: no need to wait between edits',
        'max_retries = 2',
        'retry_wait = 1',
        '',
        '# One authenticate entry is active. To try another kind of credential, put a # '
        'before',
        '# the active line and remove it from the one you want.',
    ]
    for kind, comment, line in authenticate_entries(wiki):
        lines += ['', f'# [{kind}] {comment.replace("DIR", str(root))}',
                  line if kind == ACTIVE_KIND else f'# {line}']
    return '\n'.join(lines) + '\n'


def activate(directory: str | os.PathLike[str], kind: str) -> None:
    """Make the ``[kind]`` entry of a user-config.py written here the active one.

    What a user does by hand (comment one line out, uncomment another); for tests.
    """
    config = Path(directory) / 'user-config.py'
    lines = config.read_text(encoding='utf-8').splitlines()
    if f'# [{kind}] ' not in '\n'.join(lines):
        raise ValueError(f'{config} has no [{kind}] entry')
    result, take_next = [], False
    for line in lines:
        if line.startswith('authenticate['):
            line = '# ' + line
        elif take_next and line.startswith('# authenticate['):
            line = line[2:]
        take_next = line.startswith(f'# [{kind}] ')
        result.append(line)
    config.write_text('\n'.join(result) + '\n', encoding='utf-8')


def _announce(wiki: RunningWiki, directory: Path, redirect_uri: str, out: TextIO) -> None:
    bot = next(iter(wiki.passwords))
    say = [
        f'Local OAuth test wiki (MediaWiki {wiki.app.wiki.mediawiki}) at {wiki.url}',
        f'  API:    {wiki.api_url}',
        f'  log in: {wiki.url}/index.php?title=Special:UserLogin',
        f'Pywikibot directory: {directory}',
        f'  (family {FAMILY!r}; active credential: the OAuth 2.0 owner-only token of {bot})',
        f'  pwb -dir:{directory} login',
        f'  pwb -dir:{directory} touch -page:Sandbox',
        '  (or: export PYWIKIBOT_DIR=' + str(directory) + ')',
        'Users and passwords (Special:UserLogin, for consent pages):',
    ]
    for name, password in wiki.passwords.items():
        groups = [g for g in wiki.app.wiki.users[name].groups
                  if g not in ('*', 'user', 'autoconfirmed')]
        say.append(f'  {name:<10} {password}   ({", ".join(groups)})')
    say += [
        f'OAuth clients of {bot} (credentials in {directory / "user-config.py"}):',
        '  OAuth 1.0a owner-only consumer; OAuth 2.0 owner-only client (token and client '
        'credentials);',
        f'  OAuth 2.0 confidential and public clients, redirect URI {redirect_uri}.',
        'To authorize the confidential or public client: make its entry the active one in',
        'user-config.py, then run',
        f'  pwb-oauth authorize -dir:{directory} -site:{FAMILY}:{FAMILY}',
        f'and press "Allow" in the browser, logged in as {bot}.',
        f'Pages: {", ".join(wiki.seeded.pages)}',
        'Ctrl-C stops the wiki and removes what this command wrote.',
    ]
    print('\n'.join(say), file=out, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pwb_oauth_ext.commands.testwiki`` (the same as ``pwb-oauth testwiki``)."""
    parser = argparse.ArgumentParser(prog='pwb-oauth testwiki', description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv), sys.stdout)


if __name__ == '__main__':
    sys.exit(main())
