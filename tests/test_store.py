"""The call store: events -> calls/turns/events rows, crash safety, migrations; each against
SQLite and a real PostgreSQL server (a throw-away one this module starts and stops)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ivr.events import EventLog, ManualClock
from ivr.store import schema
from ivr.store.migrate import head
from ivr.store.outcome import decide
from ivr.store.pgtemp import TempPostgres
from ivr.store.schema import Outcome
from ivr.store.store import CallStore, StoreError, default_url, display_url, normalize_url
from ivr.store.synthetic import ANSWER, ASK_HUMAN, QUESTION, TRANSFER_TARGET, call_events, timed
from ivr.store.writer import StoreWriter

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[TempPostgres]:
    with TempPostgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A new, empty database of each kind."""
    if request.param == "sqlite":
        return normalize_url(str(tmp_path / "calls.db"))
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def store(store_url) -> Iterator[CallStore]:
    opened = CallStore.open(store_url)
    yield opened
    opened.close()


def feed(writer: StoreWriter, call_id: str, steps: Any, close: bool = True) -> int:
    """Emit a synthetic call's events through an EventLog with the store listener on it."""
    clock = ManualClock()
    log = EventLog(clock)
    listener = writer.listener(call_id, f"/recordings/{call_id}.jsonl")
    log.subscribe(listener)
    n = 0
    for t, kind, data in timed(steps):
        clock.advance(t - clock.now())
        log.emit(kind, **data)
        n += 1
    if close:
        listener.close()
    return n


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC, PostgreSQL aware datetimes."""
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


# ---- events -> rows ---------------------------------------------------------------------------
def test_a_transferred_call_becomes_its_call_turns_and_events_rows(store):
    writer = StoreWriter(store, "w1")
    before = dt.datetime.now(dt.timezone.utc)
    emitted = feed(writer, "call-1", call_events("call-1", questions=1, end="transferred"))
    assert writer.flush()
    assert writer.failed_batches == 0 and len(writer.latencies) == emitted

    call = store.call("call-1")
    assert call["outcome"] is Outcome.TRANSFERRED and call["end_reason"] == "transferred"
    assert (call["transfer_target"], call["transfer_reason"], call["transfer_status"]) == (
        TRANSFER_TARGET, "caller_asked_for_human", "200 OK")
    assert call["caller_number"] == "+15550100" and call["worker"] == "w1"
    assert call["dialplan_sha256"] == "ab" * 32 and call["language"] == "en"
    assert call["recording_path"] == "/recordings/call-1.wav"
    assert call["events_path"] == "/recordings/call-1.jsonl"
    assert call["remote"].startswith("<sip:+15550100@") and call["sip_call_id"] == "call-1@sipp"
    assert before - dt.timedelta(seconds=1) <= utc(call["started_at"]) <= utc(call["ended_at"])
    assert call["duration_s"] > 15 and call["schema_version"] == schema.SCHEMA_VERSION

    greeting, question, handoff = store.turns("call-1")
    assert (greeting["idx"], greeting["caller_text"], greeting["decision"]) == (0, "", "start")
    assert greeting["bot_text"] == "Hello, you've reached Acme Mobile. How can I help you today?"
    assert greeting["answer_source"] is None and greeting["latency_ms"] is None
    assert question["caller_text"] == QUESTION and question["bot_text"] == " ".join(ANSWER)
    assert question["decision"] == "kb_match" and question["actions"] == ["answer"]
    assert question["evidence"] == {"score": 0.94, "runner_up": 0.84, "entry": "roaming"}
    assert question["answer_source"] == "approved"  # the LLM's sentence was not supported
    assert question["latency_ms"] is not None and question["latency_ms"] >= 0
    assert question["t_start"] < question["t_end"] < handoff["t_start"]
    assert handoff["caller_text"] == ASK_HUMAN and handoff["actions"] == ["say", "transfer"]

    ticket = call["ticket"]   # by rules, for every call
    assert ticket["problem"] == QUESTION and ticket["category"] == "kb:roaming"
    assert ticket["bot_did"] == ["start", "kb_match", "caller_asked_for_human"]
    assert ticket["resolution"] == f"handed to {TRANSFER_TARGET} (200 OK)"
    assert ticket["outcome"] == "transferred" and ticket["follow_up_needed"] is False

    events = store.events("call-1")
    assert [e["seq"] for e in events] == list(range(emitted))
    assert [e["kind"] for e in events][:2] == ["sip.invite", "call.start"]
    assert events[-1]["kind"] == "media.stats" and events[-1]["data"]["max_pump_gap_ms"] == 9.5
    writer.close()


def test_a_turn_the_caller_went_on_with_is_marked_and_the_ticket_has_the_whole(store):
    first = "I am abroad next week."
    whole = f"{first} How much will calls cost me there?"
    heard = {"language": "en", "rtf": 0.1, "compute_s": 0.1}
    steps = [
        (0.0, "call.start", {"call_id": "went-on", "caller": "+15550100",
                             "dialplan": "/plans/acme-mobile.yaml", "dialplan_sha256": "ab" * 32}),
        (0.0, "dialog.decision", {"reason": "start", "node": "welcome", "actions": ["say"]}),
        (0.1, "bot.say", {"text": "How can I help you today?", "audio_s": 1.3}),
        (2.0, "speech.start", {"at": 0.0, "bot_busy": False}),
        (1.2, "speech.end", {"at": -0.2, "speech_ms": 1100}),
        (0.1, "asr.final", {"text": first, **heard}),
        (0.0, "dialog.decision", {"reason": "kb_confirm", "node": "questions", "actions": ["say"],
                                  "asked_about": "data_plans"}),
        (0.0, "bot.say", {"text": "Is your question: What data plans do you have?",
                          "audio_s": 2.7}),
        (0.5, "speech.start", {"at": 0.0, "bot_busy": True}),
        (0.6, "barge_in", {"dropped_s": 1.9}),
        (1.0, "speech.end", {"at": -0.2, "speech_ms": 1500}),
        (0.0, "turn.continued", {"after": 3.1}),
        (0.1, "asr.final", {"text": whole, **heard}),
        (0.0, "dialog.decision", {"reason": "kb_match", "node": "questions",
                                  "actions": ["answer"], "entry": "roaming"}),
        (0.1, "bot.say", {"text": "Roaming costs five dollars a day.", "audio_s": 2.0}),
        (3.0, "call.end", {"reason": "caller_hangup", "turns": 2, "slots": {}, "summary": "",
                           "summary_full": ""}),
    ]
    writer = StoreWriter(store, "w1")
    feed(writer, "went-on", iter(steps))
    assert writer.flush()
    greeting, asked, answered = store.turns("went-on")
    assert asked["caller_text"] == first and asked["evidence"] == {
        "asked_about": "data_plans", "taken_back": True}
    assert answered["caller_text"] == whole and "taken_back" not in answered["evidence"]
    assert store.call("went-on")["ticket"]["problem"] == whole
    writer.close()


def test_a_turn_taken_back_unfills_its_slots_and_marks_its_look_up(store):
    """The first part filled a slot and its look-up said the free times (a row of its own); the
    whole turn fills no slot: the call keeps none, and both rows of the first part are marked."""
    heard = {"language": "en", "rtf": 0.1, "compute_s": 0.1}
    steps = [
        (0.0, "call.start", {"call_id": "unfilled", "caller": "+15550100",
                             "dialplan": "/plans/clinic.yaml", "dialplan_sha256": "ab" * 32}),
        (0.0, "dialog.decision", {"reason": "start", "node": "welcome", "actions": ["say"]}),
        (2.0, "asr.final", {"text": "Next Monday.", **heard}),
        (0.0, "slot", {"name": "appointment_date", "value": "2026-12-07"}),
        (0.0, "dialog.decision", {"reason": "slot_filled", "node": "book_date",
                                  "actions": ["lookup"]}),
        (0.1, "dialog.decision", {"reason": "looked_up", "node": "book_times",
                                  "actions": ["say"], "tool": "free_slots"}),
        (0.5, "turn.continued", {"after": 2.0}),
        (0.1, "asr.final", {"text": "Next Monday. No, I want to cancel instead.", **heard}),
        (0.0, "dialog.decision", {"reason": "menu", "node": "cancel", "actions": ["say"]}),
        (3.0, "call.end", {"reason": "caller_hangup", "turns": 2, "slots": {}, "summary": "",
                           "summary_full": ""}),
    ]
    writer = StoreWriter(store, "w1")
    feed(writer, "unfilled", iter(steps))
    assert writer.flush()
    _, filled, looked, cancelled = store.turns("unfilled")
    assert filled["evidence"] == {"taken_back": True}
    assert looked["evidence"] == {"tool": "free_slots", "taken_back": True}
    assert not (cancelled["evidence"] or {}).get("taken_back")
    call = store.call("unfilled")
    assert call["slots"] == {} and call["ticket"]["slots"] == {}
    writer.close()


def test_a_resolved_call_keeps_slots_survey_and_the_llm_source(store):
    steps = list(call_events("call-2", questions=1, end="caller_hangup"))
    at = next(i for i, s in enumerate(steps) if s[1] == "llm.sentence")
    steps[at] = (steps[at][0], "llm.sentence", {"text": "Five dollars a day.", "supported": True})
    at = next(i for i, s in enumerate(steps) if s[1] == "sip.disconnected")
    steps[at:at] = [(0.1, "slot", {"name": "date", "value": dt.date(2026, 12, 24)}),
                    (0.1, "slot", {"name": "survey", "value": True})]
    writer = StoreWriter(store, "w1")
    feed(writer, "call-2", steps)
    writer.close()
    reopened = CallStore.open(store.url)
    call = reopened.call("call-2")
    assert call["outcome"] is Outcome.RESOLVED and call["end_reason"] == "caller_hangup"
    assert call["slots"] == {"date": "2026-12-24", "survey": True}
    assert call["survey_answer"] == "True" and call["transfer_target"] is None
    assert reopened.turns("call-2")[1]["answer_source"] == "llm"
    assert call["ticket"]["resolution"] == "answered by the bot"
    assert call["ticket"]["slots"] == call["slots"] and not call["ticket"]["follow_up_needed"]
    assert [c["call_id"] for c in reopened.calls()] == ["call-2"]
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert reopened.calls(since=future) == []
    reopened.close()


@pytest.mark.parametrize("reason, actions, decision, outcome", [
    ("transferred", ["say", "transfer"], "caller_asked_for_human", Outcome.TRANSFERRED),
    ("caller_hangup", ["answer"], "kb_match", Outcome.RESOLVED),
    ("caller_hangup", ["say"], "survey_answered", Outcome.RESOLVED),
    ("caller_hangup", ["say", "transfer"], "caller_asked_for_human", Outcome.ABANDONED),
    ("caller_hangup", ["say"], "start", Outcome.ABANDONED),
    ("caller_cancelled", [], None, Outcome.ABANDONED),
    ("no_input", ["say", "hangup"], "no_input", Outcome.ABANDONED),
    ("dialplan", ["say", "hangup"], "slot_filled", Outcome.RESOLVED),
    ("rtp_timeout", ["answer"], "kb_match", Outcome.FAILED),
    ("transfer_failed", ["say", "hangup"], "transfer_failed", Outcome.FAILED),
    ("shutdown", ["answer"], "kb_match", Outcome.FAILED),
    ("something_new", ["answer"], "kb_match", Outcome.FAILED),
])
def test_outcome_rules(reason, actions, decision, outcome):
    assert decide(reason, actions, decision) is outcome


def test_a_failing_write_is_logged_and_the_writer_goes_on(store, caplog):
    writer = StoreWriter(store, "w1")
    feed(writer, "dup", call_events("dup", end="caller_hangup"))
    assert writer.flush()
    feed(writer, "dup", call_events("dup", end="caller_hangup"))  # same id: key violation
    feed(writer, "next", call_events("next", end="caller_hangup"))
    writer.close()
    assert writer.failed_batches >= 1
    assert "JSONL event logs keep the record" in caplog.text
    store = CallStore.open(store.url)
    assert store.call("next")["outcome"] is Outcome.RESOLVED
    store.close()


# ---- crash safety -----------------------------------------------------------------------------
CRASHING_WORKER = textwrap.dedent("""
    import os, signal, sys
    from ivr.events import EventLog, ManualClock
    from ivr.store.store import CallStore
    from ivr.store.synthetic import call_events, timed
    from ivr.store.writer import StoreWriter

    url, flushed = sys.argv[1], int(sys.argv[2])
    writer = StoreWriter(CallStore.open(url), "wk")
    clock = ManualClock()
    log = EventLog(clock)
    log.subscribe(writer.listener("crashed"))
    for n, (t, kind, data) in enumerate(timed(call_events("crashed", 2, end="open"))):
        if n == flushed:
            assert writer.flush()
            print("flushed", flush=True)
        clock.advance(t - clock.now())
        log.emit(kind, **data)
    os.kill(os.getpid(), signal.SIGKILL)  # mid-call, events possibly still queued
""")


def test_kill_9_mid_call_keeps_what_was_written_and_the_call_is_marked_failed(store_url):
    flushed = 20  # events surely committed before the kill: greeting and the first question
    child = subprocess.run([sys.executable, "-c", CRASHING_WORKER, store_url, str(flushed)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert child.stdout.strip() == "flushed"

    store = CallStore.open(store_url)
    events = store.events("crashed")
    assert len(events) >= flushed
    assert [e["seq"] for e in events] == list(range(len(events)))  # no holes: a prefix
    call = store.call("crashed")
    assert call["outcome"] is None and call["ended_at"] is None
    assert store.turns("crashed")[1]["caller_text"] == QUESTION

    assert store.mark_unfinished("another-worker") == []
    assert store.mark_unfinished("wk") == ["crashed"]
    call = store.call("crashed")
    assert call["outcome"] is Outcome.FAILED and call["end_reason"] == "worker_died"
    assert utc(call["ended_at"]) == utc(events[-1]["at"]) and call["duration_s"] == events[-1]["t"]
    assert store.mark_unfinished("wk") == []  # marked once
    store.close()


def test_mark_unfinished_leaves_finished_calls_and_other_workers_alone(store):
    for worker, call_id, end in [("w1", "done", "caller_hangup"), ("w1", "open", "open"),
                                 ("w2", "other", "open")]:
        writer = StoreWriter(store, worker)
        feed(writer, call_id, call_events(call_id, end=end))
        writer.close()
    store = CallStore.open(store.url)
    assert store.mark_unfinished("w1") == ["open"]
    assert store.call("done")["outcome"] is Outcome.RESOLVED
    assert store.call("other")["outcome"] is None
    store.close()


# ---- migrations -------------------------------------------------------------------------------
def test_an_empty_database_is_migrated_to_tables_matching_the_models(store_url):
    store = CallStore.open(store_url)
    with store.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"calls", "turns", "events", "alembic_version"} <= tables
        assert MigrationContext.configure(conn).get_current_heads() == (head(),)
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == []
    store.close()
    CallStore.open(store_url).close()  # opening again: already at head


def test_a_database_newer_than_the_code_is_refused_with_what_to_do(store_url):
    store = CallStore.open(store_url)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(StoreError, match="schema revision 9999.*upgrade ivr"):
        CallStore.open(store_url)


def test_a_reader_does_not_migrate_an_empty_database(tmp_path):
    with pytest.raises(StoreError, match=rf"revision \(empty\), not {head()}: `ivr serve` upgrades"):
        CallStore.open(str(tmp_path / "empty.db"), migrate=False)


def test_store_urls():
    assert normalize_url("postgresql://u:secret@db/ivr") == "postgresql+psycopg://u:secret@db/ivr"
    assert normalize_url("calls.db") == f"sqlite:///{Path('calls.db').resolve()}"
    assert default_url(Path("/srv/rec")) == "sqlite:////srv/rec/calls.db"
    assert "secret" not in display_url("postgresql://u:secret@db/ivr")
    with pytest.raises(StoreError, match="only SQLite and PostgreSQL"):
        CallStore.open("mysql://u@db/ivr")
    with pytest.raises(StoreError, match="cannot open the call store"):
        CallStore.open("postgresql://u@127.0.0.1:1/ivr")


def test_serve_store_option_reaches_the_workers(tmp_path):
    from ivr.cli.main import build_parser
    from ivr.cli.serve import stack_settings
    from ivr.dialplan.loader import load_dialplan
    from ivr.sip.stack import worker_settings

    for argv, expected in [
        (["--recordings", str(tmp_path)], f"sqlite:///{tmp_path.resolve()}/calls.db"),
        (["--store", "postgresql://ivr@db/calls"], "postgresql+psycopg://ivr@db/calls"),
    ]:
        args = build_parser().parse_args(["serve", "--workers", "2", *argv])
        workers = worker_settings(stack_settings(args), load_dialplan(args.dialplan),
                                  "http://127.0.0.1:1", None)
        assert [w.store_url for w in workers] == [expected, expected]


# ---- real SIP calls into a real worker ----------------------------------------------------------
@pytest.fixture(scope="module")
def sip_caller_audio(tmp_path_factory):
    """The model service and a sipp caller that asks about roaming after the greeting."""
    from ivr.models.remote import remote_engines
    from ivr.qa.synth import synth_caller

    from sip.media_files import write_ulaw
    from sip.siptest import shared_model_service

    models = shared_model_service()
    voice = remote_engines(models.base_url, ["en"], None).voice("en")
    folder = tmp_path_factory.mktemp("caller")
    write_ulaw(folder / "caller.ulaw", synth_caller(voice, [(4.5, "How much does roaming cost?")]))
    return models, folder


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout_s} s")
        time.sleep(0.2)
    return found


@pytest.mark.slow
def test_a_real_sip_call_is_stored_and_a_killed_worker_leaves_it_failed(sip_caller_audio,
                                                                       tmp_path):
    from sip.siptest import LOOPBACK, SCENARIOS, free_udp_port, run_sipp, verbatim_plan, worker

    models, caller = sip_caller_audio
    plan = verbatim_plan(tmp_path)
    with worker(tmp_path, plan, models.base_url) as bot:
        result = run_sipp("uac_rtp_stream.xml", bot.port, caller, hold_ms=13000)
        assert result.returncode == 0, result
        store = CallStore.open(default_url(bot.recordings))  # the worker's default store
        call = wait_for(lambda: next((c for c in store.calls() if c["outcome"]), None), 20,
                        "finished call in the store")
        assert call["outcome"] is Outcome.RESOLVED and call["end_reason"] == "caller_hangup"
        assert call["worker"] == "w1" and Path(call["recording_path"]).exists()
        assert Path(call["events_path"]).exists()
        greeting, question = store.turns(call["call_id"])
        assert "roaming" in question["caller_text"].lower()
        assert "European Union" in question["bot_text"] and question["latency_ms"] > 0
        kinds = [e["kind"] for e in store.events(call["call_id"])]
        assert kinds[:2] == ["sip.invite", "call.start"] and kinds[-1] == "media.stats"

        # kill -9 the worker mid-call, once the store has the caller's question
        sipp = subprocess.Popen(
            ["sipp", "-sf", str(SCENARIOS / "uac_rtp_stream.xml"), f"{LOOPBACK}:{bot.port}",
             "-i", LOOPBACK, "-p", str(free_udp_port()), "-mi", LOOPBACK,
             "-mp", str(free_udp_port()), "-m", "1", "-d", "30000", "-nostdin"],
            cwd=caller, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def heard() -> str | None:
                # the question's turn opens with the dialog's decision on it (rows.py)
                return next((c["call_id"] for c in store.calls() if c["outcome"] is None
                             and len(store.turns(c["call_id"])) >= 2), None)
            killed_call = wait_for(heard, 30, "question turn of the second call in the store")
            os.kill(bot.process.pid, signal.SIGKILL)
            bot.process.wait(10)
        finally:
            sipp.kill()
            sipp.wait()
    events = store.events(killed_call)
    assert store.call(killed_call)["outcome"] is None  # nobody has said it ended yet

    with worker(tmp_path, plan, models.base_url):  # the same worker, restarted
        call = store.call(killed_call)
    assert call["outcome"] is Outcome.FAILED and call["end_reason"] == "worker_died"
    assert utc(call["ended_at"]) == utc(events[-1]["at"])
    assert "roaming" in store.turns(killed_call)[1]["caller_text"].lower()
    store.close()


def test_ivr_calls_list_and_show_read_the_store(tmp_path, capsys):
    from ivr.cli.main import main

    with pytest.raises(SystemExit):
        main(["calls", "list", "--since", "yesterday"])
    assert "give 2026-11-30" in capsys.readouterr().err
    assert main(["calls", "list", "--recordings", str(tmp_path)]) == 2
    assert "no call store in" in capsys.readouterr().err

    writer = StoreWriter(CallStore.open(default_url(tmp_path)), "w1")
    feed(writer, "call-t", call_events("call-t", end="transferred"))
    feed(writer, "call-o", call_events("call-o", end="open"))
    writer.close()
    assert main(["calls", "list", "--recordings", str(tmp_path), "--since", "1h"]) == 0
    listed = capsys.readouterr().out
    assert "call-t" in listed and "caller_asked_for_human -> sip:agents" in listed
    assert "(open)" in listed and "2 call(s)" in listed
    assert main(["calls", "show", "call-t", "--store", str(tmp_path / "calls.db")]) == 0
    shown = capsys.readouterr().out
    assert f"caller: {QUESTION}" in shown and "-> kb_match at questions" in shown
    assert "bot: " + " ".join(ANSWER) in shown and "transferred (transferred)" in shown
    assert "ticket: kb:roaming; handed to sip:agents" in shown and "follow-up not needed" in shown
    assert main(["calls", "show", "nope", "--recordings", str(tmp_path)]) == 2
    assert "no call 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("outcome, transfer, follow_up", [
    (Outcome.ABANDONED, {}, True),
    (Outcome.FAILED, {}, True),
    (Outcome.RESOLVED, {}, False),
    (Outcome.TRANSFERRED, {"target": "sip:a@b", "reason": "emergency", "status": "200 OK"}, False),
    (Outcome.FAILED, {"target": "sip:a@b", "reason": "emergency", "status": "486 Busy Here"},
     True),
])
def test_a_ticket_asks_for_follow_up_when_the_need_was_left_open(outcome, transfer, follow_up):
    from ivr.store.ticket import build_ticket

    ticket = build_ticket("", ["start"], [], {}, outcome, "x", transfer)
    assert ticket["follow_up_needed"] is follow_up
    assert ticket["problem"].startswith("(the caller said nothing")
    assert ticket["category"] == (f"handoff:{transfer['reason']}" if transfer else "ended:x")
