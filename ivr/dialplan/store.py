"""Hot reload: the live plan follows edits to its file; a broken edit never replaces it.

Each new call takes `current()` once and keeps that plan to its end, so an edit changes only
calls that start after it. The plan's hash goes into every call record.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

from ivr.dialplan.loader import LoadedPlan, load_dialplan
from ivr.errors import DialplanError

log = logging.getLogger("ivr.dialplan")


class PlanStore:
    """Holds the last good plan of one file and reloads it when the file (or its knowledge file,
    or a document) changes. `poll()` is cheap (a few stat calls); `watch()` polls on a daemon
    thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._plan = load_dialplan(path)  # a broken plan at start-up is an error, not a fallback
        self._stamp = self._stat()
        self.last_error: str | None = None

    def current(self) -> LoadedPlan:
        with self._lock:
            return self._plan

    def poll(self, on_reload: Callable[[LoadedPlan], None] | None = None) -> bool:
        """Reload if the files changed; True if a new plan went live. `on_reload` runs with the
        new plan before it goes live (e.g. to build its knowledge index)."""
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            plan = load_dialplan(self.path)
        except DialplanError as exc:
            self.last_error = str(exc)
            log.error("dialplan %s rejected, keeping the running plan (%s):\n%s", self.path,
                      self.current().sha256[:12], exc)
            return False
        self.last_error = None
        if plan.sha256 == self.current().sha256:
            return False
        if on_reload is not None:
            on_reload(plan)
        with self._lock:
            self._plan = plan
        log.info("dialplan %s reloaded: now %s for new calls", self.path, plan.sha256[:12])
        for note in plan.warnings:
            log.warning("%s", note)
        return True

    def watch(self, interval_s: float = 1.0,
              on_reload: Callable[[LoadedPlan], None] | None = None) -> threading.Event:
        """Poll every `interval_s` on a daemon thread until the returned event is set."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_s):
                try:
                    self.poll(on_reload)
                except Exception:  # noqa: BLE001 - the watcher must outlive any one bad reload
                    log.exception("dialplan reload of %s failed; keeping the running plan",
                                  self.path)

        threading.Thread(target=loop, name="dialplan-watch", daemon=True).start()
        return stop

    def _stat(self) -> tuple:
        loaded = self.current()
        files = [self.path]
        kb = loaded.plan.knowledge_file
        if kb:
            files.append(self.path.parent / kb)
        if loaded.plan.documents is not None:  # a folder's own stamp changes as files come and go
            files += [self.path.parent / f for f in loaded.plan.documents.folders]
            files += loaded.documents
        return tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None
                     for f in files)
