"""Run real Pywikibot against a running test wiki, in a subprocess.

A subprocess because Pywikibot reads its configuration once per process
(PYWIKIBOT_DIR, user-config.py) and caches sites; each test gets a clean one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pwb_oauth_ext.testwiki.server import RunningWiki

FAMILY = 'testwiki'


def write_pywikibot_dir(path: str | os.PathLike[str], wiki: RunningWiki, *,
                        username: str | None,
                        authenticate_lines: Sequence[str],
                        extra_lines: Sequence[str] = ()) -> Path:
    """Create ``path`` with a user-config.py for the family 'testwiki' at ``wiki``.

    ``authenticate_lines`` are written verbatim (e.g. ``authenticate['127.0.0.1:PORT'] =
    (...)``). The file is made readable by its owner only: Pywikibot skips a
    user-config.py that others can write, and it may hold secrets.
    """
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        '# Generated for the local test wiki.',
        f"family_files['{FAMILY}'] = '{wiki.api_url}'",
        f"family = '{FAMILY}'",
        f"mylang = '{FAMILY}'",
        'password_file = None',
        "console_encoding = 'utf-8'",
        'put_throttle = 0',
        'max_retries = 1',
        'retry_wait = 1',
        'socket_timeout = 30',
    ]
    if username is not None:
        lines.append(f"usernames['{FAMILY}']['{FAMILY}'] = '{username}'")
    lines += list(authenticate_lines) + list(extra_lines)
    config = directory / 'user-config.py'
    config.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    config.chmod(0o600)
    directory.chmod(0o700)
    return directory


def pywikibot_environment(pywikibot_dir: str | os.PathLike[str]) -> dict[str, str]:
    """The environment for a Pywikibot child: its own PYWIKIBOT_DIR, no proxies."""
    env = {key: value for key, value in os.environ.items()
           if not key.lower().endswith('_proxy')
           and key not in ('PYWIKIBOT_NO_USER_CONFIG', 'PYWIKIBOT_DIR_PWB')}
    env['PYWIKIBOT_DIR'] = str(pywikibot_dir)
    env['NO_PROXY'] = env['no_proxy'] = '127.0.0.1,localhost'
    env['PYTHONIOENCODING'] = 'utf-8'
    # The child imports pwb_oauth_ext from this checkout, as the tests do.
    package_root = str(Path(__file__).resolve().parents[2])
    env['PYTHONPATH'] = os.pathsep.join(
        [package_root] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    return env


def run_pywikibot(code_or_args: str | Sequence[str], pywikibot_dir: str | os.PathLike[str], *,
                  python: str = sys.executable,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` (a str) or ``python *args`` (a list) with that PYWIKIBOT_DIR.

    The working directory is the Pywikibot dir, so nothing is written elsewhere.
    """
    if isinstance(code_or_args, str):
        argv = [python, '-c', code_or_args]
    else:
        argv = [python, *code_or_args]
    return subprocess.run(argv, cwd=str(pywikibot_dir), env=pywikibot_environment(pywikibot_dir),
                          capture_output=True, text=True, encoding='utf-8', errors='replace',
                          timeout=timeout, check=False)
