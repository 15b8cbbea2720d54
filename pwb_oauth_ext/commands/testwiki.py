"""``pwb-oauth testwiki``: serve a seeded local OAuth wiki and a ready Pywikibot directory.

The directory (a family file and a commented user-config.py with one ``authenticate``
entry per kind of credential) is written before the wiki starts serving, so ``pwb
-dir:DIR login`` works the moment the URL is printed. Ctrl-C or SIGTERM stops the wiki
and removes what this command created, and nothing else.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.server import RunningWiki

FAMILY = 'testwiki'
MARKER = '# Written by `pwb-oauth testwiki`'
#: Which credential user-config.py uses until you switch (see the file's comments).
ACTIVE_KIND = 'oauth2-owner-only'
#: How the written comments name the authorize command (DIR: the Pywikibot directory).
AUTHORIZE_COMMAND = f'pwb-oauth authorize -dir:DIR -site:{FAMILY}:{FAMILY}'
#: Wikimedia's access token lifetime (PT4H); ``--token-ttl`` shortens it.
DEFAULT_TOKEN_TTL = 14400.0
#: What Pywikibot and this plugin write into a Pywikibot directory while bots run
#: (caches, logs, cookies, throttle, token store): removed with a folder this command made.
PYWIKIBOT_RUNTIME = ('apicache', 'apicache-py3', 'logs', '__pycache__', 'throttle.ctrl',
                     '*.lwp', 'pwb-oauth-*')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options (commands/main.py builds the subparser)."""
    parser.add_argument('--dir', metavar='DIR',
                        help='the Pywikibot directory to write (default: a new folder)')
    parser.add_argument('--port', type=int, default=0,
                        help='port on 127.0.0.1 (default: any free port)')
    parser.add_argument('--mediawiki', choices=('1.39', '1.43'), default='1.43',
                        help='answer as this MediaWiki version (default: 1.43)')
    parser.add_argument('--token-ttl', metavar='SECONDS', type=_positive_seconds,
                        default=DEFAULT_TOKEN_TTL,
                        help='lifetime of the OAuth 2.0 access tokens it issues (default:'
                             ' 14400, Wikimedia\'s 4 hours; e.g. 20 to watch a refresh)')
    parser.add_argument('--force', action='store_true',
                        help='use a --dir that is not empty (files it did not write are'
                             ' still never overwritten or removed)')


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number of seconds') from None
    if not 1 <= value <= 10 * 365 * 86400:
        raise argparse.ArgumentTypeError(f'{text!r}: give 1 second or more')
    return value


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
        ttl = getattr(args, 'token_ttl', DEFAULT_TOKEN_TTL)
        with run_test_wiki(args.port, seed_all=True, mediawiki=args.mediawiki,
                           redirect_uri=redirect_uri, access_token_ttl=ttl) as wiki, \
                pywikibot_directory(args.dir, wiki, force=getattr(args, 'force', False),
                                    out=out) as directory:
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
def pywikibot_directory(path: str | None, wiki: RunningWiki, *, force: bool = False,
                        out: TextIO | None = None) -> Iterator[Path]:
    """Write the Pywikibot directory for ``wiki``; on exit remove what was written.

    A file is removed only when it still holds what this run wrote (contents compared):
    an edited user-config.py stays. In a folder this created, Pywikibot's caches, logs
    and token store (``PYWIKIBOT_RUNTIME``) go too, and the folder when nothing else is
    left. An existing folder must be empty unless ``force``; a file this run would write
    is never overwritten, and the mode of a folder this did not create never changes.
    """
    root = Path(tempfile.mkdtemp(prefix='pwb-testwiki-')) if path is None else Path(path)
    created_root = path is None
    targets = [root / 'families' / f'{FAMILY}_family.py', root / 'user-config.py']
    if not created_root:
        if root.exists() and not root.is_dir():
            raise FileExistsError(f'--dir {root} is a file, not a folder')
        _refuse_to_touch(root, targets, force)
        if not root.exists():
            _make_private_dirs(root)
            created_root = True
    written: dict[Path, str] = {}
    created_dirs: list[Path] = []
    try:
        families = root / 'families'
        if not families.exists():
            families.mkdir(mode=0o700)
            created_dirs.append(families)
        _write_new(targets[0], family_source(wiki), 0o644, written)
        _write_new(targets[1], user_config_source(wiki, root), 0o600, written)
        yield root
    finally:
        kept = [item for item, text in written.items() if not _remove_if_unchanged(item, text)]
        if created_root:
            _remove_runtime_files(root)
        for folder in [*created_dirs, *([root] if created_root else [])]:
            shutil.rmtree(folder / '__pycache__', ignore_errors=True)
            with suppress(OSError):
                folder.rmdir()   # only when empty
        if kept and out is not None:
            print('Kept (changed since this command wrote it): '
                  + ', '.join(str(item) for item in kept), file=out, flush=True)
        if created_root and root.exists() and out is not None:
            print(f'Kept {root}: it holds files this command did not write.', file=out,
                  flush=True)


def _refuse_to_touch(root: Path, targets: list[Path], force: bool) -> None:
    """Refuse a non-empty folder (unless ``force``) and any file this would overwrite."""
    existing = [target for target in targets if target.exists() or target.is_symlink()]
    touched = ', '.join(str(target) for target in targets)
    if existing:
        raise FileExistsError(
            f'{", ".join(str(item) for item in existing)} already exists and was not written'
            ' by this run of pwb-oauth testwiki; it is never overwritten. Remove it, or give'
            ' another --dir (or none for a new folder).')
    if root.is_dir() and any(root.iterdir()) and not force:
        raise FileExistsError(
            f'--dir {root} is not empty. pwb-oauth testwiki would write {touched} there'
            ' (and Pywikibot its caches and logs while bots run); files it did not write are'
            ' never overwritten or removed. Add --force to use it anyway, or give an empty'
            ' or new --dir (or none for a new folder).')


def _make_private_dirs(root: Path) -> None:
    """Create ``root`` (and missing parents) 0700; existing folders keep their mode."""
    missing = []
    folder = root
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700)
        folder.chmod(0o700)   # the umask may have taken bits away, never added any


def _write_new(path: Path, text: str, mode: int, written: dict[Path, str]) -> None:
    """Create ``path`` with ``text``; an existing file (or link) is an error, never replaced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0),
                 mode)
    written[path] = text
    with os.fdopen(fd, 'w', encoding='utf-8') as handle:
        handle.write(text)
    os.chmod(path, mode)


def _remove_if_unchanged(path: Path, text: str) -> bool:
    """Remove ``path`` if it holds ``text``; True when it is gone (removed or missing)."""
    try:
        if path.is_symlink() or path.read_text(encoding='utf-8') != text:
            return False
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError):
        return False
    path.unlink()
    return True


def _remove_runtime_files(root: Path) -> None:
    """What Pywikibot and the plugin wrote into a folder this command made."""
    for pattern in PYWIKIBOT_RUNTIME:
        for item in root.glob(pattern):
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item, ignore_errors=True)
            else:
                with suppress(OSError):
                    item.unlink()


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
    if 'oauth1-consumer' in c:
        o1 = c['oauth1-consumer']
        add('oauth1-consumer', 'OAuth 1.0a, a consumer for any user (not owner-only): run'
            f' once `{AUTHORIZE_COMMAND}`, allow it in the browser, paste the address it'
            ' sends you to; the access token goes to the token store',
            f'_oauth.OAuth1({o1.consumer_key!r}, {o1.consumer_secret!r})')
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
                f'`{AUTHORIZE_COMMAND}`; its access token lives TTL s, then it is renewed',
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
        f'# OAuth 2.0 access tokens it issues live {wiki.app.oauth2.access_token_ttl:g} s'
        ' (pwb-oauth testwiki --token-ttl SECONDS; Wikimedia: 14400).',
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
    ttl = f'{wiki.app.oauth2.access_token_ttl:g}'
    for kind, comment, line in authenticate_entries(wiki):
        comment = comment.replace('pwb-oauth authorize', commands().pwb_oauth + ' authorize')
        comment = comment.replace('DIR', str(root)).replace('TTL', ttl)
        lines += ['', f'# [{kind}] {comment}', line if kind == ACTIVE_KIND else f'# {line}']
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


@dataclass(frozen=True)
class Commands:
    """How to run ``pwb`` and ``pwb-oauth`` from here, as printed (copy-paste ready)."""

    pwb: str
    pwb_oauth: str
    #: pywikibot-scripts (``touch``, ``replace``, ...) is installed, or Pywikibot's own
    #: scripts folder (a git checkout) is there.
    scripts: bool


def commands() -> Commands:
    """Our interpreter's own commands: the bare name when PATH finds that very file,
    else its full path (a venv that is not activated), else ``python -m ...``."""
    bindir = Path(sys.executable).parent

    def command(name: str, module: str) -> str:
        for candidate in (bindir / name, bindir / f'{name}.exe'):
            if candidate.is_file():
                found = shutil.which(name)
                if found and os.path.samefile(found, candidate):
                    return name
                return shlex.quote(str(candidate))
        return f'{shlex.quote(sys.executable)} -m {module}'

    return Commands(pwb=command('pwb', 'pywikibot.scripts.wrapper'),
                    pwb_oauth=command('pwb-oauth', 'pwb_oauth_ext.commands.main'),
                    scripts=_everyday_scripts_installed())


def _everyday_scripts_installed() -> bool:
    if importlib.util.find_spec('pywikibot_scripts') is not None:
        return True
    spec = importlib.util.find_spec('pywikibot')
    origin = spec.origin if spec is not None else None
    return bool(origin) and (Path(origin).parent.parent / 'scripts' / 'touch.py').is_file()


def _announce(wiki: RunningWiki, directory: Path, redirect_uri: str, out: TextIO) -> None:
    bot = next(iter(wiki.passwords))
    run = commands()
    quoted = shlex.quote(str(directory))
    say = [
        f'Local OAuth test wiki (MediaWiki {wiki.app.wiki.mediawiki}) at {wiki.url}',
        f'  API:    {wiki.api_url}',
        f'  log in: {wiki.url}/index.php?title=Special:UserLogin',
        f'Pywikibot directory: {directory}',
        f'  (family {FAMILY!r}; active credential: the OAuth 2.0 owner-only token of {bot})',
        f'  {run.pwb} -dir:{quoted} login',
    ]
    if run.scripts:
        say.append(f'  {run.pwb} -dir:{quoted} touch -page:Sandbox')
    else:
        say += [f'  {run.pwb} -dir:{quoted} oauth check   (this plugin\'s script)',
                '  (touch, replace and the other everyday scripts need: pip install'
                ' pywikibot-scripts)']
    say += [
        f'  (or: export PYWIKIBOT_DIR={quoted})',
        'Users and passwords (Special:UserLogin, for consent pages):',
    ]
    for name, password in wiki.passwords.items():
        groups = [g for g in wiki.app.wiki.users[name].groups
                  if g not in ('*', 'user', 'autoconfirmed')]
        say.append(f'  {name:<10} {password}   ({", ".join(groups)})')
    ttl = wiki.app.oauth2.access_token_ttl
    say += [
        f'OAuth clients of {bot} (credentials in {directory / "user-config.py"}):',
        '  OAuth 1.0a owner-only consumer and a consumer for any user (handshake);',
        '  OAuth 2.0 owner-only client (token and client credentials);',
        f'  OAuth 2.0 confidential and public clients, redirect URI {redirect_uri}.',
        f'  OAuth 2.0 access tokens live {ttl:g} s (--token-ttl), then are renewed.',
        'To authorize the OAuth 1.0a consumer or the confidential or public client: make its',
        'entry the active one in user-config.py, then run',
        f'  {run.pwb_oauth} authorize -dir:{quoted} -site:{FAMILY}:{FAMILY}',
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
