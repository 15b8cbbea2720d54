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

from pwb_oauth_ext.commands.parser import PywikibotStyleParser, command_parser
from pwb_oauth_ext.network.text import printable

EXIT_USAGE = 2
#: Pywikibot global options a command may also have as its own (check -site:, authorize
#: -user: ...): given to both, our parser and handle_args, as a Pywikibot script reads them.
_GLOBAL_TOO = ('-site', '-user')
#: Global options that make no sense for the demo (it makes its own wiki and directory).
_NOT_FOR_DEMO = ('-dir', '-config', '-site', '-family', '-code', '-lang', '-user')
#: Commands that make their own Pywikibot directory: no Pywikibot global option applies.
_OWN_DIRECTORY = ('demo', 'testwiki')


def _split_args(parser: argparse.ArgumentParser,
                argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments for argparse, Pywikibot global options for handle_args).

    ``-help``/``help`` become ``--help``. A single-dash option the command has
    (``-json``, ``-site:X``, ``-dir:X`` of testwiki ...) is ours; ``-site:`` and
    ``-user:`` go to handle_args as well; any other single-dash option (``-log``,
    ``-debug``, ``-family:x`` ...) is Pywikibot's, and handle_args says if it is unknown.
    """
    ours: list[str] = []
    pywikibot_args: list[str] = []
    command = None
    want_help = False
    known: set[str] = set()
    for arg in argv:
        if (arg in ('-help', '-h', '--help') or arg.startswith('-help:')
                or (arg == 'help' and ours in ([], [command]))):
            want_help = True
        elif command is None and not arg.startswith('-'):
            command = arg
            ours.append(arg)
            sub = command_parser(parser, command)
            known = sub.option_names() if sub is not None else set()
        elif arg.startswith('-') and not arg.startswith('--') and arg != '-':
            name = arg.split(':', 1)[0].split('=', 1)[0]
            if name in known:
                ours.append(arg)
                if name in _GLOBAL_TOO and command not in _OWN_DIRECTORY:
                    pywikibot_args.append(arg)
            else:
                pywikibot_args.append(arg)
        else:
            ours.append(arg)
    if want_help:   # "help check", "check help", "check -help" = "check --help"
        ours.append('--help')
    return ours, pywikibot_args


def build_parser() -> argparse.ArgumentParser:
    parser = PywikibotStyleParser(
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
        'explain', help='which config.authenticate key applies to a URL or site, and why',
        description='List the config.authenticate keys that apply to URL (or to the API of'
                    ' -site:FAMILY:CODE) in precedence order and tell which one is used.'
                    ' No network.')
    explain.add_argument('url', nargs='?', metavar='URL',
                         help='a URL requests will be sent to (or give -site:FAMILY:CODE)')
    explain.add_argument('--site', metavar='FAMILY:CODE',
                         help="the site whose API URL to explain, instead of a URL")
    explain.add_argument('--user', '-u', metavar='NAME', help='the account')


def _add_check(commands: Any) -> None:
    check = commands.add_parser(
        'check', help='check OAuth login, identity, rights and token files per site',
        description='Log in to each site with its OAuth credentials and report the key'
                    ' used, the protocol, the identity, groups, grants, rights, token'
                    ' expiry and warnings.',
        epilog='Exit status: 0 every check passed; 1 a check failed; 2 a configuration'
               ' error; 3 a wiki could not be reached.')
    check.add_argument('--site', action='append', default=[], metavar='FAMILY:CODE',
                       help='a site to check (repeatable; default: the configured site)')
    check.add_argument('--user', metavar='NAME',
                       help='the account to check (default: usernames[...] of each site)')
    check.add_argument('--all', action='store_true',
                       help='every site in config.usernames plus the default site')
    check.add_argument('--json', action='store_true', help='machine-readable output')


def _add_authorize(commands: Any) -> None:
    authorize = commands.add_parser(
        'authorize', help='obtain and store a token for a bot account (browser consent)',
        description='Run the OAuth consent flow for a site and store the token.')
    authorize.add_argument('--site', metavar='FAMILY:CODE',
                           help='the site (default: the configured site, or -family: and'
                                ' -lang:)')
    authorize.add_argument('--user', metavar='NAME', help='the bot account the token is for')
    authorize.add_argument('--paste', action='store_true',
                           help='paste the redirect URL instead of receiving it locally')
    authorize.add_argument('--timeout', type=float, default=300.0, metavar='SECONDS',
                           help='how long to wait for the browser (default: 300)')
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
    parser = build_parser()
    ours, pywikibot_args = _split_args(parser, sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(ours)
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
        return _explain(args, out)
    if args.command == 'check':
        from pwb_oauth_ext.commands.check import run_check
        sites = [parse_site(text) for text in args.site]
        return run_check(sites, all_sites=args.all, as_json=args.json, out=out,
                         user=args.user)
    if args.command == 'authorize':
        return _authorize(args, out)
    if args.command == 'testwiki':
        from pwb_oauth_ext.commands.testwiki import run as run_testwiki
        return run_testwiki(args, out)
    if args.command == 'store':
        from pwb_oauth_ext.commands.store import run as run_store
        return run_store(args, out)
    raise AssertionError(args.command)


def _explain(args: Any, out: TextIO) -> int:
    from pwb_oauth_ext.commands.explain import run_explain
    if (args.url is None) == (args.site is None):
        raise ValueError('give a URL or -site:FAMILY:CODE (one of them)')
    if args.site is not None:
        return run_explain(None, args.user, out, site=parse_site(args.site))
    return run_explain(args.url, args.user, out)


def _authorize(args: Any, out: TextIO) -> int:
    if not args.timeout > 0:
        raise ValueError(f'-timeout:{args.timeout:g} must be a number of seconds above 0')
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
                         inp=sys.stdin, open_browser=not args.no_browser, force=args.force,
                         timeout=args.timeout)


if __name__ == '__main__':
    sys.exit(main())
