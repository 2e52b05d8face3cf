"""Where QA replay finds recorded calls: a call record file, a folder of them, or the call store.

A SIP call leaves `recordings/CALL_ID.jsonl` (its events), `recordings/CALL_ID.wav` (caller
left, bot right) and a row in the call store. The call's wall-clock time (for business hours)
comes from the store's row, else from the record's `call.start` (`at`; records written before
it was added have none). A folder of records is read with the store beside it (`calls.db`, as
`ivr serve` keeps it) when there is one. Every error says what to do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from ivr.errors import IvrError
from ivr.qa.replay import RecordedCall
from ivr.record import CallRecord, RecordError
from ivr.store.store import CallStore, default_url

PROJECT = Path(__file__).resolve().parents[2]


def open_store(url: str | None, recordings: Path) -> CallStore | None:
    """The store at `url`, else `recordings/calls.db` if it exists, else None."""
    if url is None and not (recordings / "calls.db").exists():
        return None
    return CallStore.open(url or default_url(recordings), migrate=False)


def calls_at(path: Path, store: CallStore | None = None) -> list[RecordedCall]:
    """The call record `path` (.jsonl) or every record in the folder `path`; the call times come
    from `store` where it has the call."""
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise IvrError(f"{path}/ holds no call records (*.jsonl): give a recordings folder, "
                           "a .jsonl file or a call id")
    elif path.suffix == ".jsonl" and path.is_file():
        files = [path]
    else:
        raise IvrError(f"{path}: not a call record: give a .jsonl file, a folder of them or a "
                       "call id")
    calls = []
    for events_path in files:
        record = _read(events_path)
        row = store.call(str(record.one("call.start")["call_id"])) if store else None
        calls.append(_recorded(record, record.wav, row))
    return calls


def calls_in_store(store: CallStore, recordings: Path, call_id: str | None = None,
                   since: dt.datetime | None = None, limit: int = 1000) -> list[RecordedCall]:
    """One stored call by id, or the stored calls started since `since` (oldest first); their
    records and recordings are where the store says, or in `recordings`."""
    if call_id is not None:
        row = store.call(call_id)
        if row is None:
            raise IvrError(f"no call {call_id!r} in the call store: `ivr calls list` shows the "
                           "calls; or give a .jsonl file or a folder of calls")
        rows = [row]
    else:
        rows = [r for r in reversed(store.calls(since=since, limit=limit))
                if r["outcome"] is not None]
        if not rows:
            raise IvrError(f"no finished call in the call store since {since:%Y-%m-%d %H:%M} "
                           "UTC: `ivr calls list` shows the calls")
    return [_stored(row, recordings) for row in rows]


def _stored(row: dict[str, Any], recordings: Path) -> RecordedCall:
    call_id = row["call_id"]
    events = _found(row["events_path"], recordings / f"{call_id}.jsonl")
    wav = _found(row["recording_path"], recordings / f"{call_id}.wav")
    if events is None or wav is None:
        missing = row["events_path"] if events is None else row["recording_path"]
        raise IvrError(f"recording missing for call {call_id}: {missing or 'no recording'} "
                       f"(not in {recordings}/ either); give --recordings DIR where its .jsonl "
                       "and .wav are")
    return _recorded(_read(events), wav, row)


def _found(stored: str | None, fallback: Path) -> Path | None:
    for path in (Path(stored) if stored else None, fallback):
        if path is not None and path.is_file():
            return path
    return None


def _read(path: Path) -> CallRecord:
    try:
        record = CallRecord.read(path)
    except (RecordError, UnicodeDecodeError) as exc:
        raise IvrError(f"cannot read the call record {path}: {exc}") from None
    if not record.of("call.start"):
        raise IvrError(f"{path}: not a call record (no call.start event)")
    return record


def _recorded(record: CallRecord, wav: Path, row: dict[str, Any] | None) -> RecordedCall:
    if not wav.is_file():
        raise IvrError(f"recording missing: {wav} (the caller's audio of {record.events_path}); "
                       "copy it next to the .jsonl")
    started = row["started_at"] if row else _recorded_start(record)
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=dt.timezone.utc)  # SQLite keeps UTC without a zone
    return RecordedCall(record, wav, started)


def _recorded_start(record: CallRecord) -> dt.datetime | None:
    """The wall-clock start the record's `call.start` carries, if it has one."""
    at = record.one("call.start").data.get("at")
    if at is None:
        return None
    try:
        return dt.datetime.fromisoformat(at)
    except ValueError:
        raise IvrError(f"{record.events_path}: call.start at={at!r} is not an ISO 8601 time; "
                       "fix or remove it (replay then runs at the current time), or give "
                       "--at") from None


def plan_path(call: RecordedCall, override: Path | None = None) -> Path:
    """The plan to replay `call` on: `override`, else the plan file it was recorded with as it
    is now (found as recorded, or in this project's folder when recorded relative to it)."""
    if override is not None:
        return override
    recorded = Path(call.dialplan)
    for path in (recorded, PROJECT / recorded, PROJECT / "dialplans" / recorded.name):
        if path.is_file():
            return path
    raise IvrError(f"call {call.call_id}: its dialplan {recorded} is not here; give "
                   "--dialplan PLAN")
