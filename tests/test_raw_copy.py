"""Raw copies (`redaction.raw_copy`): what the caller said kept apart from the redacted record,
on SQLite and a real PostgreSQL server; a real SIP call into a real worker on a plan with a raw
copy (the raw words and the recording before the beep, mode 0600, kept apart); `ivr calls
purge` deleting both; the plan key's validation. The console's side (roles, 403, audit log) is in
test_console_raw.py."""

from __future__ import annotations

import datetime as dt
import re
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from ivr.cli.main import main as ivr_main
from ivr.dialplan.loader import load_dialplan
from ivr.errors import DialplanError
from ivr.events import EventLog, ManualClock
from ivr.store import schema
from ivr.store.raw_copy import keep_raw_recording, raw_path
from ivr.store.raw_store import RawCopies
from ivr.store.rows import Write
from ivr.store.store import CallStore
from ivr.store.synthetic import QUESTION, call_events, timed
from ivr.store.writer import StoreWriter
from ivr.text.redact import Redactor
from test_aftercall import CARD, channels
from test_store import postgres, store, store_url  # noqa: F401 - both databases

SAID = "My card is 4111 1111 1111 1111, mail me at ann@example.com"


def feed(writer: StoreWriter, call_id: str, roles: list[str] | None, recording: Path,
         raw_recording: Path | None = None) -> None:
    """A synthetic call where the caller reads out a card number and an e-mail address,
    through an EventLog that redacts (as a call session's does), with the raw listener on it
    when `roles` is given."""
    events = EventLog(ManualClock(), redactor=Redactor())
    listener = writer.listener(call_id, f"/recordings/{call_id}.jsonl")
    events.subscribe(listener)
    if roles is not None:
        events.subscribe_raw(listener.keep_raw(roles))
    for _t, kind, data in timed(call_events(call_id, questions=1, end="caller_hangup")):
        if kind == "asr.final" and data["text"] == QUESTION:
            data = {**data, "text": SAID}
        elif kind == "sip.media":
            data = {"recording": str(recording)}
        elif kind == "call.end" and raw_recording is not None:
            events.emit("recording.raw_copy", path=str(raw_recording))
        events.emit(kind, **data)
    listener.close()


def age(store: CallStore, call_id: str, days: int) -> None:
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    store.write([Write(schema.calls, {"started_at": started}, {"call_id": call_id})])


def test_the_raw_copy_is_kept_apart_and_everything_else_stays_redacted(store, tmp_path):
    writer = StoreWriter(store, "w1")
    feed(writer, "with-raw", ["admin", "qa"], tmp_path / "a.wav", tmp_path / "raw" / "a.wav")
    feed(writer, "no-raw", None, tmp_path / "b.wav")
    assert writer.flush() and writer.failed_batches == 0
    writer.close()

    question = store.turns("with-raw")[1]["caller_text"]
    assert "4111" not in question and "ann@example.com" not in question
    assert "[card ••••1111]" in question and "[email]" in question
    for kind_data in (e["data"] for e in store.events("with-raw")):
        assert "4111 1111" not in str(kind_data) and "ann@example" not in str(kind_data)

    raw = RawCopies(store.engine)
    copy = raw.copy("with-raw")
    assert copy.roles == ("admin", "qa") and copy.allows("qa") and not copy.allows("auditor")
    assert copy.recording_path == str(tmp_path / "raw" / "a.wav")
    turns = raw.turns("with-raw")
    assert turns[1]["caller_text"] == SAID
    assert turns[0]["bot_text"] == store.turns("with-raw")[0]["bot_text"]  # nothing to mask
    assert sorted(turns) == [t["idx"] for t in store.turns("with-raw")]
    assert raw.copy("no-raw") is None and raw.turns("no-raw") == {}


def test_purge_deletes_the_raw_copies_with_their_calls(store, tmp_path, capsys):
    writer = StoreWriter(store, "w1")
    files = {}
    for call_id in ("old", "new"):
        recording, raw = tmp_path / f"{call_id}.wav", tmp_path / "raw" / f"{call_id}.wav"
        raw.parent.mkdir(exist_ok=True)
        recording.write_bytes(b"redacted")
        raw.write_bytes(b"raw")
        files[call_id] = raw
        feed(writer, call_id, ["admin"], recording, raw)
    assert writer.flush()
    writer.close()
    age(store, "old", 100)
    raw = RawCopies(store.engine)

    def purge(*flags: str) -> str:
        assert ivr_main(["calls", "purge", "--older-than", "90d", "--store", store.url,
                         *flags]) == 0
        return capsys.readouterr().out

    assert "would delete 1 call(s), 2 file(s) (1 raw recording(s))" in purge("--dry-run")
    assert files["old"].exists() and raw.copy("old").recording_path
    # the audio goes, raw included; the raw words stay
    assert "(1 raw recording(s))" in purge("--recordings-only")
    assert not files["old"].exists() and raw.copy("old").recording_path is None
    assert raw.turns("old")[1]["caller_text"] == SAID
    purge()
    assert raw.copy("old") is None and raw.turns("old") == {}
    with store.engine.connect() as conn:
        left = conn.scalar(sa.select(sa.func.count()).select_from(schema.raw_turns).where(
            schema.raw_turns.c.call_id == "old"))
    assert left == 0
    assert files["new"].exists() and raw.turns("new")[1]["caller_text"] == SAID


def test_the_audit_log_keeps_every_raw_view_newest_first(store):
    raw = RawCopies(store.engine)
    raw.log_view("ada", "c1", "text")
    raw.log_view("ada", "c1", "audio")
    raw.log_view("bob", "c2", "text")
    views = raw.views()
    assert [(v["user_name"], v["call_id"], v["what"]) for v in views] == [
        ("bob", "c2", "text"), ("ada", "c1", "audio"), ("ada", "c1", "text")]
    assert all(v["at"] is not None for v in views)


def test_the_raw_recording_is_owner_only_and_never_overwritten(tmp_path):
    recording = tmp_path / "call.wav"
    recording.write_bytes(b"RIFF as said")
    copy = keep_raw_recording(recording)
    assert copy == raw_path(recording) == tmp_path / "raw" / "call.wav"
    assert copy.read_bytes() == b"RIFF as said"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    with pytest.raises(FileExistsError):
        keep_raw_recording(recording)
    assert not list(copy.parent.glob(".*"))  # no temporary file left behind


# ---- the plan key -------------------------------------------------------------------------------
def _plan(tmp_path: Path, redaction: str) -> Path:
    text = (Path(__file__).resolve().parents[1] / "dialplans" / "acme-mobile.yaml").read_text()
    path = tmp_path / "plan.yaml"
    path.write_text(text + "\nredaction:\n" + redaction, encoding="utf-8")
    return path


def test_raw_copy_is_off_by_default_and_warns_when_on(tmp_path):
    shipped = load_dialplan(Path(__file__).resolve().parents[1] / "dialplans" /
                            "acme-mobile.yaml")
    assert not shipped.plan.redaction.raw_copy.enabled
    loaded = load_dialplan(_plan(tmp_path, "  raw_copy: {enabled: true}\n"))
    assert loaded.plan.redaction.raw_copy.roles == ["admin"]
    assert any("redaction.raw_copy" in w and "admin" in w for w in loaded.warnings)


def test_raw_copy_needs_redaction_on_and_known_roles(tmp_path):
    with pytest.raises(DialplanError, match="raw_copy.*keep_raw|keep_raw.*raw_copy"):
        load_dialplan(_plan(tmp_path, "  keep_raw: true\n  raw_copy: {enabled: true}\n"))
    with pytest.raises(DialplanError, match="roles"):
        load_dialplan(_plan(tmp_path, "  raw_copy: {enabled: true, roles: [auditor]}\n"))
    with pytest.raises(DialplanError, match="roles"):
        load_dialplan(_plan(tmp_path, "  raw_copy: {enabled: true, roles: []}\n"))


# ---- a real call -------------------------------------------------------------------------------
CARD_WORDS = "My card number is " + " ".join(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"][int(d)]
    for d in CARD) + "."


@pytest.mark.slow
def test_a_real_sip_call_on_a_raw_copy_plan_keeps_the_copy_for_the_plans_roles(tmp_path):
    """The SIP worker wires the raw listener from the plan: a sipp caller reads a card number
    to a real worker; the store has the words masked, the raw copy as said, and the raw WAV."""
    from ivr.models.remote import remote_engines
    from ivr.qa.synth import synth_caller
    from ivr.store.store import default_url

    from sip.media_files import write_ulaw
    from sip.siptest import run_sipp, shared_model_service, verbatim_plan, worker

    models = shared_model_service()
    voice = remote_engines(models.base_url, ["en"], None).voice("en")
    caller = tmp_path / "caller"
    caller.mkdir()
    write_ulaw(caller / "caller.ulaw",
               synth_caller(voice, [(4.5, CARD_WORDS), (3.0, "Thank you.")]))
    plan = verbatim_plan(tmp_path)
    plan.write_text(plan.read_text() + "redaction:\n  raw_copy: {enabled: true, roles: [qa]}\n")
    with worker(tmp_path, plan, models.base_url) as bot:
        result = run_sipp("uac_rtp_stream.xml", bot.port, caller, hold_ms=30000)
        assert result.returncode == 0, result
        store = CallStore.open(default_url(bot.recordings))
        try:
            # the call ends, then its audio is transcribed again to beep the number: on two
            # cores shared with the rest of the suite that can take well over 30 s
            deadline = time.monotonic() + 120
            while not (done := [c for c in store.calls() if c["outcome"]]) or \
                    not (copy := RawCopies(store.engine).copy(done[0]["call_id"])) or \
                    not copy.recording_path:
                assert time.monotonic() < deadline, (
                    f"no finished call with its raw recording: calls {store.calls()}, turns "
                    f"{[store.turns(c['call_id']) for c in done]}, raw copies "
                    f"{[RawCopies(store.engine).copy(c['call_id']) for c in done]}; "
                    f"worker log: {bot.stderr_path.read_text()[-3000:]}")
                time.sleep(0.2)
            call_id = done[0]["call_id"]
            stored = " ".join(t["caller_text"] for t in store.turns(call_id))
            raw_words = " ".join(t["caller_text"]
                                 for t in RawCopies(store.engine).turns(call_id).values())
        finally:
            store.close()
    assert copy.roles == ("qa",)
    assert re.search(r"\d{12,}", raw_words.replace(" ", "")), raw_words
    assert not re.search(r"\d{5,}", stored.replace(" ", "")), stored
    raw_wav = Path(copy.recording_path)
    assert raw_wav.parent == (bot.recordings / "raw").resolve()
    assert stat.S_IMODE(raw_wav.stat().st_mode) == 0o600
    raw_caller, raw_bot = channels(raw_wav)
    beeped_caller, beeped_bot = channels(Path(done[0]["recording_path"]))
    assert raw_caller.size == beeped_caller.size and np.array_equal(raw_bot, beeped_bot)
    changed = np.flatnonzero(raw_caller != beeped_caller)
    assert changed.size, "the stored recording was not beeped"
    assert changed.size < 0.5 * raw_caller.size  # only around the number
