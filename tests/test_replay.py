"""QA replay: the recorded regression calls (tests/data/calls) replay through the shipped plans
with every decision as recorded; a changed plan shows exactly the changed turns and exits 1;
errors exit 2 with one line that says what to do.

Re-record the calls after an intended change: `ivr replay tests/data/calls --accept` (or
`python -m ivr.qa.replay_record tests/data/calls`); see tests/data/calls/README.md."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from ivr.audio.wavfile import write_wav
from ivr.cli.main import main
from ivr.qa.replay import ReplayResult, Turn, compare
from ivr.qa.replay_runner import ReplaySettings, Replayer, replay_batch
from ivr.qa.replay_sources import calls_at, calls_in_store
from ivr.record import CallRecord
from ivr.store import schema
from ivr.store.rows import Write
from ivr.store.store import CallStore

from conftest import ROOT

CALLS = ROOT / "tests" / "data" / "calls"
EXPECTED = {  # what each recorded call did: a replay that loses it fails here, not silently
    "faq-roaming": ("kb_match (roaming)", "resolved"),
    "ask-for-person": ("caller_asked_for_human", "transferred"),
    "emergency": ("emergency", "transferred"),
    "menu-by-keys": ("menu_choice", "abandoned"),
}


@pytest.fixture(scope="module")
def replayed(engines) -> dict[str, ReplayResult]:
    offline = [c for c in calls_at(CALLS) if c.call_id in EXPECTED]  # sip-*: test_replay_sip
    results = replay_batch(offline, ReplaySettings(), jobs=1,
                           replayer=Replayer(ReplaySettings(), engines=engines))
    assert all(isinstance(r, ReplayResult) for r in results), results
    return {r.call_id: r for r in results}  # type: ignore[union-attr]


def test_every_recorded_call_replays_with_the_same_decisions(replayed):
    assert set(replayed) == set(EXPECTED)
    for call_id, (decision, outcome) in EXPECTED.items():
        result = replayed[call_id]
        assert not result.decision_changed, (call_id, [d for d in result.diffs if d.changed])
        assert decision in [t.decision for t in result.replayed.turns], call_id
        assert result.original.outcome == result.replayed.outcome == outcome
    assert replayed["emergency"].replayed.transfer == "sip:emergency@127.0.0.1:5070 (emergency)"
    assert "[key 3]" in replayed["menu-by-keys"].replayed.turns[2].heard


def test_a_changed_plan_shows_the_changed_turns_exits_1_and_marks_the_html(
        tmp_path: Path, llm_server, capsys):
    plan = tmp_path / "acme.yaml"
    text = (ROOT / "dialplans" / "acme-mobile.yaml").read_text()
    roaming = text.index("  - id: roaming")
    text = text[:roaming] + text[text.index("  - id: data_plans"):]  # the roaming FAQ removed
    plan.write_text(text.replace("default: sip:agents@127.0.0.1:5070",
                                 "default: sip:front-desk@127.0.0.1:5070"))
    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("faq-roaming", "ask-for-person"):
        for suffix in (".jsonl", ".wav"):
            shutil.copy(CALLS / f"{name}{suffix}", calls)
    report = tmp_path / "report.html"
    code = main(["replay", str(calls), "--dialplan", str(plan), "--jobs", "1",
                 "--html", str(report), "--llm-url", llm_server.base_url])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "call faq-roaming: decisions changed" in out
    assert "decision  before: kb_match (roaming)" in out
    assert "call ask-for-person: decisions changed" in out
    assert "sip:front-desk@127.0.0.1:5070 (caller_asked_for_human)" in out
    assert "! turn 0" not in out, out  # the greeting did not change
    assert "replayed 2 call(s): 2 with changed decisions" in out
    page = report.read_text()
    assert "<script" not in page and "http" not in page.replace("sip:", "").split("<body>")[0]
    cells = [c.split("</td>")[0] for c in page.split('<td class="decision changed">')[1:]]
    assert any("kb_match (roaming)" in cell for cell in cells), cells
    assert "sip:front-desk@127.0.0.1:5070" in page


def test_compare_tells_decisions_from_wording():
    base = Turn(1, 4.4, "how much is roaming", "questions", "kb_match (roaming)", "llm",
                "Roaming is included.")
    worded = Turn(1, 4.4, "How much is roaming?", "questions", "kb_match (roaming)", "verbatim",
                  "Roaming in the EU is included.")
    moved = Turn(1, 4.4, "how much is roaming", "questions", "cannot_help", "prompt", "Sorry.")
    same, wording, decision, added = (compare([base], [base]), compare([base], [worded]),
                                      compare([base], [moved]), compare([], [base]))
    assert same[0].changed == ()
    assert wording[0].changed == ("source", "said") and wording[0].wording_changed
    assert decision[0].decision_changed and "decision" in decision[0].changed
    assert added[0].before is None and added[0].decision_changed


def test_a_stored_call_replays_at_its_recorded_time(tmp_path: Path, engines):
    store = CallStore.open(str(tmp_path / "calls.db"))
    started = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)
    store.write([Write(schema.calls, {
        "call_id": "menu-by-keys", "started_at": started, "worker": "w1", "schema_version": 1,
        "events_path": str(CALLS / "menu-by-keys.jsonl"), "recording_path": "/gone/x.wav",
        "outcome": schema.Outcome.ABANDONED})])
    (call,) = calls_in_store(store, CALLS, "menu-by-keys")
    store.close()
    assert call.started_at == started and call.wav == CALLS / "menu-by-keys.wav"
    assert call.keys[100] == "4" and call.keys[250] == "3" and call.hang_up == "caller_hangup"
    result = Replayer(ReplaySettings(), engines=engines).replay(call)
    assert isinstance(result, ReplayResult) and not result.decision_changed
    assert result.call_time == "2026-11-25T10:00+00:00 (recorded)"


def test_the_caller_is_the_left_channel_of_a_stereo_recording(tmp_path: Path):
    caller = (np.sin(np.arange(8000) / 5) * 8000).astype("<i2")
    bot = np.full(8000, 12000, "<i2")
    stereo = np.empty(16000, "<i2")
    stereo[0::2], stereo[1::2] = caller, bot
    write_wav(tmp_path / "call.wav", stereo.tobytes(), 8000, channels=2)
    record = CallRecord(tmp_path / "call.jsonl", [])
    assert record.caller_audio() == caller.tobytes()


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ivr: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_unknown_call_id_exits_2_and_says_what_to_do(tmp_path: Path, capsys):
    CallStore.open(str(tmp_path / "calls.db")).close()
    assert main(["replay", "no-such-call", "--recordings", str(tmp_path)]) == 2
    line = _one_error(capsys)
    assert "no call 'no-such-call' in the call store" in line and "ivr calls list" in line
    assert main(["replay", "no-such-call", "--recordings", str(tmp_path / "none")]) == 2
    assert "no call store in" in _one_error(capsys)


def test_a_missing_recording_exits_2_and_names_it(tmp_path: Path, capsys):
    shutil.copy(CALLS / "emergency.jsonl", tmp_path)
    assert main(["replay", str(tmp_path / "emergency.jsonl")]) == 2
    line = _one_error(capsys)
    assert "recording missing" in line and str(tmp_path / "emergency.wav") in line


def test_the_regression_calls_stay_small_and_g711():
    total = sum(p.stat().st_size for p in CALLS.iterdir())
    assert total < 3_300_000, total
    for wav in CALLS.glob("*.wav"):
        tag, channels, rate = struct.unpack_from("<HHI", wav.read_bytes(), 20)
        assert (tag, channels, rate) == (7, 1, 8000), wav
    for record in CALLS.glob("*.jsonl"):
        start = next(e for e in map(json.loads, record.read_text().splitlines())
                     if e["kind"] == "call.start")  # a SIP call's record opens with the INVITE
        assert not Path(start["dialplan"]).is_absolute(), record
