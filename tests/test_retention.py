"""Default retention: a plan's `retention:` (validated with file:line like the rest of the plan)
says how long its calls' recordings and transcripts are kept, and `ivr calls purge` without
--older-than deletes by it, logging each deletion; a call whose plan cannot be read is kept."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.dialplan.loader import load_dialplan
from ivr.errors import IvrError
from ivr.events import EventLog, ManualClock
from ivr.store.store import CallStore, normalize_url
from ivr.store.writer import StoreWriter

from conftest import DEMO_PLAN
from test_aftercall import schema_update


def plan_with(tmp_path: Path, name: str, retention: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(DEMO_PLAN.read_text() + retention)
    return path


def test_retention_is_validated_at_its_line(tmp_path: Path):
    good = load_dialplan(plan_with(tmp_path, "good", "retention:\n  recordings: 90d\n"
                                                     "  transcripts: 1y\n"))
    assert (good.plan.retention.recordings, good.plan.retention.transcripts) == ("90d", "1y")
    assert load_dialplan(DEMO_PLAN).plan.retention.recordings is None
    bad = plan_with(tmp_path, "bad", "retention:\n  recordings: 90 days\n  audio: 3d\n")
    lines = len(DEMO_PLAN.read_text().splitlines())
    with pytest.raises(IvrError) as error:
        load_dialplan(bad)
    message = str(error.value)
    assert f"{bad}:{lines + 2}:3: retention.recordings: '90 days' is not an age" in message
    assert f"{bad}:{lines + 3}:3: retention.audio" in message


def store_calls(tmp_path: Path, url: str, calls: list[tuple[str, Path, int]]) -> None:
    """Finished calls (id, plan, age in days), each with a recording and an event log file."""
    store = CallStore.open(url)
    writer = StoreWriter(store, "w1")
    now = dt.datetime.now(dt.timezone.utc)
    for call_id, plan, days in calls:
        events = EventLog(ManualClock())
        listener = writer.listener(call_id, str(tmp_path / f"{call_id}.jsonl"))
        events.subscribe(listener)
        events.emit("call.start", call_id=call_id, caller="+15550100", dialplan=str(plan),
                    dialplan_sha256="ab" * 32)
        events.emit("sip.media", recording=str(tmp_path / f"{call_id}.wav"))
        events.emit("call.end", reason="caller_hangup", turns=0, slots={}, summary="",
                    summary_full="")
        listener.close()
        for suffix in (".wav", ".jsonl"):
            (tmp_path / f"{call_id}{suffix}").write_bytes(b"x")
        assert writer.flush()
        store.write([schema_update(call_id, started_at=now - dt.timedelta(days=days))])
    writer.close()


def test_purge_without_an_age_follows_each_calls_plan(tmp_path: Path, capsys, caplog):
    url = normalize_url(str(tmp_path / "calls.db"))
    kept = plan_with(tmp_path, "kept", "retention:\n  recordings: 30d\n  transcripts: 365d\n")
    forever = plan_with(tmp_path, "forever", "")
    gone = tmp_path / "gone.yaml"  # the plan file was removed: its calls stay
    store_calls(tmp_path, url, [("fresh", kept, 10), ("quiet", kept, 40), ("ancient", kept, 400),
                                ("unlimited", forever, 400), ("orphan", gone, 400)])
    with caplog.at_level(logging.INFO, "ivr.store"):
        assert main(["calls", "purge", "--store", url, "--dry-run"]) == 1
        assert all((tmp_path / f"{c}.wav").exists() for c in ("quiet", "ancient"))
        assert main(["calls", "purge", "--store", url]) == 1
    out = capsys.readouterr().out
    assert "deleted 1 call(s), 2 file(s)" in out and f"{kept} retention transcripts: 365d" in out
    assert "deleted 1 call(s) (recordings only), 1 file(s)" in out
    assert f"calls on {gone} kept: cannot read its retention" in out
    store = CallStore.open(url)
    left = {c["call_id"]: c for c in store.calls()}
    store.close()
    assert set(left) == {"fresh", "quiet", "unlimited", "orphan"}
    assert left["quiet"]["recording_path"] is None and left["fresh"]["recording_path"]
    assert not (tmp_path / "ancient.jsonl").exists() and not (tmp_path / "ancient.wav").exists()
    assert not (tmp_path / "quiet.wav").exists() and (tmp_path / "quiet.jsonl").exists()
    assert all((tmp_path / f"{c}.wav").exists() for c in ("fresh", "unlimited", "orphan"))
    logged = [r.getMessage() for r in caplog.records if r.name == "ivr.store"]
    assert any(m.startswith("retention: deleted call ancient") for m in logged), logged
    assert any(m.startswith("retention: deleted recording quiet") for m in logged), logged
    assert any(m.startswith("retention: would delete call ancient") for m in logged), logged
    assert any("cannot read its retention" in m for m in logged), logged
    # again: nothing left to delete by the plan; the orphan still says why it stays
    assert main(["calls", "purge", "--store", url]) == 1
    assert "deleted 0 call(s)" in capsys.readouterr().out
