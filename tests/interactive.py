"""A command in a subprocess, as a person at a terminal sees it: line by line.

Shared by the tests of ``pwb-oauth authorize`` (which waits for a pasted answer) and
``pwb-oauth testwiki`` (which serves until Ctrl-C).
"""
from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest


class Interactive:
    """``argv`` running with its stdout read line by line; stderr apart unless merged."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], *,
                 merge_stderr: bool = False) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=str(cwd), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True, encoding='utf-8')
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip('\n'))
        self.lines.put(None)

    def expect(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first output line matching ``pattern`` (fails with the output so far)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.proc.kill()
                stderr = f'; stderr: {self.stderr()[-2000:]}' if self.proc.stderr else ''
                pytest.fail(f'no line matching {pattern!r}; output: {self.seen}{stderr}')
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def answer(self, text: str) -> None:
        """Type a line at the command's prompt."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + '\n')
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Exit status and the whole stdout."""
        status = self.proc.wait(timeout=timeout)
        while (line := self.lines.get(timeout=10)) is not None:
            self.seen.append(line)
        return status, '\n'.join(self.seen)

    def stop(self, how: int = signal.SIGINT) -> tuple[int, str]:
        """Send ``how`` (Ctrl-C by default); exit status and the whole output."""
        self.proc.send_signal(how)
        return self.finish(timeout=30)

    def stderr(self) -> str:
        """The whole stderr, once the command has ended (killed after 10 s)."""
        assert self.proc.stderr is not None
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return self.proc.stderr.read()
