"""A throw-away PostgreSQL server for tests and benchmarks: its own cluster in a temp folder,
listening on a Unix socket only, stopped (by its process id) and deleted afterwards.

Uses the server binaries of the Debian `postgresql` package (setup.sh installs it). PostgreSQL
refuses to run as root, so as root the cluster belongs to the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from ivr.errors import IvrError

PORT = 5432  # names the socket file only: the socket folder is private to this server


def server_bin() -> Path:
    """The folder with initdb and postgres (the newest installed major version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise IvrError("PostgreSQL server binaries (initdb, postgres) not found: install the "
                   "Debian package postgresql (./setup.sh does)")


class TempPostgres:
    """`with TempPostgres() as pg: url = pg.new_database()`."""

    def __init__(self, fsync: bool = False) -> None:
        self.fsync = fsync  # off for tests (speed); on to measure real commit latency
        self.root: Path | None = None
        self.process: subprocess.Popen | None = None
        self._user: str | None = None

    def __enter__(self) -> "TempPostgres":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        bindir = server_bin()
        self.root = Path(tempfile.mkdtemp(prefix="ivr-pg-"))
        if os.geteuid() == 0:
            self._user = "postgres"
            account = pwd.getpwnam(self._user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        data = self.root / "data"
        self._run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                   "-E", "UTF8", "--no-sync"])
        log = open(self.root / "server.log", "wb")
        self.process = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(data), "-k", str(self.root), "-p", str(PORT),
             "-c", "listen_addresses=", "-c", f"fsync={'on' if self.fsync else 'off'}",
             "-c", "max_connections=50"],
            stdout=log, stderr=subprocess.STDOUT, user=self._user, start_new_session=True)
        log.close()
        self._wait_ready()

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(command, capture_output=True, text=True, user=self._user)
        if result.returncode != 0:
            raise IvrError(f"{Path(command[0]).name} failed ({result.returncode}): "
                           f"{result.stderr.strip()[-1500:]}")

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise IvrError(f"the temporary PostgreSQL server exited: {self.log()[-1500:]}")
            try:
                psycopg.connect(self._dsn("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise IvrError(f"the temporary PostgreSQL server did not start in "
                                   f"{timeout_s:.0f} s: {self.log()[-1500:]}") from None
                time.sleep(0.1)

    def _dsn(self, database: str) -> str:
        return f"host={self.root} port={PORT} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of `database` on this server."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={PORT}"

    def new_database(self) -> str:
        """Create an empty database; its URL."""
        import psycopg

        name = f"ivr_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self._dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.root / "server.log" if self.root else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the server's own process), then delete the cluster."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
