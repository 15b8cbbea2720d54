"""The supported-versions table (docs/reference/versions.md) is the compatibility matrix.

The table's rows are tox's ``compat`` label, environment for environment, with the
releases each environment pins and its Python; the plugin's tested range is the
table's ends; each limitation it lists is explained and pinned by a test that
expects it. In a ``compat`` environment, the environment runs what its row says.
"""
from __future__ import annotations

import configparser
import os
import re
import subprocess

import pytest
from conftest import PYWIKIBOT_PYTHON
from versions_table import (
    LIMITATIONS,
    PAGE,
    TOX_INI,
    child_pywikibot,
    limitation_ids,
    rows,
    table_after,
)

from pwb_oauth_ext.integration import patch_points

SETUP_CFG = TOX_INI.parent / 'setup.cfg'
CI_RUN = TOX_INI.parent / '.ci' / 'run'


def tox() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(TOX_INI, encoding='utf-8')
    return parser


def label(name: str) -> list[str]:
    for line in tox()['tox']['labels'].splitlines():
        key, _, value = line.partition('=')
        if key.strip() == name:
            return [env.strip() for env in value.split(',') if env.strip()]
    raise AssertionError(f'no label {name} in tox.ini')


def pins() -> dict[tuple[str, str], str]:
    """(factor, distribution) -> pinned version, from ``[testenv] deps``."""
    found = {}
    for line in tox()['testenv']['deps'].splitlines():
        match = re.fullmatch(r'\s*(\w+):\s*([\w-]+)==([\d.]+)\s*', line)
        if match:
            found[match.group(1), match.group(2)] = match.group(3)
    return found


def test_the_table_is_the_tox_compat_label() -> None:
    envs = label('compat')
    assert [row.env for row in rows()] == envs
    pinned = pins()
    for row in rows():
        _, factor, python = row.env.split('-')
        assert pinned[factor, 'pywikibot'] == row.pywikibot, row
        assert pinned[factor, 'pywikibot-scripts'] == row.scripts, row
        assert python == 'py' + row.python.replace('.', ''), row
        assert factor == 'pwb' + row.pywikibot.rsplit('.', 1)[0].replace('.', '_'), row


def test_the_table_has_every_minor_release_once_and_the_plugin_its_range() -> None:
    minors = [tuple(int(n) for n in row.pywikibot.split('.')[:2]) for row in rows()]
    assert minors == sorted(set(minors))
    for (major, minor), (next_major, next_minor) in zip(minors, minors[1:]):
        assert (next_major, next_minor) in ((major, minor + 1), (major + 1, 0)), minors
    assert (minors[0], minors[-1]) == patch_points.TESTED_RANGE
    assert len(rows()) == 18


def test_every_python_tested_is_a_classifier_and_only_those() -> None:
    tested = {row.python for row in rows()}
    assert tested == {'3.9', '3.10', '3.11', '3.12', '3.13'}
    setup = configparser.ConfigParser(interpolation=None)
    setup.read(SETUP_CFG, encoding='utf-8')
    classifiers = re.findall(r'Programming Language :: Python :: (3\.\d+)',
                             setup['metadata']['classifiers'])
    assert set(classifiers) == tested
    assert setup['options']['python_requires'] == f'>={min(tested, key=lambda v: int(v[2:]))}'
    # .ci/run puts every one of them on PATH
    for version in tested:
        assert version in CI_RUN.read_text(encoding='utf-8').split('for v in ')[1].split(';')[0]


def test_every_limitation_is_explained_and_pinned_by_a_test() -> None:
    used = {limitation for row in rows() for limitation in row.cannot}
    explained = limitation_ids()
    assert sorted(explained) == sorted(LIMITATIONS)
    assert used <= set(explained)
    text = PAGE.read_text(encoding='utf-8')
    for cells in table_after('## What a release cannot do', text):
        test = LIMITATIONS[cells[0].strip('`')]
        assert cells[2] == f'`{test}`'
        path, name = test.split('::')
        source = (TOX_INI.parent / path).read_text(encoding='utf-8')
        body = source.split(f'def {name}(')[1].split('\n\n\n')[0]
        assert f"limited({cells[0].strip('`')!r})" in body, test


def _child(code: str) -> str:
    return subprocess.run([PYWIKIBOT_PYTHON, '-c', code], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


@pytest.mark.contract
def test_a_compat_environment_runs_what_its_row_says() -> None:
    """In ``tox -m compat``: this environment's Pywikibot, pywikibot-scripts and Python."""
    env = os.environ.get('PWB_OAUTH_COMPAT_ENV')
    version = child_pywikibot()
    if env is None:   # the suite outside the compat label: its release in the tested range
        assert patch_points.in_tested_range(version), version
        return
    row = next(row for row in rows() if row.env == env)
    assert version == row.pywikibot
    assert _child('from importlib.metadata import version; print(version("pywikibot-scripts"))'
                  ) == row.scripts
    assert _child('import sys; print("%d.%d" % sys.version_info[:2])') == row.python


def test_the_compat_envs_run_every_file_with_contract_tests() -> None:
    tests = TOX_INI.parent / 'tests'
    marked = sorted(f'tests/{path.name}' for path in tests.glob('test_*.py')
                    if '@pytest.mark.contract' in path.read_text(encoding='utf-8'))
    assert tox()['compat']['files'].split() == marked


def test_siteinfo_in_formatversion_1_is_what_pywikibot_10_0_to_10_4_read(wiki) -> None:
    """Pywikibot 10.0 to 10.4 ask for siteinfo without formatversion=2 and read a
    namespace's name (and an alias) under MediaWiki's content key '*'."""
    import requests
    params = {'action': 'query', 'meta': 'siteinfo', 'format': 'json',
              'siprop': 'namespaces|namespacealiases|general'}
    fv1 = requests.post(wiki.api_url, data=params, timeout=30).json()['query']
    fv2 = requests.post(wiki.api_url, data=dict(params, formatversion='2'),
                        timeout=30).json()['query']
    assert fv1['namespaces']['0'] == {'id': 0, 'case': 'first-letter', 'content': '', '*': ''}
    assert fv1['namespaces']['1']['*'] == fv2['namespaces']['1']['name'] == 'Talk'
    assert 'name' not in fv1['namespaces']['1'] and 'subpages' in fv1['namespaces']['1']
    assert [alias['*'] for alias in fv1['namespacealiases']] == [
        alias['alias'] for alias in fv2['namespacealiases']]
    assert fv2['namespaces']['0']['content'] is True
