"""Prometheus metrics: what a call's events add, and `ivr serve`'s /metrics after a real call
(warm-up before the banner, the answer from the pre-spoken store)."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from ivr.events import EventLog, ManualClock
from ivr.metrics import CallMetrics
from ivr.qa.synth import synth_caller

from sip.media_files import write_ulaw
from sip.siptest import free_udp_port, new_records, records, rtp_base, run_sipp, verbatim_plan
from test_sip_serve import Serve


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_calls_events_move_the_metrics():
    clock = ManualClock()
    events = EventLog(clock, strict=True)
    events.subscribe(CallMetrics())
    before = {"active": sample("ivr_calls_active"),
              "ended": sample("ivr_calls_total", outcome="transfer"),
              "transfers": sample("ivr_transfers_total", reason="emergency"),
              "guard": sample("ivr_guard_decisions_total", kind="emergency"),
              "asr": sample("ivr_stage_seconds_count", stage="asr"),
              "first": sample("ivr_stage_seconds_count", stage="first_bot_audio"),
              "first_sum": sample("ivr_stage_seconds_sum", stage="first_bot_audio"),
              "eot": sample("ivr_stage_seconds_count", stage="end_of_turn"),
              "eot_sum": sample("ivr_stage_seconds_sum", stage="end_of_turn"),
              **{v: sample("ivr_turn_verdicts_total", verdict=v)
                 for v in ("ended", "vetoed", "incomplete", "failed")},
              **{f"{st}/{k}": sample("ivr_engine_failures_total", stage=st, kind=k)
                 for st, k in (("asr", "timeout"), ("tts", "error"), ("llm", "timeout"),
                               ("llm", "error"), ("llm", "over_budget"))},
              **{f"tool/{r}": sample("ivr_tool_calls_total", tool="free_slots", result=r)
                 for r in ("ok", "error")},
              "tool_sum": sample("ivr_tool_seconds_sum", tool="free_slots")}
    events.emit("call.start", call_id="c1", caller="100", dialplan="p", dialplan_sha256="0")
    events.emit("playout.first_frame")  # the greeting: no caller speech before it, not counted
    assert sample("ivr_calls_active") == before["active"] + 1
    clock.advance(1.45)
    events.emit("turn.judged", at=1.0, complete=False, probability=0.2, compute_s=0.1, ended=False,
                error="")
    events.emit("turn.judged", at=1.0, complete=False, probability=0.9, compute_s=0.1, ended=False,
                error="", text="I was charged because")
    events.emit("turn.judged", at=1.0, complete=False, probability=None, compute_s=0.0,
                ended=False, error="RuntimeError: gone")
    events.emit("turn.judged", at=1.0, complete=True, probability=0.9, compute_s=0.1, ended=True,
                error="", text="Help.")
    events.emit("speech.end", at=1.0, speech_ms=900)
    speech_end = events.events[-1].wall
    events.emit("engine.failure", stage="asr", timed_out=True, error="TimeoutError: ")
    events.emit("engine.failure", stage="tts", timed_out=False, error="OSError: voice gone")
    events.emit("llm.error", error="ReadTimeout: timed out")
    events.emit("llm.error", error="ConnectError: refused")
    events.emit("llm.over_budget", budget_ms=900)
    events.emit("tool.call", tool="free_slots", ms=40, fields=["times"])
    events.emit("tool.call", tool="free_slots", ms=300, error="no answer within 300 ms")
    events.emit("asr.final", text="help", language="en", rtf=0.1, compute_s=0.3)
    events.emit("dialog.decision", reason="emergency", node="main", actions=["say", "transfer"])
    events.emit("dialog.decision", reason="answer", node="main", actions=["answer"])
    events.emit("tts.first_audio", compute_s=0.001, rtf=0.0, source="disk")
    time.sleep(0.05)
    events.emit("playout.first_frame")
    waited = events.events[-1].wall - speech_end
    events.emit("transfer.request", target="sip:112@x", reason="emergency", summary="",
                summary_full="")
    events.emit("call.end", reason="transfer", turns=1, slots={}, summary="", summary_full="")
    assert sample("ivr_calls_active") == before["active"]
    assert sample("ivr_calls_total", outcome="transfer") == before["ended"] + 1
    assert sample("ivr_transfers_total", reason="emergency") == before["transfers"] + 1
    assert sample("ivr_guard_decisions_total", kind="emergency") == before["guard"] + 1
    assert sample("ivr_guard_decisions_total", kind="answer") == 0
    assert sample("ivr_stage_seconds_count", stage="asr") == before["asr"] + 1
    assert sample("ivr_stage_seconds_count", stage="first_bot_audio") == before["first"] + 1
    assert sample("ivr_stage_seconds_sum", stage="first_bot_audio") == pytest.approx(
        before["first_sum"] + waited)
    assert sample("ivr_stage_seconds_count", stage="end_of_turn") == before["eot"] + 1
    assert sample("ivr_stage_seconds_sum", stage="end_of_turn") == pytest.approx(
        before["eot_sum"] + clock.now() - 1.0)
    for verdict in ("ended", "vetoed", "incomplete", "failed"):
        assert sample("ivr_turn_verdicts_total", verdict=verdict) == before[verdict] + 1, verdict
    for key in ("asr/timeout", "tts/error", "llm/timeout", "llm/error", "llm/over_budget"):
        stage, kind = key.split("/")
        assert sample("ivr_engine_failures_total", stage=stage, kind=kind) == before[key] + 1, key
    for result in ("ok", "error"):
        assert sample("ivr_tool_calls_total", tool="free_slots", result=result) == \
            before[f"tool/{result}"] + 1, result
    assert sample("ivr_tool_seconds_sum", tool="free_slots") == pytest.approx(
        before["tool_sum"] + 0.34)


def test_metrics_port_and_tts_store_options_of_serve():
    from ivr.cli.main import build_parser
    from ivr.cli.serve import metrics_port, stack_settings
    from ivr.errors import IvrError

    parse = build_parser().parse_args
    assert metrics_port(parse(["serve"])) == 9060
    assert metrics_port(parse(["serve", "--port", "5080"])) == 9080
    assert metrics_port(parse(["serve", "--metrics-port", "0"])) == 0
    with pytest.raises(IvrError, match="not a TCP port"):
        metrics_port(parse(["serve", "--metrics-port", "70000"]))
    settings = stack_settings(parse(["serve", "--tts-cache", "/tmp/x", "--tts-cache-mb", "20"]))
    assert (settings.metrics_port, settings.tts_cache, settings.tts_cache_mb) == (
        9060, Path("/tmp/x"), 20)
    with pytest.raises(IvrError, match="tts-cache-mb"):
        stack_settings(parse(["serve", "--tts-cache-mb", "-1"])).check()


def scrape(port: int) -> dict[str, float]:
    """/metrics as {'name{labels}': value} (labels as written, sorted by the client)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, trust_env=False).text
    found = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) ([-+0-9.eE]+|NaN|\+Inf)$", line)
        if match:
            found[match[1]] = float(match[2])
    return found


def child_pids(parent: int) -> list[int]:
    """Processes whose parent is `parent`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_warms_before_ready_and_its_metrics_count_a_call(tmp_path: Path, voice_en):
    plan = verbatim_plan(tmp_path)
    (tmp_path / "sipp").mkdir()
    write_ulaw(tmp_path / "sipp" / "caller.ulaw",
               synth_caller(voice_en, [(4.5, "How much does roaming cost?")]))
    port, metrics_port, recordings = free_udp_port(), free_tcp_port(), tmp_path / "recordings"
    serve = Serve("--port", str(port), "--rtp-port", str(rtp_base() + 10000),
                  "--dialplan", str(plan), "--recordings", str(recordings),
                  "--run-dir", str(tmp_path / "run"), "--console-port", "0",
                  "--metrics-port", str(metrics_port), "--tts-cache", str(tmp_path / "tts"))
    try:
        serve.wait_for("Ctrl-C stops it.", timeout_s=240)
        out = serve.output
        warmed = re.search(r"TTS warm-up of .*: (\d+) sentences \((\d+) from synthesis\)", out)
        assert warmed and warmed[1] == warmed[2] and int(warmed[1]) > 20, out
        assert out.index("TTS warm-up of") < out.index("starting 1 SIP worker") \
            < out.index("hotline answers on"), out
        assert f"http://127.0.0.1:{metrics_port}/metrics" in out
        assert len(list((tmp_path / "tts").glob("piper-*/*.pcm"))) == int(warmed[1])
        before = scrape(metrics_port)
        assert before.get('ivr_sip_slots_in_use{worker="w1"}') == 0, before
        started = records(recordings)
        result = run_sipp("uac_rtp_stream.xml", port, tmp_path / "sipp", hold_ms=13000)
        assert result.returncode == 0, f"{result}\n{serve.output[-3000:]}"
        call, = new_records(recordings, started)
        spoken = call.of("tts.first_audio")  # the greeting, then the answer
        assert [e["source"] for e in spoken] == ["disk"] * len(spoken), spoken  # pre-spoken
        assert spoken[-1]["compute_s"] < 0.02  # within a 20 ms tick of the decision
        assert "European Union" in call.said()
        after = scrape(metrics_port)
        outcome = call.one("call.end")["reason"]
        assert after.get(f'ivr_calls_total{{outcome="{outcome}"}}', 0) == 1, after
        assert after.get("ivr_calls_active") == 0
        for stage in ("asr", "tts_first_audio", "first_bot_audio"):
            assert after.get(f'ivr_stage_seconds_count{{stage="{stage}"}}', 0) >= 1, stage
        hits = after.get('ivr_tts_cache_total{layer="disk",result="hit"}', 0)
        assert hits >= before.get('ivr_tts_cache_total{layer="disk",result="hit"}', 0) + 2
        assert after.get('ivr_stage_seconds_count{stage="end_of_turn"}', 0) >= 1
        # a worker that dies is restarted, counted, and its replacement reports its slots
        assert after.get('ivr_worker_restarts_total{worker="w1"}') == 0, after
        (worker,) = [pid for pid in child_pids(serve.process.pid)
                     if b"ivr.sip.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:
            now = scrape(metrics_port)
            if now.get('ivr_worker_restarts_total{worker="w1"}') == 1 \
                    and now.get('ivr_sip_slots_in_use{worker="w1"}') == 0:
                break
            assert time.monotonic() < deadline, f"{now}\n{serve.output[-3000:]}"
            time.sleep(0.5)
        assert "SIP worker w1 exited with -9: restarting it" in serve.output
        assert serve.interrupt() == 0, serve.output[-3000:]
    finally:
        serve.kill()


def test_the_grafana_dashboard_charts_every_metric_by_its_exposed_name():
    import json

    from prometheus_client.metrics import MetricWrapperBase

    from ivr import metrics

    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    defined = [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]
    exposed = {m._name + suffix for m in defined for suffix in suffixes[m._type]}
    dashboard = json.loads((Path(__file__).parents[1] / "infra" / "grafana"
                            / "ivr-hotline.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in queries for name in re.findall(r"\bivr_[a-z_]+", expr)}
    assert used <= exposed, used - exposed
    uncharted = [m._name for m in defined
                 if not any(m._name + suffix in used for suffix in suffixes[m._type])]
    assert not uncharted
