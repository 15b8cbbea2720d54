"""The ``pwb-oauth`` command: argument parsing and dispatch only.

The work lives in ``demo.py``, ``check.py`` and ``authorize.py``; this module
imports them (and Pywikibot) only for the subcommand that needs them, so
``pwb-oauth --help`` is instant. Pywikibot-style options (``-site:FAMILY:CODE``,
``-user:NAME``) are accepted beside ``--site``/``--user``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

_PYWIKIBOT_STYLE = {'-site:': '--site=', '-user:': '--user='}


def _translate(argv: Sequence[str]) -> list[str]:
    """Rewrite ``-site:x:y`` and ``-user:NAME`` into their ``--`` forms."""
    result = []
    for arg in argv:
        for old, new in _PYWIKIBOT_STYLE.items():
            if arg.startswith(old):
                arg = new + arg[len(old):]
                break
        result.append(arg)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='pwb-oauth',
        description='OAuth for Pywikibot: try it, explain and check the configuration,'
                    ' authorize a bot.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True

    demo = commands.add_parser(
        'demo', help='log in, read, edit and log out with OAuth against a local test wiki',
        description='Start a local test wiki and run real Pywikibot against it with OAuth'
                    ' 1.0a, an OAuth 2.0 owner-only token and OAuth 2.0 client credentials.'
                    ' No account and no network needed.')
    demo.add_argument('--mode', default='all',
                      help='oauth1, oauth2, client-credentials or all (default);'
                           ' several separated by commas')

    explain = commands.add_parser(
        'explain', help='which config.authenticate key applies to a URL, and why',
        description='List the config.authenticate keys that apply to URL in precedence'
                    ' order and tell which one is used. No network.')
    explain.add_argument('url')
    explain.add_argument('--user', '-u', help='the account (as -user:NAME)')

    check = commands.add_parser(
        'check', help='check OAuth login, identity, rights and token files per site',
        description='Log in to each site with its OAuth credentials and report the key'
                    ' used, the protocol, the identity, groups, grants, rights, token'
                    ' expiry and warnings. Exit status 1 when a check fails.')
    check.add_argument('--site', action='append', default=[], metavar='FAMILY:CODE',
                       help='a site to check (repeatable; default: the configured site)')
    check.add_argument('--all', action='store_true',
                       help='every site in config.usernames plus the default site')
    check.add_argument('--json', action='store_true', help='machine-readable output')

    authorize = commands.add_parser(
        'authorize', help='obtain and store a token for a bot account (browser consent)',
        description='Run the OAuth consent flow for a site and store the token.')
    authorize.add_argument('--site', required=True, metavar='FAMILY:CODE')
    authorize.add_argument('--user', help='the bot account the token is for')
    authorize.add_argument('--paste', action='store_true',
                           help='paste the redirect URL instead of receiving it locally')
    authorize.add_argument('--show', action='store_true',
                           help='print the user-config.py line to add')
    authorize.add_argument('--no-browser', action='store_true',
                           help='print the consent URL instead of opening a browser')
    authorize.add_argument('--force', action='store_true',
                           help='replace a grant that is already stored')
    from .store_command import add_parser as add_store_parser
    add_store_parser(commands)
    return parser


def parse_site(text: str) -> tuple[str, str]:
    """'FAMILY:CODE' -> (family, code); a bare 'CODE' is not accepted (ambiguous)."""
    family, sep, code = text.partition(':')
    if not sep or not family or not code:
        raise ValueError(f'site {text!r} must be FAMILY:CODE, e.g. wikipedia:en')
    return family, code


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the ``pwb-oauth`` console script; returns the exit status."""
    out = out or sys.stdout
    args = build_parser().parse_args(_translate(sys.argv[1:] if argv is None else argv))
    try:
        return _dispatch(args, out)
    except ValueError as exc:
        print(f'pwb-oauth {args.command}: {exc}', file=sys.stderr)
        return 2


def _dispatch(args: Any, out: TextIO) -> int:
    if args.command == 'demo':
        from .demo import parse_modes, run_demo
        return run_demo(parse_modes(args.mode), out)
    if args.command == 'explain':
        from .check import run_explain
        return run_explain(args.url, args.user, out)
    if args.command == 'check':
        from .check import run_check
        sites = [parse_site(text) for text in args.site]
        return run_check(sites, all_sites=args.all, as_json=args.json, out=out)
    if args.command == 'authorize':
        return _authorize(args, out)
    if args.command == 'store':
        from .store_command import run as run_store
        return run_store(args, out)
    raise AssertionError(args.command)


def _authorize(args: Any, out: TextIO) -> int:
    family, code = parse_site(args.site)
    from .check import load_pywikibot
    load_pywikibot()
    from . import pywikibot_adapter
    from .authorize import run_authorize
    site = pywikibot_adapter.site_without_login(family, code, args.user)
    return run_authorize(site, user=args.user, paste=args.paste, show=args.show, out=out,
                         inp=sys.stdin, open_browser=not args.no_browser, force=args.force)


if __name__ == '__main__':
    sys.exit(main())
