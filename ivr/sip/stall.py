"""A worker whose event loop stops turning is worse than a dead one: it holds its call slots,
its callers hear silence, and its supervisor sees a live process. This guard, on its own
thread, notices: after `dump_after_s` without a heartbeat it writes every thread's stack to the
log (what the loop is stuck in), and after `exit_after_s` it ends the process so that `ivr serve`
starts a fresh worker. Call records need nothing from it: each event is on disk when written.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
import time
from typing import Callable

log = logging.getLogger("ivr.sip")

STALLED_EXIT_CODE = 70   # EX_SOFTWARE: the pool logs it and restarts the worker


class LoopStallGuard:
    """Watches a heartbeat that the worker's loop gives every poll (`beat`)."""

    def __init__(self, name: str, dump_after_s: float = 5.0, exit_after_s: float = 30.0,
                 exit: Callable[[int], None] = os._exit) -> None:
        self.name = name
        self.dump_after_s = dump_after_s
        self.exit_after_s = exit_after_s
        self._exit = exit
        self._beat = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-stall-guard", daemon=True)

    def start(self) -> "LoopStallGuard":
        self._beat = time.monotonic()
        self._thread.start()
        return self

    def beat(self) -> None:
        self._beat = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        dumped_for = None
        while not self._stop.wait(min(1.0, self.dump_after_s / 2)):
            beat = self._beat
            stalled = time.monotonic() - beat
            if stalled >= self.exit_after_s:
                log.critical("worker %s: event loop stalled %.0f s: exiting so that it is "
                             "restarted", self.name, stalled)
                self._exit(STALLED_EXIT_CODE)
                return
            if stalled >= self.dump_after_s and dumped_for != beat:
                dumped_for = beat
                log.error("worker %s: event loop stalled %.1f s; every thread's stack follows",
                          self.name, stalled)
                for handler in logging.getLogger().handlers:
                    handler.flush()
                faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
