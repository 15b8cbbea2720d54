"""``pwb oauth COMMAND ...``: the pwb-oauth command as a Pywikibot script.

Examples::

    pwb oauth demo
    pwb oauth check -site:wikipedia:en
    pwb oauth explain https://en.wikipedia.org/w/api.php -user:MyBot
    pwb oauth authorize -site:wikipedia:en -user:MyBot
"""
from __future__ import annotations

import sys


def main(*args: str) -> int:
    """Run ``pwb-oauth`` with ``args`` (default: the script's command line)."""
    from pwb_oauth_ext.commands.main import main as cli_main
    return cli_main(list(args) if args else sys.argv[1:])


if __name__ == '__main__':
    sys.exit(main())
