"""The ``pwb-oauth`` command: argument parsing and dispatch only.

The work lives in one module per command; this module imports them (and,
through the integration's facade, Pywikibot) only for the subcommand that
needs them, so ``pwb-oauth --help`` is instant. What Pywikibot users type works as in any
Pywikibot script: ``-help`` and ``help`` (also after a command), and the global
options (``-site:FAMILY:CODE``, ``-family:``, ``-lang:``, ``-user:``, ``-dir:``,
``-log``, ``-debug``, ``-verbose`` ...), which go through
``pywikibot.handle_args`` so they take effect.

Exit statuses: 0 success; 1 a check or the authorization failed; 2 a usage or
configuration error (nothing was sent); 3 a wiki could not be reached; 130
interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pwb_oauth_ext.network.text import printable

EXIT_USAGE = 2
#: Our own options in Pywikibot's spelling, rewritten for argparse for the commands
#: that have them (they are Pywikibot global options too, handed to handle_args as well:
#: check gets -user: that way only, the demo neither).
_PYWIKIBOT_STYLE = {'-site:': ('--site=', ('check', 'authorize')),
                    '-user:': ('--user=', ('explain', 'authorize'))}
#: Global options that make no sense for the demo (it makes its own wiki and directory).
_NOT_FOR_DEMO = ('-dir', '-config', '-site', '-family', '-code', '-lang', '-user')


def _split_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments for argparse, Pywikibot global options for handle_args).

    ``-help``/``help`` become ``--help``; ``-site:``/``-user:`` go to both lists;
    any other single-dash option (``-log``, ``-debug``, ``-family:x`` ...) is
    Pywikibot's, and handle_args says if it is unknown.
    """
    ours: list[str] = []
    pywikibot_args: list[str] = []
    command = None
    want_help = False
    for arg in argv:
        if (arg in ('-help', '-h', '--help') or arg.startswith('-help:')
                or (arg == 'help' and ours in ([], [command]))):
            want_help = True
        elif command is None and not arg.startswith('-'):
            command = arg
            ours.append(arg)
        elif arg.startswith('-') and not arg.startswith('--') and arg not in ('-u', '-'):
            pywikibot_args.append(arg)
        else:
            ours.append(arg)
    for arg in pywikibot_args:   # -site:/-user: are ours too where the command has them
        for old, (new, commands) in _PYWIKIBOT_STYLE.items():
            if arg.startswith(old) and command in commands:
                ours.append(new + arg[len(old):])
    if want_help:   # "help check", "check help", "check -help" = "check --help"
        ours.append('--help')
    return ours, pywikibot_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='pwb-oauth',
        description='OAuth for Pywikibot: try it, explain and check the configuration,'
                    ' authorize a bot. Pywikibot global options (-dir:, -family:, -lang:,'
                    ' -site:, -user:, -log, -debug, -verbose ...) work as in any Pywikibot'
                    ' script; -help or help after a command shows its options.',
        epilog='Exit status: 0 success; 1 a check or the authorization failed; 2 a usage'
               ' or configuration error; 3 a wiki could not be reached; 130 interrupted.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True
    _add_demo(commands)
    _add_explain(commands)
    _add_check(commands)
    _add_authorize(commands)
    from pwb_oauth_ext.commands.testwiki import add_arguments as testwiki_arguments
    testwiki_arguments(commands.add_parser(
        'testwiki', help='serve a local OAuth test wiki and a ready Pywikibot directory',
        description='Serve a seeded local OAuth test wiki on 127.0.0.1 until Ctrl-C, with a'
                    ' Pywikibot directory (family file, user-config.py) for it.'))
    from pwb_oauth_ext.commands.store import add_parser as add_store_parser
    add_store_parser(commands)
    return parser


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        'demo', help='log in, read, edit and log out with OAuth against a local test wiki',
        description='Start a local test wiki and run real Pywikibot against it with OAuth'
                    ' 1.0a, an OAuth 2.0 owner-only token and OAuth 2.0 client credentials.'
                    ' No account and no network needed.')
    demo.add_argument('--mode', default='all',
                      help='oauth1, oauth2, client-credentials or all (default);'
                           ' several separated by commas')


def _add_explain(commands: Any) -> None:
    explain = commands.add_parser(
        'explain', help='which config.authenticate key applies to a URL, and why',
        description='List the config.authenticate keys that apply to URL in precedence'
                    ' order and tell which one is used. No network.')
    explain.add_argument('url')
    explain.add_argument('--user', '-u', help='the account (as -user:NAME)')


def _add_check(commands: Any) -> None:
    check = commands.add_parser(
        'check', help='check OAuth login, identity, rights and token files per site',
        description='Log in to each site with its OAuth credentials and report the key'
                    ' used, the protocol, the identity, groups, grants, rights, token'
                    ' expiry and warnings. -user:NAME checks that account.',
        epilog='Exit status: 0 every check passed; 1 a check failed; 3 a wiki could not'
               ' be reached.')
    check.add_argument('--site', action='append', default=[], metavar='FAMILY:CODE',
                       help='a site to check (repeatable; default: the configured site)')
    check.add_argument('--all', action='store_true',
                       help='every site in config.usernames plus the default site')
    check.add_argument('--json', action='store_true', help='machine-readable output')


def _add_authorize(commands: Any) -> None:
    authorize = commands.add_parser(
        'authorize', help='obtain and store a token for a bot account (browser consent)',
        description='Run the OAuth consent flow for a site and store the token.')
    authorize.add_argument('--site', metavar='FAMILY:CODE',
                           help='the site (as -site:FAMILY:CODE; default: the configured'
                                ' site, or -family: and -lang:)')
    authorize.add_argument('--user', help='the bot account the token is for')
    authorize.add_argument('--paste', action='store_true',
                           help='paste the redirect URL instead of receiving it locally')
    authorize.add_argument('--show', action='store_true',
                           help='also print the new access token (and secret or refresh'
                                ' token) after storing it; they are secrets')
    authorize.add_argument('--no-browser', action='store_true',
                           help='print the consent URL instead of opening a browser')
    authorize.add_argument('--force', action='store_true',
                           help='replace a grant that is already stored')


def parse_site(text: str) -> tuple[str, str]:
    """'FAMILY:CODE' -> (family, code); a bare 'CODE' is not accepted (ambiguous)."""
    family, sep, code = text.partition(':')
    if not sep or not family or not code:
        raise ValueError(f'site {text!r} must be FAMILY:CODE, e.g. wikipedia:en')
    return family, code


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``pwb-oauth`` console script; returns the exit status."""
    out = out or sys.stdout
    ours, pywikibot_args = _split_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(ours)
    try:
        if args.command == 'demo':
            refused = [arg for arg in pywikibot_args if arg.partition(':')[0] in _NOT_FOR_DEMO]
            if refused:
                raise ValueError(f'{", ".join(refused)} does not apply: the demo makes its own'
                                 ' local wiki and Pywikibot directory')
            args.pywikibot_args = pywikibot_args
        elif args.command == 'testwiki':   # writes its own Pywikibot directory (--dir)
            if pywikibot_args:
                raise ValueError(f'{", ".join(pywikibot_args)} does not apply: use --dir')
        else:
            _handle_global_args(pywikibot_args)
        return _dispatch(args, out)
    except ValueError as exc:
        print(f'pwb-oauth {args.command}: {printable(exc)}', file=sys.stderr)
        return EXIT_USAGE


def _handle_global_args(pywikibot_args: list[str]) -> None:
    """Apply Pywikibot's global options as a Pywikibot script does; ValueError for unknown ones."""
    for arg in pywikibot_args:   # -dir: is read when Pywikibot is imported
        if arg.startswith('-dir:') and 'pywikibot' not in sys.modules:
            os.environ['PYWIKIBOT_DIR'] = os.path.expanduser(arg[len('-dir:'):])
    from pwb_oauth_ext.integration import facade
    facade.load_pywikibot()
    unknown = facade.handle_global_args(pywikibot_args)
    if unknown:
        raise ValueError(f'unknown option{"s" if len(unknown) > 1 else ""}'
                         f' {", ".join(unknown)} (see pwb-oauth -help, or pwb -help:global'
                         " for Pywikibot's global options)")


def _default_site(text: str | None) -> tuple[str, str]:
    """FAMILY:CODE from -site:, else the configured (or -family:/-lang:) site."""
    if text:
        return parse_site(text)
    from pwb_oauth_ext.integration import facade
    return facade.default_site()


def _dispatch(args: Any, out: TextIO) -> int:
    if args.command == 'demo':
        from pwb_oauth_ext.commands.demo import parse_modes, run_demo
        return run_demo(parse_modes(args.mode), out, pywikibot_args=args.pywikibot_args)
    if args.command == 'explain':
        from pwb_oauth_ext.commands.explain import run_explain
        return run_explain(args.url, args.user, out)
    if args.command == 'check':
        from pwb_oauth_ext.commands.check import run_check
        sites = [parse_site(text) for text in args.site]
        return run_check(sites, all_sites=args.all, as_json=args.json, out=out)
    if args.command == 'authorize':
        return _authorize(args, out)
    if args.command == 'testwiki':
        from pwb_oauth_ext.commands.testwiki import run as run_testwiki
        return run_testwiki(args, out)
    if args.command == 'store':
        from pwb_oauth_ext.commands.store import run as run_store
        return run_store(args, out)
    raise AssertionError(args.command)


def _authorize(args: Any, out: TextIO) -> int:
    family, code = _default_site(args.site)
    from pwb_oauth_ext.commands.authorize import EXIT_USAGE as CONFIG_ERROR
    from pwb_oauth_ext.commands.authorize import check_configuration, run_authorize
    from pwb_oauth_ext.integration import facade
    problem = check_configuration(family, code, args.user)
    if problem:   # before the site exists: creating it goes online
        print(f'Error: {printable(problem)}', file=out)
        return CONFIG_ERROR
    facade.install()   # even without enable(): creating the site must not log in
    site = facade.site_without_login(family, code, args.user)
    return run_authorize(site, user=args.user, paste=args.paste, show=args.show, out=out,
                         inp=sys.stdin, open_browser=not args.no_browser, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
