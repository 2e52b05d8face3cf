"""`ivr bench load`'s verdicts (what counts as a failed call, a media gap, a passed level) and
`ivr bench sip`'s latency apart per path, and the process-tree CPU and memory both report."""

from __future__ import annotations

import time

from ivr.sip.load import Level, failed, summarise


def call(latencies=(0.6, 0.7, 0.8), **report) -> dict:
    return {"connected": True, "state": "ended", "max_rx_gap_ms": 40.0,
            "turns": [{"latency_ms": None if ms is None else ms * 1000} for ms in latencies],
            **report}


def stats(**media) -> dict:
    return {"recorded_s": 30.0, "tx_underruns": 0, "max_underrun_run": 0, **media}


def level(reports, records=None) -> Level:
    return Level(4, reports=reports, records=records or [stats() for _ in reports],
                 wall_s=60.0, cpu_s={"worker w1": 6.0, "models": 12.0}, rss_mb_max=900.0,
                 peak_up=4)


def test_a_call_fails_unconnected_cut_short_or_with_a_question_unanswered():
    assert not failed(call())
    assert failed(call(connected=False))
    assert failed(call(state="caller crashed"))
    assert failed(call(latencies=(0.6, None, 0.8)))
    assert failed(call(latencies=(0.6, 0.7)))


def test_a_level_passes_only_without_failures_gaps_or_slow_turns():
    good = summarise(level([call() for _ in range(4)]), p95_limit_s=1.5)
    assert good["passed"] and good["turns"] == 12 and good["failed"] == 0
    assert good["turn_latency_s"]["max"] == 0.8
    assert good["cpu_per_call_pct"] == {"SIP workers": 5.0, "whole stack": 15.0,
                                        "by component": {"models": 10.0, "worker w1": 5.0}}
    assert good["rss_mb"] == {"stack max": 900, "per call up": 225}

    slow = summarise(level([call((0.6, 0.7, 2.0)) for _ in range(4)]), p95_limit_s=1.5)
    assert not slow["passed"] and slow["turn_latency_s"]["p95"] > 1.5
    one_failed = summarise(level([call(), call(connected=False)]), p95_limit_s=1.5)
    assert not one_failed["passed"] and one_failed["failed"] == 1
    stalled = summarise(level([call(), call(max_rx_gap_ms=140.0)]), p95_limit_s=1.5)
    assert not stalled["passed"]
    assert stalled["media_gaps"]["caller waited > 100 ms for a frame"] == 1
    # 4 frames (80 ms) of bot audio missing in a row is under the bar; 5 (100 ms) is a gap
    stalled_clock = summarise(level([call()], [stats(max_tick_gap_ms=120.0)]), 1.5)
    assert not stalled_clock["passed"]
    assert stalled_clock["media_gaps"]["worker's media clock stalled > 100 ms"] == 1
    short = summarise(level([call()], [stats(tx_underruns=4, max_underrun_run=4)]), 1.5)
    gap = summarise(level([call()], [stats(tx_underruns=5, max_underrun_run=5)]), 1.5)
    assert short["passed"] and not gap["passed"]
    never_full = level([call() for _ in range(4)])
    never_full.peak_up = 3
    assert not summarise(never_full, 1.5)["passed"]  # 4 calls were never up at once


def test_the_sip_bench_reports_hand_offs_and_answers_apart():
    from ivr.sip.bench import _by_path

    paths = _by_path([600.0, 700.0, 1300.0, 180.0], [False, False, False, True],
                     [{"path": "answer"}, {"path": "answer"}, {"path": "llm"}])
    assert paths["  ... emergency hand-off"] == (180.0, 180.0, 1)
    assert paths["  ... answer as written"][2] == 2
    assert paths["  ... answer the LLM phrased"] == (1300.0, 1300.0, 1)
    # an unanswered turn leaves the answers unpaired: only the hand-off is reported
    assert list(_by_path([600.0, None, 180.0], [False, False, True],
                         [{"path": "answer"}])) == ["  ... emergency hand-off"]


def test_the_process_tree_counts_a_child_and_its_cpu():
    import os
    import subprocess
    import sys

    from ivr.sip.proctree import cpu_seconds, rss_bytes, tree

    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.5: pass\ntime.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while cpu_seconds(child.pid) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child.pid in tree(os.getpid())
        assert cpu_seconds(os.getpid()) >= cpu_seconds(child.pid) >= 0.4
        assert rss_bytes(os.getpid()) > rss_bytes(child.pid) > 1 << 20
    finally:
        child.kill()
        child.wait()
    assert tree(child.pid) == [] and cpu_seconds(child.pid) == 0.0


def test_the_converse_bench_plan_sends_every_bench_question_down_the_llm_path():
    from pathlib import Path

    from ivr.dialplan.loader import load_dialplan
    from ivr.qa.kb_eval import KBRunner
    from ivr.sip.bench import QUESTIONS

    plan = Path(__file__).parents[1] / "infra" / "bench" / "acme-converse.yaml"
    runner = KBRunner(load_dialplan(plan))
    for question in QUESTIONS:
        dialog = runner.engine()
        dialog.start()
        step = dialog.on_text(question, "en")
        assert step.reason == "converse", (question, step.reason, step.evidence)


def test_the_host_probe_reports_a_pause_it_was_made_to_sit_through():
    import os
    import signal

    from ivr.sip.host_stalls import MIN_MS, HostStallProbe

    probe = HostStallProbe().start()
    time.sleep(1.0)   # its interpreter is up and sleeping in 5 ms steps
    os.kill(probe.process.pid, signal.SIGSTOP)   # a host that stops running it for 0.4 s
    time.sleep(0.4)
    os.kill(probe.process.pid, signal.SIGCONT)
    time.sleep(0.3)
    seen = probe.stop()
    assert seen is not None and seen.stalls >= 1 and MIN_MS <= 300 <= seen.max_ms < 2000
    assert 1.5 <= seen.seconds < 10


def test_a_level_reports_the_host_pauses_beside_its_verdict():
    from ivr.sip.host_stalls import HostStalls
    from ivr.sip.load import verdict_line

    paused = level([call() for _ in range(4)])
    paused.host = HostStalls(120.0, 3, 76.0)
    figures = summarise(paused, 1.5)
    assert figures["host_stalls"] == {"count": 3, "max_ms": 76.0} and figures["passed"]
    assert "host pauses of an idle probe: 3 >= 30 ms, worst 76 ms" in verdict_line(figures)
