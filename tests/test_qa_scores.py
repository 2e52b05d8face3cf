"""Automatic QA scores: the rubric file and its errors, each criterion on small hand-built calls
(each one can fail), the scores the store writer keeps for every finished call, `ivr qa score`
(table, totals, CSV, --rescore) and `ivr calls show`; and `call.start`'s wall-clock `at`, which
replay reads when no store has the call."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from ivr.audio.wavfile import write_wav
from ivr.cli.main import main
from ivr.dialplan.loader import load_dialplan
from ivr.errors import IvrError
from ivr.events import CATALOGUE, Event, EventLog, ManualClock
from ivr.qa.call_facts import CallFacts, Score
from ivr.qa.replay_sources import calls_at
from ivr.qa.rubric import CHECKS, DEFAULT_RUBRIC, RubricError, default_rubric, load_rubric
from ivr.qa.scores import score_call
from ivr.session.engines import Engines
from ivr.session.session import CallSession
from ivr.store.store import CallStore, default_url
from ivr.store.synthetic import call_events
from ivr.store.writer import StoreWriter

from conftest import DEMO_PLAN
from test_store import feed


# ---- hand-built calls --------------------------------------------------------------------------
def ev(t: float, kind: str, **data: Any) -> Event:
    """An event of a live call: call time and wall clock run together."""
    return Event(t, kind, data, wall=1000.0 + t)


def greeting(t: float = 0.0, text: str = "Hello, you've reached Acme.") -> list[Event]:
    return [ev(0.0, "call.start", call_id="c", caller="+1555", dialplan="acme.yaml",
               dialplan_sha256="ab"),
            ev(t, "dialog.decision", reason="start", node="welcome", actions=["say"]),
            ev(t, "bot.say", text=text, audio_s=2.0),
            ev(t, "playout.first_frame")]


def turn(t: float, said: str, reason: str, answer: str | None, actions: list[str],
         speech_s: float = 1.5, wait_s: float = 0.6, **evidence: Any) -> list[Event]:
    """The caller speaks from `t` for `speech_s`; the bot's first audio comes `wait_s` after."""
    end = t + speech_s
    events = [ev(t, "speech.start", at=t, bot_busy=False),
              ev(end + 0.3, "speech.end", at=end, speech_ms=int(speech_s * 1000)),
              ev(end + 0.3, "asr.final", text=said, language="en", rtf=0.1, compute_s=0.1),
              ev(end + 0.3, "dialog.decision", reason=reason, node="q", actions=actions,
                 **evidence)]
    if answer is not None:
        events += [ev(end + wait_s, "tts.first_audio", compute_s=0.1, rtf=0.1),
                   ev(end + wait_s, "bot.say", text=answer, audio_s=3.0),
                   ev(end + wait_s, "playout.first_frame")]
    return events


def ended(t: float, reason: str) -> list[Event]:
    return [ev(t, "call.end", reason=reason, turns=2, slots={}, summary="", summary_full="")]


def transfer(t: float, reason: str = "caller_asked_for_human") -> list[Event]:
    return [ev(t, "transfer.request", target="sip:agents@x", reason=reason, summary="",
               summary_full=""), *ended(t + 0.1, "transferred")]


def answered(end: str = "caller_hangup", **turn_args: Any) -> list[Event]:
    """Greeting, one answered question, the caller hangs up."""
    args = {"said": "How much is roaming?", "reason": "kb_match", "answer": "Five dollars.",
            "actions": ["answer"], **turn_args}
    return [*greeting(), *turn(4.0, **args), *ended(12.0, end)]


def score(events: list[Event], criterion: str, **params: Any) -> Score:
    """One criterion with these parameters (the rest default) on a hand-built call."""
    check = CHECKS[criterion]
    return check.score(CallFacts.of(events), check.params.model_validate(params))


# ---- the rubric --------------------------------------------------------------------------------
def test_the_shipped_rubric_names_every_criterion_once():
    rubric = default_rubric()
    assert rubric.path == DEFAULT_RUBRIC and rubric.name == "default"
    assert [c.id for c in rubric.criteria] == list(CHECKS)
    assert all(c.weight > 0 and c.title for c in rubric.criteria)
    emergency = next(c for c in rubric.criteria if c.id == "emergency")
    assert emergency.params.max_s == 6


@pytest.mark.parametrize("text, problems", [
    ("name: x\ncriteria:\n  - id: greting\n    title: G\n    weight: 1\n",
     [":3:5: criteria.0.id: unknown criterion 'greting', expected one of: greeting,"]),
    ("name: x\ncriteria:\n  - id: emergency\n    title: E\n    weight: 1\n    params:\n"
     "      max_s: -2\n      within: 3\n",
     [":7:7: criteria.0.params.max_s: Input should be greater than 0 (found -2)",
      ":8:7: criteria.0.params.within: unknown parameter; emergency takes: max_s, reasons"]),
    ("name: x\ncriteria:\n  - id: survey\n    title: S\n    weight: 1\n"
     "    params: {answers: {yes: 1}}\n  - id: survey\n    title: S\n    weight: 1\n",
     ["criteria.0.params.answers", "quote it", ":7:5: criteria.1.id: 'survey' is already"]),
    ("name: x\ncriteria:\n  - id: latency\n    weight: heavy\n    colour: red\n",
     [":3:5: criteria.0.title: Field required",
      ":4:5: criteria.0.weight: Input should be a valid number",
      ":5:5: criteria.0.colour: unknown field"]),
    ("name: x\ncriteria:\n  - id: latency\n    title: [\n", [":5:1: invalid YAML"]),
    ("name: x\ncriteria:\n  - {id: latency, title: L, weight: 0}\n",
     [":2: criteria: every weight is 0"]),
    ("", [":1:1: expected a mapping with 'name' and 'criteria', found an empty file"]),
])
def test_a_bad_rubric_names_file_line_and_what_is_wrong(tmp_path, text, problems):
    path = tmp_path / "rubric.yaml"
    path.write_text(text)
    with pytest.raises(RubricError) as caught:
        load_rubric(path)
    for problem in problems:
        assert problem in str(caught.value), str(caught.value)
    assert str(caught.value).startswith(str(path))


# ---- each criterion ----------------------------------------------------------------------------
def test_greeting_spoken_in_time_late_or_never():
    assert score(answered(), "greeting").value == 1.0
    late = [*greeting(t=7.0), *ended(12.0, "caller_hangup")]
    assert score(late, "greeting", within_s=5).value == 0.0
    assert score(late, "greeting", within_s=8).value == 1.0
    silent = [greeting()[0], *ended(12.0, "caller_hangup")]
    assert score(silent, "greeting").value == 0.0
    assert score([greeting()[0], *ended(2.0, "caller_cancelled")], "greeting").value is None


def test_closing_needs_an_announced_transfer_or_a_goodbye():
    handed = [*greeting(), *turn(4.0, "A person please", "caller_asked_for_human",
                                 "Let me put you through.", ["say", "transfer"]),
              *transfer(9.0)]
    assert score(handed, "closing").value == 1.0
    unannounced = [*greeting(), *turn(4.0, "A person please", "caller_asked_for_human", None,
                                      ["transfer"]), *transfer(9.0)]
    assert score(unannounced, "closing").value == 0.0
    bye = [*greeting(), *turn(4.0, "That's all", "kb_match", "Thank you, goodbye!",
                              ["say", "hangup"]), *ended(9.0, "dialplan")]
    assert score(bye, "closing").value == 1.0
    assert score(bye, "closing", phrases=["see you"]).value == 0.0
    assert score(answered(), "closing").evidence == {"not_applicable": "the caller hung up first"}


def test_resolution_transfers_need_a_reason_and_abandoned_calls_count_apart():
    assert score(answered(), "resolution").value == 1.0
    handed = [*greeting(), *turn(4.0, "Person", "caller_asked_for_human", "One moment.",
                                 ["say", "transfer"])]
    assert score([*handed, *transfer(9.0)], "resolution").value == 1.0
    nameless = score([*handed, *transfer(9.0, reason="")], "resolution")
    assert nameless.value == 0.0 and nameless.evidence["transfer_reason"] is None
    abandoned = [*greeting(), *ended(6.0, "caller_hangup")]
    assert score(abandoned, "resolution").value is None
    assert score(abandoned, "resolution").evidence["outcome"] == "abandoned"
    assert score(abandoned, "resolution", abandoned=0.2).value == 0.2
    assert score(answered(end="rtp_timeout"), "resolution").value == 0.0
    assert score(greeting(), "resolution").value is None  # not ended yet


def test_emergency_transfer_fast_scores_1_slow_0():
    said = turn(4.0, "My friend collapsed", "emergency", "Connecting you to help now.",
                ["say", "transfer"])  # the caller stops at 5.5
    fast = score([*greeting(), *said, *transfer(8.0, "emergency")], "emergency", max_s=6)
    assert fast.value == 1.0 and fast.evidence["transfer_after_s"] == 2.5
    slow = score([*greeting(), *said, *transfer(14.0, "emergency")], "emergency", max_s=6)
    assert slow.value == 0.0 and slow.evidence["transfer_after_s"] == 8.5
    never = score([*greeting(), *said, *ended(14.0, "caller_hangup")], "emergency")
    assert never.value == 0.0 and never.evidence["transfer"] is None
    # acted on the caller's first words, before they finished: timed from the decision
    partial = [*greeting(), ev(4.0, "speech.start", at=4.0, bot_busy=False),
               ev(5.0, "dialog.decision", reason="self_harm", node="q",
                  actions=["say", "transfer"], partial=True),
               ev(9.0, "speech.end", at=8.7, speech_ms=4700), *transfer(8.0, "self_harm")]
    assert score(partial, "emergency").evidence["transfer_after_s"] == 3.0
    assert score(answered(), "emergency").value is None


def test_latency_share_of_turns_over_the_limit_with_p50_and_p95():
    events = [*greeting(), *turn(4.0, "Roaming?", "kb_match", "Five.", ["answer"], wait_s=0.8),
              *turn(14.0, "And data?", "kb_match", "Ten.", ["answer"], wait_s=3.0),
              *ended(25.0, "caller_hangup")]
    result = score(events, "latency", limit_s=2.0)
    assert result.value == 0.5
    assert result.evidence["turns"] == 2 and result.evidence["over_limit"] == 0.5
    assert result.evidence["p50_s"] == pytest.approx(1.9)
    assert result.evidence["p95_s"] == pytest.approx(2.89)
    assert score(events, "latency", limit_s=3.5).value == 1.0
    assert score([*greeting(), *ended(9.0, "caller_hangup")], "latency").value is None


def test_barge_ins_counted_past_the_allowance():
    assert score(answered(), "barge_ins").value == 1.0
    barged = answered() + [ev(t, "barge_in", dropped_s=1.0) for t in (6.0, 7.0, 8.0)]
    barged.sort(key=lambda e: e.t)
    result = score(barged, "barge_ins", allowed=1, penalty=0.25)
    assert result.value == 0.5 and result.evidence["count"] == 3


def test_long_silences_are_gaps_with_neither_side_speaking():
    # greeting 0..2 s, caller 4..5.5, answer 6.1..9.1, hang-up at 12: no gap over 5 s
    assert score(answered(), "silences", gap_s=5).value == 1.0
    late = [*greeting(), *turn(10.0, "Roaming?", "kb_match", "Five.", ["answer"]),
            *ended(26.0, "caller_hangup")]  # 2..10 quiet, then 15.1..26 quiet
    result = score(late, "silences", gap_s=5, penalty=0.5)
    assert result.value == 0.0 and result.evidence["gaps"] == [[2.0, 8.0], [15.1, 10.9]]
    held = late[:4] + [ev(3.0, "sip.hold", direction="sendonly"),
                       ev(9.5, "sip.unhold", direction="sendrecv")] + late[4:]
    assert score(held, "silences", gap_s=5).evidence["count"] == 1
    # a barge-in cuts the bot's queued audio: the quiet starts there
    cut = [*greeting(), ev(0.5, "barge_in", dropped_s=1.5), *ended(7.0, "caller_hangup")]
    assert score(cut, "silences", gap_s=5).evidence["gaps"] == [[0.5, 6.5]]
    # a pause holds it (and what is queued meanwhile) until the bot resumes: greeting 0..0.5
    # and 1.5..3, the sentence queued in the pause 3..4
    paused = [*greeting(), ev(0.5, "bot.paused", held_s=1.5),
              ev(1.0, "bot.say", text="More.", audio_s=1.0),
              ev(1.5, "bot.resumed", paused_s=1.0), *ended(10.0, "caller_hangup")]
    assert score(paused, "silences", gap_s=5).evidence["gaps"] == [[4.0, 6.0]]


def test_repeated_questions_and_prompts_but_not_short_answers():
    events = [*greeting(),
              *turn(4.0, "How much is roaming in Canada?", "kb_match", "Five dollars a day.",
                    ["answer"]),
              *turn(12.0, "how much is roaming in canada", "kb_match", "Five dollars a day.",
                    ["answer"]),
              *turn(20.0, "yes", "yes", "Okay.", ["say"]),
              *turn(28.0, "yes", "yes", "Okay.", ["say"]),
              *ended(35.0, "caller_hangup")]
    result = score(events, "repeats", allowed=0, penalty=0.5)
    assert result.evidence["caller"] == ["how much is roaming in canada"]
    assert result.evidence["bot"] == ["Five dollars a day."]
    assert result.value == 0.0
    assert score(answered(), "repeats").value == 1.0


def test_sentiment_by_quarter_rewards_a_call_that_ends_calm():
    def mood(t: float, value: float, reason: str = "kb_match", **evidence: Any) -> list[Event]:
        return [ev(t, "anger", score=value, smoothed=value, escalate=False, verdict="calm"),
                ev(t, "dialog.decision", reason=reason, node="q", actions=["answer"],
                   **evidence)]

    calmed = [*greeting(), *mood(2.0, 0.9), *mood(12.0, 0.4), *mood(35.0, 0.1),
              *ended(40.0, "caller_hangup")]
    result = score(calmed, "sentiment")
    assert result.evidence["quarters"] == [0.9, 0.4, None, 0.1] and result.value == 0.9
    worsened = [*greeting(), *mood(2.0, 0.0), *mood(35.0, 0.2, mood="frustrated"),
                *ended(40.0, "caller_hangup")]
    assert score(worsened, "sentiment", upset_at=0.7).value == pytest.approx(0.3)
    assert score(answered(), "sentiment").value is None


def test_survey_answer_scores_as_the_rubric_says():
    def surveyed(answer: str) -> list[Event]:
        return [*answered()[:-1], ev(11.0, "slot", name="survey", value=answer),
                *ended(12.0, "caller_hangup")]

    assert score(surveyed("yes"), "survey").value == 1.0
    assert score(surveyed("no"), "survey").value == 0.0
    assert score(surveyed("no"), "survey", answers={"no": 0.3}).value == 0.3
    assert score(answered(), "survey").value is None


def test_the_total_is_the_weighted_mean_of_the_criteria_that_apply(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: two\ncriteria:\n"
                    "  - {id: resolution, title: R, weight: 3}\n"
                    "  - {id: latency, title: L, weight: 1, params: {limit_s: 0.5}}\n"
                    "  - {id: emergency, title: E, weight: 5}\n")
    scores = score_call(answered(), load_rubric(path))  # resolved 1, late 0, no emergency
    assert scores.rubric == "two" and scores.total == 75.0
    assert [c.id for c in scores.criteria] == ["resolution", "latency", "emergency"]
    assert scores.as_json()["criteria"][2] == {
        "id": "emergency", "title": "E", "weight": 5.0, "score": None,
        "evidence": {"not_applicable": "no emergency"}}
    assert score_call([*greeting()[:1]], load_rubric(path)).total is None


# ---- scores kept in the store ------------------------------------------------------------------
def test_the_store_writer_scores_every_finished_call(tmp_path, caplog, monkeypatch):
    store = CallStore.open(str(tmp_path / "calls.db"))
    writer = StoreWriter(store, "w1")
    feed(writer, "done", call_events("done", questions=1, end="transferred"))
    feed(writer, "open", call_events("open", end="open"))
    assert writer.flush()
    qa = store.call("done")["qa_scores"]
    assert qa["rubric"] == "default" and 0 <= qa["total"] <= 100
    by_id = {c["id"]: c for c in qa["criteria"]}
    assert set(by_id) == set(CHECKS)
    assert by_id["resolution"]["score"] == 1.0
    assert by_id["resolution"]["evidence"]["transfer_reason"] == "caller_asked_for_human"
    assert by_id["closing"]["evidence"]["transfer_announcement"].startswith("Let me put you")
    assert store.call("open")["qa_scores"] is None  # not ended: nothing to score yet

    def broken(events):
        raise ZeroDivisionError("rubric bug")

    monkeypatch.setattr("ivr.store.writer.score_at_end", broken)
    with caplog.at_level(logging.ERROR, "ivr.store"):
        feed(writer, "kept", call_events("kept", end="caller_hangup"))
        assert writer.flush()
    kept = store.call("kept")
    assert kept["outcome"] is not None and kept["ticket"] and kept["qa_scores"] is None
    assert "call kept: QA scoring failed" in caplog.text and "rubric bug" in caplog.text
    writer.close()


def test_ivr_qa_score_table_totals_csv_and_rescore(tmp_path, capsys):
    writer = StoreWriter(CallStore.open(default_url(tmp_path)), "w1")
    feed(writer, "call-t", call_events("call-t", end="transferred"))
    feed(writer, "call-r", call_events("call-r", questions=2, end="caller_hangup"))
    feed(writer, "call-o", call_events("call-o", end="open"))
    writer.close()
    strict = tmp_path / "strict.yaml"
    strict.write_text("name: strict\ncriteria:\n"
                      "  - {id: resolution, title: Resolved, weight: 1}\n"
                      "  - {id: repeats, title: Repeats, weight: 1, params: {penalty: 0.25}}\n")

    out_csv = tmp_path / "scores.csv"
    assert main(["qa", "score", "--recordings", str(tmp_path), "--since", "1h",
                 "--csv", str(out_csv), "--rubric", str(strict)]) == 0
    out = capsys.readouterr().out
    header, *rows = out.split("\n\n")[0].splitlines()
    assert header.split()[-2:] == ["resolution", "repeats"]
    assert [r.split()[2] for r in rows] == ["call-t", "call-r"]  # finished calls, oldest first
    assert rows[1].split()[-3:] == ["75.0", "1.00", "0.50"]  # asked and answered twice
    assert "acme-mobile" in rows[0] and "transferred" in rows[0]
    totals = out.split("\n\n")[1]
    assert "per day" in totals and "per hotline" in totals
    assert any(line.split() == ["acme-mobile", "2", "0", "87.5", "75.0"]
               for line in totals.splitlines())
    assert "2 call(s) scored with rubric strict" in out
    with out_csv.open() as f:
        table = list(csv.DictReader(f))
    assert [r["call_id"] for r in table] == ["call-t", "call-r"]
    assert table[1]["repeats"] == "0.5" and table[1]["total"] == "75.0"
    assert set(table[0]) == {"call_id", "started_at", "hotline", "outcome", "rubric", "total",
                             "resolution", "repeats"}

    store = CallStore.open(default_url(tmp_path), migrate=False)
    assert store.call("call-r")["qa_scores"]["rubric"] == "default"  # not rescored yet
    assert main(["qa", "score", "call-r", "--store", str(tmp_path / "calls.db"),
                 "--rubric", str(strict), "--rescore"]) == 0
    assert "scores written to the store" in capsys.readouterr().out
    assert store.call("call-r")["qa_scores"]["rubric"] == "strict"
    store.close()

    assert main(["calls", "show", "call-r", "--recordings", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "QA score 75.0/100 (rubric strict)" in shown
    assert "repeats      0.50" in shown and "caller=['How much does roaming" in shown
    assert main(["qa", "score", "nope", "--recordings", str(tmp_path)]) == 2
    assert "no call 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncriteria: []\n")
    assert main(["qa", "score", "--recordings", str(tmp_path), "--rubric", str(bad)]) == 2
    assert f"{bad}:2:1: criteria: List should have at least 1 item" in capsys.readouterr().err


def test_qa_help_lists_the_criteria(capsys):
    with pytest.raises(SystemExit):
        main(["qa", "--help"])
    out = capsys.readouterr().out
    assert "rubric" in out and all(f"  {name} " in out for name in CHECKS)


# ---- call.start carries the wall-clock start; replay reads it -----------------------------------
def test_call_start_carries_its_wall_clock_time_and_replay_uses_it(tmp_path):
    assert "at" in CATALOGUE["call.start"].optional
    plan = load_dialplan(DEMO_PLAN)
    # stand-in engines: building a session asks no model (its indexes are given)
    engines = Engines(asr=None, voices={}, embedder=object(), retrievers={
        plan.sha256: SimpleNamespace(embedder=None), plan.sha256 + ":menus": object(),
        plan.sha256 + ":documents": None})
    when = dt.datetime(2026, 12, 24, 21, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    record = tmp_path / "c1.jsonl"
    log = EventLog(ManualClock(), record, strict=True)
    CallSession("c1", plan, engines, log, caller_number="+15550100", now=when)
    log.close()
    assert log.events[0]["at"] == "2026-12-24T19:30:00.000+00:00"
    write_wav(tmp_path / "c1.wav", b"\0\0" * 800, 8000)

    call, = calls_at(record)  # no store: the record's own time
    assert call.started_at == when

    old = tmp_path / "old"
    old.mkdir()
    lines = record.read_text().splitlines()
    (old / "c1.jsonl").write_text("\n".join([lines[0].replace(', "at": "2026-12-24T19:30:00'
                                                              '.000+00:00"', ""), *lines[1:]])
                                  + "\n")
    write_wav(old / "c1.wav", b"\0\0" * 800, 8000)
    assert calls_at(old / "c1.jsonl")[0].started_at is None  # older records: no time
    (old / "c1.jsonl").write_text(record.read_text().replace("2026-12-24T19:30", "Christmas"))
    with pytest.raises(IvrError, match="not an ISO 8601 time"):
        calls_at(old / "c1.jsonl")
