"""Timestamped call events: the single record of what happened in a call.

The session emits events; the call log, latency figures, QA replay and the dashboard read them.
`t` is the driver's clock (real or simulated call time, seconds from call start); `wall` is the
host's monotonic clock, so stage latencies are real even when the call runs in simulated time.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol


class Clock(Protocol):
    """Call time in seconds since the call started; the driver owns it."""

    def now(self) -> float: ...


class MonotonicClock:
    """Real time, for live calls."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start


class ManualClock:
    """Simulated time advanced by the driver (offline talk, QA replay)."""

    def __init__(self) -> None:
        self._t = 0.0

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds


@dataclass(frozen=True)
class Event:
    """One thing that happened: `kind` names it (e.g. "asr.final"), `data` holds its details."""

    t: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    wall: float = field(default_factory=time.monotonic)

    def to_json(self) -> str:
        return json.dumps({"t": round(self.t, 3), "kind": self.kind, **self.data,
                           "wall": round(self.wall, 4)}, ensure_ascii=False)


class EventLog:
    """Collects a call's events in memory and, if given a path, appends each as a JSON line.

    Every line is flushed and fsynced as it is written so a crash keeps the record up to it.
    If the disk fills up (or the file cannot be written), the call goes on: the error is logged
    once, `write_error` says what happened, and events stay in memory. Listeners (the CLI printer,
    the SIP worker, tests) are called for each event.
    """

    def __init__(self, clock: Clock, path: Path | None = None, fsync: bool = True) -> None:
        self.clock = clock
        self.events: list[Event] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._fsync = fsync
        self.path = path
        self.write_error: str | None = None
        self._file = open(path, "a", encoding="utf-8") if path else None

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        self._listeners.append(listener)

    def emit(self, kind: str, **data: Any) -> Event:
        event = Event(self.clock.now(), kind, data)
        with self._lock:
            self.events.append(event)
            if self._file and self.write_error is None:
                self._write(event)
        for listener in self._listeners:
            listener(event)
        return event

    def _write(self, event: Event) -> None:
        assert self._file is not None
        try:
            self._file.write(event.to_json() + "\n")
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            self.write_error = f"{self.path}: {exc.strerror or exc}"
            logging.getLogger("ivr.events").error(
                "cannot write the call record (%s); the call goes on, events kept in memory",
                self.write_error)

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def close(self) -> None:
        if self._file:
            try:
                self._file.close()
            except OSError:
                pass  # already reported by _write
            self._file = None
