"""QA replay of real SIP calls: the 20 recorded SIP calls in tests/data/calls (placed by sipp on
the shipped plans, see tests/sip/record_replay_calls.py) plus one live SIP call placed here
replay with every decision as recorded; a plan with two menu targets swapped shows exactly the
turns that chose them as changed, and `ivr replay` exits 1.

Re-record the 20 calls after an intended change of behaviour:
`.venv/bin/python tests/sip/record_replay_calls.py tests/data/calls`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.qa.replay import ReplayResult
from ivr.qa.replay_runner import ReplaySettings, Replayer, replay_batch
from ivr.qa.replay_sources import calls_at
from ivr.record import CallRecord

from conftest import ROOT
from sip.record_replay_calls import CALLS, SipCall, keep, record_one
from sip.siptest import worker

pytestmark = pytest.mark.slow

STORED = ROOT / "tests" / "data" / "calls"
LIVE = SipCall("live-faq-roaming", "acme-mobile", says=((4.5, "How much does roaming cost?"),),
               hold_s=17, expect=("kb_match",))
HARDWARE = "it-hardware-support"


def decided(turns: list, expect: tuple[str, ...]) -> bool:
    """Whether `expect` (decision prefixes) occur in order among the turns' decisions."""
    decisions = iter(t.decision for t in turns)
    return all(any(d.startswith(want) for d in decisions) for want in expect)


@pytest.fixture(scope="module")
def calls(tmp_path_factory, sip_models, llm_server) -> Path:
    """The stored SIP calls and one placed now, in one folder."""
    folder = tmp_path_factory.mktemp("calls")
    for call in CALLS:
        for suffix in (".jsonl", ".wav"):
            shutil.copy(STORED / f"sip-{call.name}{suffix}", folder)
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS

    work = tmp_path_factory.mktemp("live")
    with worker(work, ROOT / "dialplans" / "acme-mobile.yaml", sip_models.base_url,
                llm_url=llm_server.base_url) as bot:
        record = record_one(LIVE, bot, PiperTTS(*piper_joe(), deterministic=True), work)
    keep(record, LIVE, folder)
    return folder


@pytest.fixture(scope="module")
def asr_cache(tmp_path_factory) -> Path:
    """One transcript cache for the module: the changed plan's replay hears the same audio."""
    return tmp_path_factory.mktemp("asr") / "asr.db"


@pytest.fixture(scope="module")
def replayed(calls: Path, engines, asr_cache: Path) -> dict[str, ReplayResult]:
    settings = ReplaySettings(asr_cache=asr_cache)
    results = replay_batch(calls_at(calls), settings, replayer=Replayer(settings, engines))
    assert all(isinstance(r, ReplayResult) for r in results), results
    return {r.call_id: r for r in results}  # type: ignore[union-attr]


def test_twenty_sip_calls_and_a_live_one_replay_with_every_decision(replayed):
    assert set(replayed) == {f"sip-{c.name}" for c in (*CALLS, LIVE)}
    for call in (*CALLS, LIVE):
        result = replayed[f"sip-{call.name}"]
        changed = [d for d in result.diffs if d.decision_changed]
        assert not result.decision_changed, (call.name, changed, result.call_changes)
        assert decided(result.replayed.turns, call.expect), (call.name, result.replayed.turns)
        if call is not LIVE:  # each stored call was a real SIP call
            assert CallRecord.read(STORED / f"sip-{call.name}.jsonl").of("sip.invite")
    nodes = {t.node for r in replayed.values() for t in r.replayed.turns}
    assert {"questions", "problem_menu", "power_intro", "disk_intro",
            "general_questions"} <= nodes, nodes
    outcomes = {r.replayed.outcome for r in replayed.values()}
    assert {"resolved", "transferred", "abandoned"} <= outcomes, outcomes


def test_swapped_menu_targets_change_exactly_the_turns_that_choose_them(
        calls: Path, replayed, asr_cache: Path, llm_server, tmp_path: Path, capsys):
    """Keys 1 and 2 (and the words for power and disks) lead to each other's node in a copy of
    the plan: the four calls that chose one of them change at that turn and nowhere else."""
    text = (ROOT / "dialplans" / f"{HARDWARE}.yaml").read_text(encoding="utf-8")
    power, disks = "        next: power_intro\n", "        next: disk_intro\n"
    assert text.count(power) == text.count(disks) == 1
    plan = tmp_path / f"{HARDWARE}.yaml"
    plan.write_text(text.replace(power, "@@").replace(disks, power).replace("@@", disks))
    for shared in ("knowledge", ".kb"):  # the plan's FAQ file, documents and their index
        if (ROOT / "dialplans" / shared).exists():
            (tmp_path / shared).symlink_to(ROOT / "dialplans" / shared)
    hardware = tmp_path / "calls"
    hardware.mkdir()
    for call in CALLS:
        if call.plan == HARDWARE:
            for suffix in (".jsonl", ".wav"):
                shutil.copy(calls / f"sip-{call.name}{suffix}", hardware)
    code = main(["replay", str(hardware), "--dialplan", str(plan), "--json", "--jobs", "1",
                 "--llm-url", llm_server.base_url, "--asr-cache", str(asr_cache)])
    captured = capsys.readouterr()
    assert code == 1, captured.err[-2000:]
    report = json.loads(captured.out)
    changed = {c["call_id"]: [d["idx"] for d in c["diffs"]
                              if set(d["changed"]) & {"node", "decision", "transfer"}]
               for c in report["calls"]}
    chose = {"sip-serial-keys-menu-key-1", "sip-serial-keys-menu-key-2",
             "sip-serial-spoken-menu-spoken", "sip-menu-spoken-power"}
    assert {call_id: changed.pop(call_id) for call_id in chose} == dict.fromkeys(chose, [2])
    assert changed and all(turns == [] for turns in changed.values()), changed
    assert len(changed) == sum(c.plan == HARDWARE for c in CALLS) - len(chose)
    assert report["totals"]["decisions_changed"] == len(chose), report["totals"]
