"""A helper process `ivr` starts, waits for and stops: the LLM server, the model service, kamailio.

One place owns the life cycle so each service only says how to start it and how to tell it is
ready; errors name the service, its exit status, the last line it logged and the log file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import httpx

from ivr.errors import IvrError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: GET `url` answers 200."""
    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0, trust_env=False).status_code == 200
        except httpx.TransportError:
            return False
    return check


def die_with_parent() -> None:
    """In the child before exec: SIGTERM it if `ivr` dies without stopping it (Linux), so a
    killed `ivr serve` leaves no orphaned model service, LLM server or kamailio behind."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except OSError:
        pass


def temp_log(prefix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f"ivr-{prefix}-", suffix=".log")
    os.close(fd)
    return Path(name)


class ServiceProcess:
    """Start `command`, wait until `ready()` is true, stop it on exit. Use as a context manager."""

    def __init__(self, name: str, log_path: Path | None = None) -> None:
        self.name = name
        self.log_path = log_path or temp_log(name.replace(" ", "-"))
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, ready_timeout_s: float = 120.0) -> "ServiceProcess":
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "HF_HUB_OFFLINE": "1"}, start_new_session=True,
                preexec_fn=die_with_parent)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise IvrError(f"{self.name} exited with {code} while starting"
                               f"{_last_line(self.log_path)} (see {self.log_path})")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise IvrError(f"{self.name} not ready after {ready_timeout_s:.0f} s (see {self.log_path})")

    def stop(self) -> None:
        """Terminate (kill if it does not exit within 10 s)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if ln.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()[:300]}" if lines else ""
