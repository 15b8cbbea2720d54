"""``pwb-oauth explain URL [-user:NAME]``: which ``config.authenticate`` key a URL gets, and why.

No network. The answer is ``pwb_oauth_ext.explain``'s, which asks the host
table the runtime (``SessionAuth``) asks: a URL is explained as a request of
the wiki at that URL (``*`` applies there and nowhere else).
"""
from __future__ import annotations

from typing import Any, TextIO


def run_explain(url: str, user: str | None, out: TextIO) -> int:
    """Print the candidate keys for ``url``; 1 when none matches, 2 for a bad config or URL."""
    import pwb_oauth_ext
    from pwb_oauth_ext.errors import ConfigError
    from pwb_oauth_ext.integration import facade
    from pwb_oauth_ext.network.text import printable
    try:
        explanation = pwb_oauth_ext.explain(url, user)
    except (ConfigError, ValueError) as exc:
        print(f'pwb-oauth explain: {printable(exc)}', file=out)
        return 2
    print('\n'.join(printable(line) for line in explanation.format().split('\n')), file=out)
    winner = explanation.winner
    if winner is None:
        config_file = facade.user_config_path()
        source = (f'Keys read from {config_file}.' if config_file.exists() else
                  f'There is no user-config.py in {config_file.parent}, so config.authenticate'
                  ' is empty (set PYWIKIBOT_DIR or -dir: to the directory that has it).')
        print(f'No config.authenticate key matches {printable(url)}'
              f'{" for account " + explanation.account if explanation.account else ""};'
              f' Pywikibot would send no credentials there. {source}', file=out)
        return 1
    if winner.key.is_catch_all:
        print(f'{winner.key.original!r} applies to the requests of the wiki at this host and'
              ' port only: requests without a site there (SPARQL, external links) get'
              ' nothing.', file=out)
    print(f'Protocol: {_protocol_line(winner)}', file=out)
    return 0


def _protocol_line(match: Any) -> str:
    """The protocol of a matched raw ``authenticate`` value: its grant type's title."""
    from pwb_oauth_ext.config.credentials import credential_from_config
    return credential_from_config(match.key.original, match.value).grant_type.title
