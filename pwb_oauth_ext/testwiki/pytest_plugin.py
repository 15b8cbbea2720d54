"""pytest fixtures serving the local OAuth test wiki.

Bot authors enable them with ``pytest_plugins = ['pwb_oauth_ext.testwiki.pytest_plugin']``.
Options (``run_test_wiki``'s keywords: ``mediawiki``, ``seed_all``, ``pages``, ``bots``,
``clients``, ...) come from a marker, ``@pytest.mark.test_wiki(clients=['oauth2-owner-only'])``,
or from indirect parametrization,
``@pytest.mark.parametrize('test_wiki', [{'mediawiki': '1.39'}, {}], indirect=True)``.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pwb_oauth_ext.testwiki.farm import RunningFarm, run_test_farm
from pwb_oauth_ext.testwiki.server import RunningWiki, run_test_wiki


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'test_wiki(**options): options of the test_wiki '
                                       'fixture (run_test_wiki keywords)')


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker('test_wiki')
    if marker is not None:
        options.update(marker.kwargs)
    options.update(getattr(request, 'param', None) or {})
    return options


@pytest.fixture
def test_wiki(request: pytest.FixtureRequest) -> Iterator[RunningWiki]:
    """A fresh wiki on 127.0.0.1 for one test (empty unless the marker asks for content)."""
    with run_test_wiki(**_options(request)) as running:
        yield running


@pytest.fixture(scope='session')
def test_wiki_session() -> Iterator[RunningWiki]:
    """One wiki shared by the whole test session (cheaper; state carries over)."""
    with run_test_wiki() as running:
        yield running


@pytest.fixture
def test_farm() -> Iterator[RunningFarm]:
    """A central OAuth wiki ('centralwiki', 127.0.0.1) and the wikis 'wiki1' (127.0.0.2) and
    'wiki2' (127.0.0.3), answering as farm-1.43/ recorded (``testwiki.farm``)."""
    with run_test_farm() as running:
        yield running
