"""The store's writer thread: call events in, committed rows out, off the worker's media loop.

A SIP worker has one `StoreWriter`. Each call's `EventLog` gets a `CallListener` (from
`StoreWriter.listener`) whose only work on the emitting thread is a queue put. The writer
thread takes whatever is queued (one event, or all that piled up while it wrote), turns it
into rows (`ivr.store.rows`) and commits them in one transaction right away: an event is on
disk a few ms after it was emitted, so a crash (kill -9 included) loses at most the last few
ms. A failing database never stops a call: the error is logged, the call's JSONL event log
keeps the record, and the writer goes on with the next events.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import sqlalchemy as sa

from ivr.events import Event
from ivr.qa.rubric import Rubric
from ivr.qa.scores import score_at_end, score_call
from ivr.store.raw_rows import RawRows
from ivr.store.rows import CallRows, Write
from ivr.store.store import CallStore, display_url

log = logging.getLogger("ivr.store")

MAX_BATCH = 500          # events per transaction at most (a backlog is worked off in chunks)
LATENCY_SAMPLES = 100_000


@dataclass(frozen=True)
class _Open:
    rows: CallRows


@dataclass(frozen=True)
class _Close:
    pass


@dataclass(frozen=True)
class _RawOpen:
    rows: RawRows


@dataclass(frozen=True)
class _Raw:
    event: Event


_Item = tuple[str, "Event | _Open | _Close | _RawOpen | _Raw | None", float]


class CallListener:
    """An `EventLog` listener for one call: `log.subscribe(listener)`; `close()` once the
    call's last event was emitted (the writer forgets the call then)."""

    def __init__(self, put: Callable[[_Item], None], call_id: str) -> None:
        self._put = put
        self.call_id = call_id

    def __call__(self, event: Event) -> None:
        self._put((self.call_id, event, time.monotonic()))

    def close(self) -> None:
        self._put((self.call_id, _Close(), time.monotonic()))

    def keep_raw(self, roles: list[str]) -> Callable[[Event], None]:
        """Start the call's raw copy (for console `roles`) and return its listener for the
        events as said: `log.subscribe_raw(listener.keep_raw(roles))`."""
        self._put((self.call_id, _RawOpen(RawRows(self.call_id, roles)), time.monotonic()))
        return lambda event: self._put((self.call_id, _Raw(event), time.monotonic()))


class StoreWriter:
    """Writes the events of every call of this process to `store` on one daemon thread."""

    def __init__(self, store: CallStore, worker: str, rubric: Rubric | None = None) -> None:
        """`rubric`: what every finished call is scored with (None: the default rubric)."""
        self.store = store
        self.worker = worker
        self.rubric = rubric
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._calls: dict[str, CallRows] = {}
        self._raw: dict[str, RawRows] = {}
        self._idle = threading.Condition()
        self._pending = 0
        self.latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_SAMPLES)
        self.failed_batches = 0
        self._thread = threading.Thread(target=self._run, name=f"ivr-store-{worker}",
                                        daemon=True)
        self._thread.start()

    def listener(self, call_id: str, events_path: str | None = None) -> CallListener:
        """Start a call's record (its row is written now) and return its event listener.
        When the call ends, its QA scores (this writer's rubric) are written with it."""
        rows = CallRows(call_id, self.worker, events_path, time.time() - time.monotonic(),
                        scorer=self._score)
        self._enqueue((call_id, _Open(rows), time.monotonic()))
        return CallListener(self._enqueue, call_id)

    def _score(self, events: list[Event]) -> dict[str, Any]:
        """A finished call's scores with this writer's rubric, as `calls.qa_scores` keeps them."""
        if self.rubric is None:
            return score_at_end(events)
        return score_call(events, self.rubric).as_json()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed (or failed); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the thread and close the store."""
        self._enqueue(("", None, time.monotonic()))
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("call store writer: %d events still unwritten after %.0f s; their calls' "
                      "JSONL event logs have them", self._pending, timeout)
        self.store.close()

    def _enqueue(self, item: _Item) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(item)

    # ---- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            writes: list[list[Write]] = []
            for call_id, item, queued in batch:
                if item is None:
                    stopping = True
                else:
                    writes.append(self._rows_for(call_id, item, queued))
            self._commit(writes, batch)

    def _rows_for(self, call_id: str, item: Event | _Open | _Close | _RawOpen | _Raw,
                  queued: float) -> list[Write]:
        if isinstance(item, _Open):
            self._calls[call_id] = item.rows
            return item.rows.open(queued)
        if isinstance(item, _Close):
            self._calls.pop(call_id, None)
            self._raw.pop(call_id, None)
            return []
        if isinstance(item, _RawOpen):
            self._raw[call_id] = item.rows
            return item.rows.open()
        if isinstance(item, _Raw):
            raw = self._raw.get(call_id)
            return raw.on_event(item.event) if raw is not None else []
        rows = self._calls.get(call_id)
        return rows.on_event(item) if rows is not None else []

    def _commit(self, writes: list[list[Write]], batch: list[_Item]) -> None:
        """One transaction for the batch; if it fails, each event on its own, so that a bad
        write loses only its own rows."""
        try:
            self.store.write(w for item_writes in writes for w in item_writes)
            failed = 0
        except sa.exc.SQLAlchemyError:
            failed, error = 0, ""
            for item_writes in writes:
                try:
                    self.store.write(item_writes)
                except sa.exc.SQLAlchemyError as exc:
                    failed += 1
                    error = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            if failed:
                self.failed_batches += 1
                log.error("call store %s: %d of %d events not written (%s); the calls go on "
                          "and their JSONL event logs keep the record",
                          display_url(self.store.url), failed, len(writes), error)
        if not failed:
            done = time.monotonic()
            self.latencies.extend(done - queued for _c, item, queued in batch
                                  if isinstance(item, Event))
        with self._idle:
            self._pending -= len(batch)
            self._idle.notify_all()
