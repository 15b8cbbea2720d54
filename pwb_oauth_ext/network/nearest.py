"""When no ``config.authenticate`` key matches a wiki: the nearest key, and why it missed.

The usual slips are a host written another way (``localhost`` for
``127.0.0.1``), a wrong port, and an account prefix for another user. Keys
for the wiki's own host are judged by ``HostTable.explain`` (the runtime's
rules, with its reasons); keys for other hosts are ranked by how alike they
are. Standard library only.
"""
from __future__ import annotations

import difflib
from typing import Any

from pwb_oauth_ext.network.hosts import HostKey, HostTable, KeyKind

#: Names of this machine that are different keys all the same.
_LOOPBACK = ('localhost', '127.0.0.1', '::1')


def _where(host: str, port: int | None) -> str:
    shown = f'[{host}]' if ':' in host else host
    return shown if port is None else f'{shown}:{port}'


def _host_reason(key: HostKey, host: str) -> str:
    written = key.canonical_host if key.kind is KeyKind.EXACT else f'*.{key.host}'
    if key.host in _LOOPBACK and host in _LOOPBACK:
        return (f'its host {written} is not {_where(host, None)}: keys are compared as'
                ' written, and these are two names of this machine')
    return f'its host {written} is not {_where(host, None)}'


def _other_reasons(key: HostKey, port: int | None, account: str | None) -> list[str]:
    reasons = []
    if key.port is not None and key.port != port:
        reasons.append(f'its port {key.port} is not '
                       + ('the default port' if port is None else str(port)))
    if key.account is not None and key.account != account:
        reasons.append(f'its account {key.account} is not '
                       + ('set for this site' if account is None else account))
    return reasons


def _likeness(key: HostKey, host: str, port: int | None, account: str | None) -> float:
    """How near ``key`` is to the request (bigger is nearer)."""
    score = difflib.SequenceMatcher(None, key.host, host).ratio()
    if key.host in _LOOPBACK and host in _LOOPBACK:
        score += 1.0
    if key.port == port:
        score += 0.5
    if key.account is None or key.account == account:
        score += 0.25
    return score


def nearest_key(table: HostTable[Any], url: str, account: str | None) -> tuple[str, str] | None:
    """(the nearest key as written, why it does not apply) when none applies to ``url``.

    None when a key applies, or the table is empty.
    """
    explanation = table.explain(url, account)
    if explanation.winner is not None:
        return None
    if explanation.candidates:   # keys for this very host: the runtime's own reasons
        first = explanation.candidates[0]
        return first.key.original, first.reason
    host, port, wanted = explanation.host, explanation.port, explanation.account
    keys = [key for key, _ in table.items() if not key.is_catch_all]
    if not keys:
        return None
    best = max(keys, key=lambda key: _likeness(key, host, port, wanted))
    reasons = [_host_reason(best, host), *_other_reasons(best, port, wanted)]
    return best.original, '; '.join(reasons)


def no_match_line(table: HostTable[Any], url: str, account: str | None) -> str | None:
    """One line: no key matched the wiki at ``url``, the nearest key and why; None if one did."""
    found = nearest_key(table, url, account)
    if found is None:
        return None
    explanation = table.explain(url, account)
    who = f', account {explanation.account}' if explanation.account else ''
    key, reason = found
    return (f'No config.authenticate entry matched {_where(explanation.host, explanation.port)}'
            f'{who}; the nearest key is {key!r}: {reason}.')
