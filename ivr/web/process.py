"""The console as a process of its own, as `ivr serve` starts it beside the SIP workers."""

from __future__ import annotations

import sys
from pathlib import Path

from ivr.service_process import ServiceProcess, http_ok
from ivr.store.store import CallStore
from ivr.web.accounts import Accounts

CONSOLE_HOST = "127.0.0.1"  # Secure cookies need HTTPS elsewhere: run `ivr console` for that


class ConsoleProcess(ServiceProcess):
    """`ivr console` on 127.0.0.1:`port`, on the hotline's store, recordings and plan folder."""

    def __init__(self, port: int, store_url: str, recordings: Path, dialplans: Path,
                 log_path: Path | None = None) -> None:
        super().__init__("console", log_path)
        self.port = port
        self.store_url = store_url
        self.recordings = recordings
        self.dialplans = dialplans

    @property
    def url(self) -> str:
        return f"http://{CONSOLE_HOST}:{self.port}/"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "ivr.cli.main", "console", "--store", self.store_url,
                "--recordings", str(self.recordings), "--dialplans", str(self.dialplans),
                "--host", CONSOLE_HOST, "--port", str(self.port)]

    def ready(self) -> bool:
        return http_ok(self.url + "login")()

    def users(self) -> int:
        """How many console users the store has (0: the banner says how to add one)."""
        store = CallStore.open(self.store_url, migrate=False)
        try:
            return Accounts(store.engine).count()
        finally:
            store.close()
