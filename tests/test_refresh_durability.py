"""A rotated refresh token survives every failed store write (issue 20 item 1).

MediaWiki revokes the old pair as it answers a refresh, so the answer is the
grant. Each fault of ``pwb_oauth_ext.testwiki.faults`` is injected between the
wiki's answer and the store write of a real Pywikibot process; afterwards, with
no one authorizing again, bots save (the fresh pair was stored), the grant is
expired and they save again (it still refreshes): exactly one refresh per
rotation, no grant lost.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PYWIKIBOT_PYTHON, serve_database

from pwb_oauth_ext.testwiki import databases
from pwb_oauth_ext.testwiki.faults import MATRIX, run_fault
from pwb_oauth_ext.testwiki.server import RunningWiki


@pytest.fixture(scope='module')
def postgres() -> Iterator[databases.PostgresServer]:
    yield from serve_database(databases.PostgresServer)


@pytest.fixture(scope='module')
def mariadb() -> Iterator[databases.MariaDBServer]:
    yield from serve_database(databases.MariaDBServer)


@pytest.mark.parametrize('fault, server_name', MATRIX,
                         ids=[f'{fault}-{name or "file"}' for fault, name in MATRIX])
def test_a_rotated_pair_survives_the_fault(fault: str, server_name: str | None,
                                           wiki: RunningWiki, pwb_dir_factory: Any,
                                           tmp_path: Path,
                                           request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue(
        {'postgresql': 'postgres', 'mariadb': 'mariadb'}[server_name]) if server_name else None
    result = run_fault(fault, wiki, server=server, python=PYWIKIBOT_PYTHON, workdir=tmp_path,
                       make_dir=lambda lines: pwb_dir_factory(lines), bots=2)
    details = '\n----\n'.join(result['errors'])
    assert result['grants_lost'] == 0, details
    assert result['saves'] == result['attempts'], details
    assert result['refreshes'] == result['rotations'] == 2, details
    if server is not None:
        assert server.password not in details
