"""The call store: every call, its turns and its events, in SQLite (default) or PostgreSQL.

`CallStore.open(url)` connects and brings the schema to the code's version (Alembic); the SIP
worker writes through `ivr.store.writer.StoreWriter`, readers (`ivr calls`, QA, the console)
use the query methods here.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa

from ivr.errors import IvrError
from ivr.store import schema
from ivr.store.raw_copy import delete_raw_file
from ivr.store.rows import Write

log = logging.getLogger("ivr.store")

SQLITE_BUSY_TIMEOUT_S = 30  # several worker processes share one SQLite file: wait for the lock
# FULL: each commit is on disk before the writer goes on, so a committed event also survives a
# power cut, as PostgreSQL's default does. NORMAL would survive only a process crash. The
# fsync runs on the store's writer thread, never on the worker's media loop; the p95 write
# latency stays a few ms (see `python -m ivr.store.bench`).
SQLITE_SYNCHRONOUS = "FULL"


class StoreError(IvrError):
    """The call store cannot be opened or used; the message says what to do."""


def default_url(recordings: Path) -> str:
    """The default store: SQLite file `calls.db` in the recordings folder."""
    return f"sqlite:///{(recordings / 'calls.db').resolve()}"


def normalize_url(url: str) -> str:
    """SQLAlchemy URL for what a user may type: a file path means SQLite, `postgresql://`
    (or `postgres://`) means PostgreSQL through psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def display_url(url: str) -> str:
    """The URL without its password, for logs and banners."""
    return sa.make_url(normalize_url(url)).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str) -> sa.Engine:
    """An engine for `url` with the store's connection settings (WAL etc. for SQLite)."""
    try:
        parsed = sa.make_url(normalize_url(url))
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"call store URL {url!r}: {exc}; give a file path, sqlite:///PATH or "
                         "postgresql://USER:PASSWORD@HOST/DB") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(f"call store URL {display_url(url)}: only SQLite and PostgreSQL are "
                         "supported")
    return sa.create_engine(parsed, pool_pre_ping=True)


class CallStore:
    """A connected, migrated call store."""

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> "CallStore":
        """Connect to `url` and upgrade its schema to this code's head revision (readers
        pass `migrate=False`: they only check that the schema is this code's)."""
        from ivr.store.migrate import upgrade

        engine = create_engine(url)
        try:
            upgrade(engine, display_url(url), migrate)
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise StoreError(f"cannot open the call store {display_url(url)}: "
                             f"{str(exc.orig).strip().splitlines()[0]}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url)

    def close(self) -> None:
        self.engine.dispose()

    # ---- writing ----------------------------------------------------------------------------
    def write(self, writes: Iterable[Write]) -> None:
        """Apply the writes in one transaction, in order, and commit."""
        with self.engine.begin() as conn:
            for w in writes:
                if w.key is None:
                    conn.execute(w.table.insert().values(w.values))
                else:
                    where = sa.and_(*(w.table.c[k] == v for k, v in w.key.items()))
                    conn.execute(w.table.update().where(where).values(w.values))

    def mark_unfinished(self, worker: str) -> list[str]:
        """Calls of `worker` that never ended (it died mid-call) become `failed`
        (`worker_died`), ending at their last recorded event. Run when a worker starts, before
        it takes calls. Returns their call ids."""
        calls, events = schema.calls, schema.events
        open_calls = sa.and_(calls.c.worker == worker, calls.c.outcome.is_(None))
        last = sa.select(sa.func.max(events.c.at)).where(events.c.call_id == calls.c.call_id)
        last_t = sa.select(sa.func.max(events.c.t)).where(events.c.call_id == calls.c.call_id)
        with self.engine.begin() as conn:
            ids = list(conn.scalars(sa.select(calls.c.call_id).where(open_calls)))
            if ids:
                conn.execute(calls.update().where(calls.c.call_id.in_(ids)).values(
                    outcome=schema.Outcome.FAILED, end_reason="worker_died",
                    ended_at=sa.func.coalesce(last.scalar_subquery(), calls.c.started_at),
                    duration_s=last_t.scalar_subquery()))
        return ids

    def purge(self, before: dt.datetime, recordings_only: bool = False,
              dry_run: bool = False, dialplan: str | None = None) -> list[dict[str, Any]]:
        """Calls started before `before` (only those on the plan file `dialplan`, when given):
        their rows (turns, events and raw copies go with them) are deleted, or with
        `recordings_only` only their recordings. Returns each call's id, start and file paths,
        for the caller to delete the files, except the raw recordings (`raw_recording_path`),
        which the store deletes itself (they are its own: `ivr.store.raw_copy`); `dry_run`
        changes nothing. Calls still going on (no outcome yet) are kept."""
        calls, raw = schema.calls, schema.raw_copies
        old = sa.and_(calls.c.started_at < before, calls.c.outcome.is_not(None))
        if dialplan is not None:
            old = sa.and_(old, calls.c.dialplan == dialplan)
        if recordings_only:
            old = sa.and_(old, sa.or_(calls.c.recording_path.is_not(None),
                                      raw.c.recording_path.is_not(None)))
        query = (sa.select(calls.c.call_id, calls.c.started_at, calls.c.recording_path,
                           calls.c.events_path, raw.c.recording_path.label("raw_recording_path"))
                 .select_from(calls.outerjoin(raw, raw.c.call_id == calls.c.call_id))
                 .where(old).order_by(calls.c.started_at))
        with self.engine.begin() as conn:
            found = [dict(row) for row in conn.execute(query).mappings()]
            ids = [c["call_id"] for c in found]
            if ids and not dry_run:
                where = calls.c.call_id.in_(ids)
                conn.execute(raw.update().where(raw.c.call_id.in_(ids)).values(
                    recording_path=None))
                if recordings_only:
                    conn.execute(calls.update().where(where).values(recording_path=None))
                else:  # explicit, so no database depends on cascading foreign keys
                    for table in (schema.events, schema.turns, schema.raw_turns, raw):
                        conn.execute(table.delete().where(table.c.call_id.in_(ids)))
                    conn.execute(calls.delete().where(where))
        if not dry_run:
            for call in found:
                if delete_raw_file(call["raw_recording_path"]):
                    log.info("retention: deleted the raw recording of call %s",
                             call["call_id"])
        return found

    def finished_plans(self) -> list[str]:
        """The plan files (as recorded) of the finished calls, for purging by each plan's
        retention; calls that recorded no plan are left out."""
        calls = schema.calls
        query = (sa.select(calls.c.dialplan).distinct()
                 .where(calls.c.outcome.is_not(None), calls.c.dialplan.is_not(None))
                 .order_by(calls.c.dialplan))
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    # ---- reading ----------------------------------------------------------------------------
    def calls(self, since: dt.datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest calls first (started at or after `since`)."""
        query = sa.select(schema.calls).order_by(schema.calls.c.started_at.desc()).limit(limit)
        if since is not None:
            query = query.where(schema.calls.c.started_at >= since)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(schema.calls).where(
                schema.calls.c.call_id == call_id)).mappings().first()
        return dict(row) if row else None

    def turns(self, call_id: str) -> list[dict[str, Any]]:
        query = sa.select(schema.turns).where(schema.turns.c.call_id == call_id).order_by(
            schema.turns.c.idx)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def events(self, call_id: str) -> list[dict[str, Any]]:
        query = sa.select(schema.events).where(schema.events.c.call_id == call_id).order_by(
            schema.events.c.seq)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
