"""``pwb-oauth store migrate --to URL|FILE``: copy every grant to another token store;
``pwb-oauth store flush``: store the refreshed pairs the journal still holds.

Idempotent: a grant the target holds already is left alone when it is the
same, and when the target's copy is newer (a fleet already refreshed it
there); otherwise it is written. Nothing is deleted from either store.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO


def add_parser(commands: Any) -> None:
    """The ``store`` subcommand and its ``migrate`` action."""
    store = commands.add_parser(
        'store', help='copy the grants to another token store (file or database)',
        description='Copy every grant of the token store in use (or --from) to another'
                    ' store: a file, or a database URL (postgresql://, mysql://,'
                    ' sqlite:///). Run it again at any time: nothing is copied twice and'
                    ' nothing is deleted.')
    actions = store.add_subparsers(dest='store_action', metavar='ACTION')
    actions.required = True
    migrate = actions.add_parser('migrate', help='copy every grant to --to')
    migrate.add_argument('--to', required=True, metavar='URL_OR_FILE',
                         help='the target store: a database URL or a file path (a relative'
                              ' one is in the current folder); the password may come from'
                              ' $PWB_OAUTH_STORE_PASSWORD')
    migrate.add_argument('--from', dest='source', metavar='URL_OR_FILE',
                         help='the source store (default: the one user-config.py uses)')
    actions.add_parser(
        'flush', help='store the refreshed tokens the journal still holds',
        description='A bot whose store write failed (or that was killed right after a'
                    ' refresh) left the refreshed pair in the journal beside the store'
                    ' (FILE.pending, or pwb-oauth-pending.json in the Pywikibot directory'
                    ' for a database). Any later run stores it; this does it now.')


def run(args: argparse.Namespace, out: TextIO) -> int:
    import os

    from pwb_oauth_ext.integration import facade
    from pwb_oauth_ext.protocol.store import describe_store, open_store
    facade.load_pywikibot()
    if args.store_action == 'flush':
        store = facade.resolver.store()
        moved = store.complete_pending()
        print(f'{describe_store(store)}: {moved} refreshed grant(s) stored from the journal.',
              file=out)
        return 0
    source = (open_store(args.source) if args.source else facade.resolver.store())
    if not args.source:
        source.complete_pending()
    target = open_store(args.to, password=os.environ.get('PWB_OAUTH_STORE_PASSWORD') or None)
    if describe_store(source) == describe_store(target):
        raise ValueError('--to names the store that is in use already; nothing to copy')
    counts = migrate(source, target)
    print(f'{describe_store(source)} -> {describe_store(target)}: {counts["copied"]} copied,'
          f' {counts["unchanged"]} already there, {counts["newer"]} kept (newer in the'
          ' target).', file=out)
    written = local_file(args.to)
    if written is not None:
        print(f'The grants are in the file {written}.', file=out)
    print('Switch every bot to the new store at once (enable(token_store=...) in'
          ' user-config.py): a grant refreshed in one store is dead in the other.', file=out)
    if written is not None and is_relative(args.to):
        print(f'{args.to} is relative to the folder this ran in; a bot runs elsewhere:'
              f' give enable(token_store={absolute_setting(args.to, written)!r}).', file=out)
    return 0


def _sqlite_path(setting: str) -> str | None:
    """The file part of ``sqlite:///PATH[?...]``; None for another URL."""
    if not setting.lower().startswith('sqlite'):
        return None
    rest = setting.partition('://')[2]
    path = rest[1:] if rest.startswith('/') else rest
    return path.partition('?')[0] or None


def local_file(setting: str) -> Path | None:
    """The absolute file a store setting (a path or ``sqlite:///PATH``) names; None for a server."""
    import os
    if '://' not in setting:
        return Path(os.path.abspath(os.path.expanduser(setting)))
    path = _sqlite_path(setting)
    if path is None or path == ':memory:':
        return None
    return Path(os.path.abspath(os.path.expanduser(path)))


def is_relative(setting: str) -> bool:
    """True for a store path that depends on the current folder."""
    path = _sqlite_path(setting) if '://' in setting else setting
    return path is not None and not path.startswith(('/', '~'))


def absolute_setting(setting: str, written: Path) -> str:
    """``setting`` with its file made absolute (``sqlite:////abs/path``)."""
    if '://' not in setting:
        return str(written)
    query = setting.partition('?')[2]
    return f'sqlite:///{written}' + (f'?{query}' if query else '')


def migrate(source: Any, target: Any) -> dict[str, int]:
    """Copy every grant from ``source`` to ``target``; the counts of what happened."""
    counts = {'copied': 0, 'unchanged': 0, 'newer': 0}
    for key, record in source.entries():
        with target.transaction() as tx:
            there = tx.get(key)
            if there == record:
                counts['unchanged'] += 1
            elif there is not None and _newer(there, record):
                counts['newer'] += 1
            else:
                tx.put(key, record)
                counts['copied'] += 1
    missing = {key for key, _ in source.entries()} - {key for key, _ in target.entries()}
    if missing:  # pragma: no cover - a store that drops writes
        raise ValueError(f'{len(missing)} grants were not found in the target after copying')
    return counts


def _newer(there: dict, record: dict) -> bool:
    obtained_there, obtained_here = there.get('obtained_at'), record.get('obtained_at')
    return (isinstance(obtained_there, (int, float)) and isinstance(obtained_here, (int, float))
            and obtained_there > obtained_here)
