"""The console's replay jobs kept in the call store (`replay_jobs`), so that a restart keeps
their history: who started what, its state and progress, and each call's result with its
turn-by-turn diff (as JSON; a replay's own events are not kept).

A job still queued or running when its console process stopped cannot finish any more: the
next console to open the store marks it `interrupted` (`interrupt_unfinished`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa

from ivr.qa.replay import CallView, Replayed, ReplayFailure, ReplayResult, Turn, TurnDiff
from ivr.store import schema
from ivr.web.accounts import aware

UNFINISHED = ("queued", "running")
KEPT_JOBS = 500  # finished jobs beyond this many are deleted, oldest first


@dataclasses.dataclass
class ReplayJob:
    """Calls to replay, and the results so far (in the order of `call_ids`). `state`:
    queued, running, done, or interrupted (its console stopped before it was done)."""

    id: str
    title: str
    call_ids: tuple[str, ...]
    started_by: str
    created_at: dt.datetime
    results: list[Replayed] = dataclasses.field(default_factory=list)
    current: str | None = None          # the call being replayed now
    elapsed_s: float = 0.0              # the job's wall time so far (once it runs)
    finished_at: dt.datetime | None = None
    state: str = "queued"

    @property
    def done(self) -> bool:
        """Nothing more will happen to this job (done or interrupted)."""
        return self.finished_at is not None


# ---- results as JSON --------------------------------------------------------------------------
def encode(result: Replayed) -> dict[str, Any]:
    """A call's replay result as plain JSON (its replay's events left out)."""
    if isinstance(result, ReplayFailure):
        return {"call_id": result.call_id, "error": result.error}
    data = dataclasses.asdict(dataclasses.replace(result, events=[]))
    del data["events"]
    return data


def decode(data: dict[str, Any]) -> Replayed:
    """`encode`'s JSON back as the result it was."""
    if "error" in data:
        return ReplayFailure(data["call_id"], data["error"])
    return ReplayResult(
        data["call_id"], data["dialplan"], data["call_time"], _view(data["original"]),
        _view(data["replayed"]),
        [TurnDiff(d["idx"], _turn(d["before"]), _turn(d["after"]), tuple(d["changed"]))
         for d in data["diffs"]],
        data["audio_s"], data["wall_s"])


def _turn(data: dict[str, Any] | None) -> Turn | None:
    return Turn(**data) if data is not None else None


def _view(data: dict[str, Any]) -> CallView:
    return CallView([Turn(**t) for t in data["turns"]], data["outcome"], data["end_reason"],
                    data["transfer"])


# ---- the table ----------------------------------------------------------------------------------
class ReplayHistory:
    """Replay jobs in a call store."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, job: ReplayJob) -> None:
        """A new job; finished jobs beyond `KEPT_JOBS` are deleted, oldest first."""
        table = schema.replay_jobs
        finished = (sa.select(table.c.id).where(table.c.state.not_in(UNFINISHED))
                    .order_by(table.c.created_at.desc()).offset(KEPT_JOBS))
        with self.engine.begin() as conn:
            conn.execute(table.insert().values(
                id=job.id, title=job.title, call_ids=list(job.call_ids),
                started_by=job.started_by, state=job.state, results=[],
                created_at=job.created_at))
            old = list(conn.scalars(finished))
            if old:
                conn.execute(table.delete().where(table.c.id.in_(old)))

    def save(self, job: ReplayJob) -> None:
        """The job's state, progress and results as they are now."""
        table = schema.replay_jobs
        with self.engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == job.id).values(
                state=job.state, current=job.current, elapsed_s=job.elapsed_s,
                results=[encode(r) for r in job.results], finished_at=job.finished_at))

    def interrupt_unfinished(self) -> int:
        """Mark the jobs that no console is running any more (queued or running when their
        console stopped) `interrupted`; how many there were."""
        table = schema.replay_jobs
        with self.engine.begin() as conn:
            return conn.execute(table.update().where(table.c.state.in_(UNFINISHED)).values(
                state="interrupted", current=None,
                finished_at=dt.datetime.now(dt.timezone.utc))).rowcount

    def get(self, job_id: str) -> ReplayJob | None:
        """The job `job_id`, if the store has it."""
        table = schema.replay_jobs
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.id == job_id)).mappings().first()
        return _job(row) if row else None

    def recent(self, limit: int = 100) -> list[ReplayJob]:
        """The newest jobs first."""
        table = schema.replay_jobs
        query = sa.select(table).order_by(table.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_job(row) for row in conn.execute(query).mappings()]


def _job(row: Any) -> ReplayJob:
    return ReplayJob(row["id"], row["title"], tuple(row["call_ids"]), row["started_by"],
                     aware(row["created_at"]), [decode(r) for r in row["results"]],
                     row["current"], row["elapsed_s"], aware(row["finished_at"]), row["state"])
