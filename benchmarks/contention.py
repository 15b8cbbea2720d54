"""Section ``contention``: N processes in one PYWIKIBOT_DIR refresh one expired grant.

Each process runs Site() and one Page.save() on a stored authorization-code grant whose
access token has expired: every process must save, and exactly one refresh request may
reach the wiki.
"""
from __future__ import annotations

from typing import Any

from benchmarks.helpers import (
    STORE_FILE,
    Bench,
    Report,
    Table,
    expire,
    refresh_cells,
    save_at_once,
    save_once,
)
from pwb_oauth_ext.protocol.store import TokenStore

NOTE = ('the stored access token expired; every process must save, exactly one'
        ' refresh request may reach the wiki.')


def run(bench: Bench) -> Report:
    counts = (2, 8) if bench.quick else (2, 8, 32)
    client, key, record = bench.logins.authorization_code_grant()
    directory = bench.logins.authorization_code_directory(client, label='contention')
    store = TokenStore(directory / STORE_FILE)
    store.put(key, record)
    # Fill the apicache with one run on the valid token, so every run below starts warm.
    save_once(directory, 'Contention warm-up')
    results: dict[str, Any] = {}
    for count in counts:
        expire(store, key)
        results[str(count)] = save_at_once(bench.wiki, [directory], count,
                                           f'Contention {count}')
    table = Table(['processes', 'refresh requests', 'target', 'saves ok', 'wall time'])
    for row in results.values():
        table.add(row['processes'], *refresh_cells(row))
    return Report('Refresh contention: N processes, one expired authorization-code grant,'
                  ' each Site() + one Page.save()', table, NOTE, results)
