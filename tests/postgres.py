"""A throwaway PostgreSQL server for the tests that need a real database server.

Debian's package gives `initdb` and `pg_ctl`; the cluster lives in a temporary folder, listens
on 127.0.0.1 at a free port (and a socket in that folder only), and is stopped and removed when
the test session ends. PostgreSQL refuses to run as root, so under root (CI containers) the
cluster belongs to the `postgres` account the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    folder: Path

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        """A SQLAlchemy URL (trust authentication on 127.0.0.1: no password)."""
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        command = [_binary("psql"), "-h", self.host, "-p", str(self.port), "-U", self.user]
        command += ["-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()


def _binary(name: str) -> str:
    """`name` from PATH, else from Debian's versioned folder (/usr/lib/postgresql/N/bin)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise FileNotFoundError(name)
    return candidates[-1]


def available() -> str | None:
    """None when a server can be started here, else why not (for a skip message)."""
    try:
        _binary("initdb")
        _binary("pg_ctl")
        _binary("psql")
    except FileNotFoundError as missing:
        return f"PostgreSQL's {missing} is not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres account to own the cluster"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start() -> Generator[PostgresServer, None, None]:
    """Start a cluster; yields once it accepts connections, stops it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="perfgate-pg-"))
    data = folder / "data"
    user = "perfgate"
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
    os.chmod(folder, 0o755)
    port = _free_port()
    try:
        initdb = [_binary("initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8"]
        subprocess.run(
            _as_owner(initdb),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        subprocess.run(
            _as_owner(
                [_binary("pg_ctl"), "-D", str(data), "-l", str(folder / "server.log")]
                + ["-o", options, "-w", "-t", "60", "start"]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        server = PostgresServer("127.0.0.1", port, user, folder)
        _wait_until_ready(server)
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_owner([_binary("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ready(server: PostgresServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.psql("SELECT 1")
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
