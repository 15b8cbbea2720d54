"""pytest fixtures serving the local OAuth test wiki.

Bot authors enable them with ``pytest_plugins = ['pwb_oauth_ext.testwiki.pytest_plugin']``.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from .farm import RunningFarm, run_test_farm
from .server import RunningWiki, run_test_wiki


@pytest.fixture
def test_wiki() -> Iterator[RunningWiki]:
    """A fresh wiki on 127.0.0.1 for one test (no users: add them with ``app.add_bot``)."""
    with run_test_wiki() as running:
        yield running


@pytest.fixture(scope='session')
def test_wiki_session() -> Iterator[RunningWiki]:
    """One wiki shared by the whole test session (cheaper; state carries over)."""
    with run_test_wiki() as running:
        yield running


@pytest.fixture
def test_farm() -> Iterator[RunningFarm]:
    """A central OAuth wiki on 127.0.0.1 and the wikis 'wiki1' (127.0.0.2), 'wiki2' (127.0.0.3)."""
    with run_test_farm() as running:
        yield running
