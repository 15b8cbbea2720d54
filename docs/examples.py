"""Every example of the manual and the README, run as a test inside pytest with Sybil.

``tox -e docs`` runs ``pytest -p docs.examples README.md docs``. What runs:

- ```` ```python ```` blocks: executed in the namespace user-config.py gets (``authenticate``,
  ``usernames``, ``family``, ``mylang``); every ``authenticate`` entry they leave must then be
  a valid key and value for the plugin (the checks ``enable()`` makes at first use).
- ```` ```{code-block} python ```` with ``:caption: NAME``: written to the file NAME in the
  session's folder (a bot script or a user-config.py the following commands use).
- ```` ```console ```` blocks: each ``$ command`` runs in bash, in the session's folder, with
  the ``pwb`` and ``pwb-oauth`` of this environment first on PATH and HOME in a temporary
  folder; its output (stdout and stderr, as a terminal shows them) is compared with the
  lines under it, where ``...`` stands for any text (a port, a time, a secret). A command
  must exit 0 unless it ends in ``; echo "exit status $?"``. ``cd DIR`` and
  ``export NAME=VALUE`` change the session, as in a shell.
- ``% skip: next`` before a block leaves it out (examples on real wikis: no test reaches
  beyond 127.0.0.1).

A document's first console block starts the local test wiki exactly as the tutorial says
(``pwb-oauth testwiki`` with the folder ``testbot``, in a temporary folder that is the
session's folder), and the document's end stops it (Ctrl-C), so nothing is left behind.
"""
from __future__ import annotations

import doctest
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sybil import Example, Sybil
from sybil.evaluators.python import PythonEvaluator
from sybil.parsers.markdown import CodeBlockParser
from sybil.parsers.myst import SkipParser
from sybil.parsers.myst.lexers import DirectiveLexer

#: The folder the test wiki's Pywikibot directory is written to (as in the tutorial).
PWB_FOLDER = 'testbot'
#: How a document's test wiki is started when none of its blocks says how.
DEFAULT_WIKI_COMMAND = f'pwb-oauth testwiki --dir {PWB_FOLDER}'
#: What a command may take at most, in seconds.
COMMAND_TIMEOUT = 120
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_STATUS_SUFFIX = re.compile(r';\s*echo\s+"exit status \$\?"\s*$')


class Session:
    """One document's shell: its folder, environment, and the test wiki it started."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix='pwb-oauth-docs-')
        self.root = Path(self._tmp.name)
        self.cwd = self.root
        home = self.root / 'home'
        home.mkdir()
        bin_dir = str(Path(sys.executable).parent)
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(('PYWIKIBOT', 'PWB_OAUTH'))}
        self.env.update(HOME=str(home), PATH=bin_dir + os.pathsep + self.env.get('PATH', ''),
                        PYTHONDONTWRITEBYTECODE='1', NO_COLOR='1')
        self.wiki: subprocess.Popen[str] | None = None
        self.banner = ''

    def start_wiki(self, command: str = DEFAULT_WIKI_COMMAND) -> None:
        """Run ``pwb-oauth testwiki`` in the session's folder until its banner is complete."""
        if self.wiki is not None:
            return
        self.wiki = subprocess.Popen(
            ['bash', '-c', 'exec ' + command], cwd=self.cwd, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.wiki.stdout is not None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = self.wiki.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith('Ctrl-C stops'):
                self.banner = ''.join(lines)
                # Whatever it prints later is read, so that it never waits on a full pipe.
                threading.Thread(target=self.wiki.stdout.read, daemon=True).start()
                return
        self.stop_wiki()
        raise RuntimeError('pwb-oauth testwiki did not start:\n' + ''.join(lines))

    def run(self, command: str) -> tuple[int, str]:
        """(exit status, output) of one command; cd and export change the session."""
        words = command.split()
        if words and words[0] == 'cd' and len(words) == 2:
            self.cwd = (self.cwd / os.path.expanduser(words[1])).resolve()
            return 0, ''
        if words and words[0] == 'export' and '=' in words[1]:
            name, _, value = command.split(None, 1)[1].partition('=')
            shown = subprocess.run(['bash', '-c', f'printf %s {value}'], cwd=self.cwd,
                                   env=self.env, capture_output=True, text=True, check=True)
            self.env[name] = shown.stdout
            return 0, ''
        done = subprocess.run(['bash', '-c', command], cwd=self.cwd, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=COMMAND_TIMEOUT)
        return done.returncode, done.stdout

    def stop_wiki(self) -> None:
        if self.wiki is not None:
            self.wiki.send_signal(signal.SIGINT)
            try:
                self.wiki.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                self.wiki.kill()
                self.wiki.communicate()
            self.wiki = None

    def stop(self) -> None:
        self.stop_wiki()
        self._tmp.cleanup()


def _commands(source: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a console block.

    A command is a ``$ `` line and its continuation lines (ending in a backslash, or the
    body of a ``<<'EOF'`` here-document up to its ``EOF`` line).
    """
    pairs: list[tuple[str, list[str]]] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('$ '):
            command = [line[2:]]
            heredoc = re.search(r"<<-?\s*'?(\w+)'?", line)
            while command[-1].endswith('\\') and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            if heredoc:
                end = heredoc.group(1)
                while i + 1 < len(lines):
                    i += 1
                    command.append(lines[i])
                    if lines[i] == end:
                        break
            pairs.append(('\n'.join(command), []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise ValueError(f'console block: output before any "$ " command: {line!r}')
        i += 1
    return [(command, '\n'.join(output).strip() + '\n') for command, output in pairs]


def evaluate_console(example: Example) -> str | None:
    session: Session = example.namespace['_session']
    for command, expected in _commands(example.parsed):
        if command.startswith('pwb-oauth testwiki'):   # the wiki the document's commands use
            try:
                session.start_wiki(command)
            except RuntimeError as exc:
                return str(exc)
            status, output = 0, session.banner
        else:
            session.start_wiki()
            status, output = session.run(command)
        if status != 0 and not _STATUS_SUFFIX.search(command):
            return f'$ {command}\nexited with status {status}:\n{output}'
        if expected.strip() == '':
            continue
        got = output.strip() + '\n'
        if not _CHECKER.check_output(expected, got, _FLAGS):
            return f'$ {command}\nexpected:\n{expected}got:\n{got}'
    return None


def evaluate_file(example: Example) -> None:
    """A captioned code block: written to that file in the session's folder."""
    session: Session = example.namespace['_session']
    path = session.cwd / example.region.lexemes['options']['caption']
    path.write_text(str(example.parsed))
    if path.name == 'user-config.py':
        path.chmod(0o600)


class FileParser:
    """```{code-block} python``` blocks with ``:caption: NAME`` (files the reader writes)."""

    def __init__(self) -> None:
        self.lexer = DirectiveLexer(directive='code-block', arguments='python')

    def __call__(self, document: Any) -> Any:
        for region in self.lexer(document):
            if 'caption' in region.lexemes.get('options', {}):
                region.parsed = region.lexemes['source']
                region.evaluator = evaluate_file
                yield region


def check_entries(namespace: dict[str, Any]) -> None:
    """Every authenticate entry a Python block left is one the plugin accepts."""
    from pwb_oauth_ext.config.credentials import credential_from_config
    from pwb_oauth_ext.network.hosts import parse_key
    for key, value in namespace['authenticate'].items():
        parse_key(key)
        credential_from_config(key, value)


def evaluate_python(example: Example) -> None:
    _python(example)
    check_entries(example.namespace)


def setup(namespace: dict[str, Any]) -> None:
    namespace.update(_session=Session(), authenticate={}, usernames=defaultdict(dict),
                     family='wikipedia', mylang='en')


def teardown(namespace: dict[str, Any]) -> None:
    namespace['_session'].stop()
    import pwb_oauth_ext
    pwb_oauth_ext.disable()


_python = PythonEvaluator()
_parsers = [SkipParser(), CodeBlockParser('python', evaluate_python),
            CodeBlockParser('console', evaluate_console), FileParser()]
_root = Path(__file__).resolve().parent.parent

pytest_collect_file = (
    Sybil(parsers=_parsers, path=str(_root), patterns=['README.md'],
          setup=setup, teardown=teardown, name='readme')
    + Sybil(parsers=_parsers, path=str(_root / 'docs'), patterns=['*.md'],
            setup=setup, teardown=teardown, name='manual')
).pytest()
