"""SIP worker processes as `ivr serve` runs them: start, wait until ready, watch, restart, stop."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from ivr import metrics
from ivr.errors import IvrError
from ivr.service_process import die_with_parent
from ivr.sip.worker import READY, WorkerSettings

log = logging.getLogger("ivr.serve")


class WorkerProcess:
    """`python -m ivr.sip.worker` in its own session (Ctrl-C reaches only `ivr serve`, which
    stops workers in order). Its stderr (the call log) is inherited; stdout is read for the
    ready line and otherwise passed through."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self.restarts = 0

    @property
    def name(self) -> str:
        return self.settings.name

    def start(self) -> None:
        self._ready.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr.sip.worker", "--config", self.settings.model_dump_json()],
            stdout=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=die_with_parent,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read_stdout, args=(self.process,), daemon=True,
                         name=f"{self.name}-stdout").start()

    def _read_stdout(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(READY):
                self._ready.set()
            elif line.strip() and not _pjlib_banner(line):
                sys.stdout.write(f"{self.name}| {line}")
                sys.stdout.flush()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._ready.wait(0.1):
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process else None
                raise IvrError(f"SIP worker {self.name} exited with {code} while starting "
                               "(its error is printed above)")
            if time.monotonic() > deadline:
                raise IvrError(f"SIP worker {self.name} not ready after {timeout_s:.0f} s")

    @property
    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM: the worker hangs up its calls and finishes every record, then exits."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("worker %s did not stop in %.0f s: killing it", self.name, timeout_s)
                self.process.kill()
                self.process.wait()
        self.process = None


class WorkerPool:
    """Several workers; a context manager that starts them all and stops them all."""

    def __init__(self, settings: list[WorkerSettings]) -> None:
        self.workers = [WorkerProcess(s) for s in settings]
        for worker in self.workers:  # 0 from the start, so a rate over it works
            metrics.WORKER_RESTARTS.labels(worker.name)

    def start(self) -> "WorkerPool":
        for worker in self.workers:
            worker.start()
        try:
            for worker in self.workers:
                worker.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def watch(self) -> None:
        """Restart a worker that died (its calls are lost; new calls go to it again)."""
        for worker in self.workers:
            code = worker.exit_code
            if code is not None:
                metrics.process_dead(worker.process.pid)
                worker.restarts += 1
                metrics.WORKER_RESTARTS.labels(worker.name).inc()
                log.error("SIP worker %s exited with %s: restarting it (restart #%d)",
                          worker.name, code, worker.restarts)
                worker.start()

    def stop(self) -> None:
        for worker in self.workers:  # signal all first, so they wind down in parallel
            if worker.process is not None and worker.process.poll() is None:
                worker.process.terminate()
        for worker in self.workers:
            worker.stop()

    def __enter__(self) -> "WorkerPool":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pjlib_banner(line: str) -> bool:
    """pjlib prints a few start-up lines on stdout before its log config applies."""
    return line[:2].isdigit() and line[2:3] == ":" and ".c " in line[:40] or "pjlib" in line[:40]
