"""A store full of varied synthetic calls for the console's benchmark and tests: the
synthetic call of `ivr.store.synthetic` (its events turned into rows by the same code a SIP
worker uses) on several hotlines, with different endings, transfer reasons, survey answers
and start times spread over the days before `now`, scored as the store's writer scores them."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa

from ivr.events import Event
from ivr.qa.scores import score_at_end
from ivr.store.rows import CallRows, Write
from ivr.store.store import CallStore
from ivr.store.synthetic import call_events, timed

HOTLINES = ("/plans/acme-mobile.yaml", "/plans/mobile-carrier.yaml",
            "/plans/clinic-appointments.yaml")
TRANSFER_REASONS = ("caller_asked_for_human", "caller_angry", "unresolved")
SURVEY_ANSWERS = ("1", "2", "3", "4", "5")
ENDINGS = (("caller_hangup", 0.55), ("transferred", 0.43), ("open", 0.02))


def call_writes(call_id: str, rng: random.Random, started: dt.datetime,
                recording: Path | None = None) -> list[Write]:
    """The rows of one varied synthetic call that started at `started` (UTC)."""
    end = rng.choices([e for e, _ in ENDINGS], [w for _, w in ENDINGS])[0]
    hotline = rng.choice(HOTLINES)
    reason = rng.choice(TRANSFER_REASONS)
    survey = rng.choice(SURVEY_ANSWERS) if end == "caller_hangup" and rng.random() < 0.6 else None
    rows = CallRows(call_id, rng.choice(("w1", "w2")), f"/recordings/{call_id}.jsonl",
                    wall_offset=started.timestamp(), scorer=score_at_end)
    writes = rows.open(0.0)
    for t, kind, data in _varied(timed(call_events(call_id, rng.randint(1, 3), end)),
                                 hotline, reason, survey, recording):
        writes += rows.on_event(Event(t, kind, data, wall=t))
    return writes


def _varied(events: Iterator[tuple[float, str, dict[str, Any]]], hotline: str, reason: str,
            survey: str | None, recording: Path | None
            ) -> Iterator[tuple[float, str, dict[str, Any]]]:
    for t, kind, data in events:
        if kind == "call.start":
            data = {**data, "dialplan": hotline}
        elif kind == "sip.media" and recording is not None:
            data = {**data, "recording": str(recording)}
        elif kind in ("transfer.request",) or (kind == "dialog.decision"
                                               and data.get("reason") == "caller_asked_for_human"):
            data = {**data, "reason": reason}
        elif kind == "call.end" and survey is not None:
            yield t, "slot", {"name": "survey", "value": survey}
        yield t, kind, data


def fill(store: CallStore, calls: int, now: dt.datetime | None = None, days: float = 30.0,
         seed: int = 7, recording: Path | None = None, batch: int = 500) -> list[str]:
    """Write `calls` synthetic calls started over the `days` before `now`; their ids. Each
    call's inserts and updates are folded into its final rows first, then inserted in bulk
    (the same rows a worker leaves, without its thousands of small updates)."""
    rng = random.Random(seed)
    now = now or dt.datetime.now(dt.timezone.utc)
    ids: list[str] = []
    rows: dict[tuple[sa.Table, tuple], dict[str, Any]] = {}
    for i in range(calls):
        call_id = f"synthetic-{seed}-{i:06d}"
        started = now - dt.timedelta(seconds=rng.uniform(60, days * 86400))
        _fold(rows, call_writes(call_id, rng, started, recording))
        ids.append(call_id)
        if (i + 1) % batch == 0 or i + 1 == calls:
            _insert(store.engine, rows)
            rows = {}
    return ids


def _fold(rows: dict[tuple[sa.Table, tuple], dict[str, Any]], writes: list[Write]) -> None:
    for w in writes:
        names = [c.name for c in w.table.primary_key]
        if w.key is None:
            rows[(w.table, tuple(w.values[n] for n in names))] = dict(w.values)
        else:
            rows[(w.table, tuple(w.key[n] for n in names))].update(w.values)


def _insert(engine: sa.Engine, rows: dict[tuple[sa.Table, tuple], dict[str, Any]]) -> None:
    """Insert folded rows, parents first, in executemany groups of the same columns."""
    groups: dict[tuple[sa.Table, frozenset[str]], list[dict[str, Any]]] = {}
    for (table, _), values in rows.items():
        groups.setdefault((table, frozenset(values)), []).append(values)
    order = {name: i for i, name in enumerate(("calls", "turns", "events"))}
    with engine.begin() as conn:
        for (table, _), values in sorted(groups.items(), key=lambda g: order[g[0][0].name]):
            conn.execute(table.insert(), values)
