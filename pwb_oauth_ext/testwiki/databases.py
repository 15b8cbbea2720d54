"""Throw-away PostgreSQL and MariaDB servers on 127.0.0.1 for tests and benchmarks.

Each server gets its own data directory and socket directory in a fresh
temporary directory, a free TCP port on 127.0.0.1 and a random password; no
system service is touched. Both refuse to run as root, so as root they run
as ``nobody`` (the directory is handed to that user).
"""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

POSTGRES_BIN_DIRS = sorted(glob.glob('/usr/lib/postgresql/*/bin'), reverse=True)
MARIADB_SERVERS = ('mariadbd', 'mysqld')
SERVICE_USER = 'nobody'


class ServerUnavailable(Exception):
    """The server binaries are not installed here (the reason says which)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _as_service_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ['runuser', '-u', SERVICE_USER, '--', *argv]


def _hand_over(path: Path) -> None:
    if os.geteuid() == 0:
        import pwd
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'the database server exited ({proc.returncode}):\n'
                               + log.read_text(errors='replace')[-3000:])
        with socket.socket() as sock:
            if sock.connect_ex(('127.0.0.1', port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError('the database server did not start:\n'
                       + log.read_text(errors='replace')[-3000:])


class _Server:
    kind = ''
    user = ''

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix=f'pwb-oauth-{self.kind}-'))
        self.base.chmod(0o755)
        _hand_over(self.base)
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.proc: Optional[subprocess.Popen] = None
        self.log = self.base / 'server.log'
        self._count = 0

    def url(self, database: str, *, password: bool = True) -> str:
        secret = f':{self.password}' if password else ''
        return f'{self.kind}://{self.user}{secret}@127.0.0.1:{self.port}/{database}'

    def new_database(self, prefix: str = 'store') -> str:
        """A fresh empty database; its URL (password included)."""
        self._count += 1
        name = f'{prefix}{self._count}_{secrets.token_hex(3)}'
        self._create(name)
        return self.url(name)

    def _create(self, name: str) -> None:
        raise NotImplementedError

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        with self.log.open('ab') as log:
            self.proc = subprocess.Popen(_as_service_user(self._argv()), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        """Stop now (clients are disconnected), keeping the data for a restart."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT if self.kind == 'postgresql'
                      else signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PostgresServer(_Server):
    kind = 'postgresql'
    user = 'postgres'

    def __init__(self) -> None:
        bin_dir = next((d for d in POSTGRES_BIN_DIRS if os.path.exists(f'{d}/postgres')), None)
        if bin_dir is None:
            raise ServerUnavailable('PostgreSQL server binaries not installed'
                                    ' (/usr/lib/postgresql/*/bin/postgres)')
        self.bin = bin_dir
        super().__init__()
        self.data = self.base / 'data'
        password_file = self.base / 'pw'
        password_file.write_text(self.password)
        _hand_over(password_file)
        subprocess.run(_as_service_user(
            [f'{self.bin}/initdb', '-D', str(self.data), '-U', self.user, '--auth-local=trust',
             '--auth-host=scram-sha-256', f'--pwfile={password_file}', '-E', 'UTF8',
             '--no-sync']), check=True, capture_output=True)
        password_file.unlink()
        self.start()

    def _argv(self) -> list[str]:
        return [f'{self.bin}/postgres', '-D', str(self.data), '-k', str(self.base),
                '-h', '127.0.0.1', '-p', str(self.port), '-c', 'fsync=off',
                '-c', 'max_connections=300', '-c', 'synchronous_commit=off']

    def start(self) -> None:
        super().start()
        # The port opens before the server takes connections ("starting up").
        import psycopg
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(host='127.0.0.1', port=self.port, user=self.user,
                                password=self.password, dbname='postgres').close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _create(self, name: str) -> None:
        import psycopg
        with psycopg.connect(host='127.0.0.1', port=self.port, user=self.user,
                             password=self.password, dbname='postgres',
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE {name}')


class MariaDBServer(_Server):
    kind = 'mysql'
    user = 'bot'

    def __init__(self) -> None:
        server = next((shutil.which(name) or shutil.which(f'/usr/sbin/{name}')
                       for name in MARIADB_SERVERS
                       if shutil.which(name) or shutil.which(f'/usr/sbin/{name}')), None)
        install = shutil.which('mariadb-install-db') or shutil.which('mysql_install_db')
        if server is None or install is None:
            raise ServerUnavailable('MariaDB server binaries not installed (mariadbd and'
                                    ' mariadb-install-db)')
        self.server = server
        super().__init__()
        self.data = self.base / 'data'
        self.socket = self.base / 'mysqld.sock'
        subprocess.run([install, '--no-defaults', f'--datadir={self.data}', *self._user(),
                        '--auth-root-authentication-method=normal', '--skip-test-db'],
                       check=True, capture_output=True)
        self.start()
        self._admin(f"CREATE USER '{self.user}'@'127.0.0.1' IDENTIFIED BY '{self.password}'",
                    f"GRANT ALL PRIVILEGES ON *.* TO '{self.user}'@'127.0.0.1'")

    def _argv(self) -> list[str]:
        return [self.server, '--no-defaults', f'--datadir={self.data}',
                f'--socket={self.socket}', f'--port={self.port}', '--bind-address=127.0.0.1',
                *self._user(), f'--pid-file={self.base / "mysqld.pid"}',
                '--skip-log-bin', '--innodb-buffer-pool-size=32M',
                '--innodb-flush-log-at-trx-commit=0', '--max-connections=300',
                '--skip-name-resolve']

    @staticmethod
    def _user() -> list[str]:
        return [f'--user={SERVICE_USER}'] if os.geteuid() == 0 else []

    def start(self) -> None:
        # mariadbd drops to --user itself; it is started as root.
        with self.log.open('ab') as log:
            self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        _wait_for_port(self.port, self.proc, self.log)

    def _admin(self, *statements: str) -> None:
        import getpass

        import pymysql
        # The installer made root (as root) or the installing user an account without password.
        user = 'root' if os.geteuid() == 0 else getpass.getuser()
        conn = pymysql.connect(unix_socket=str(self.socket), user=user, autocommit=True)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()

    def _create(self, name: str) -> None:
        self._admin(f'CREATE DATABASE {name}')
