"""`ivr bench sip`: the hotline measured from the caller's side of a real SIP/RTP call.

1. Latency: `--turns` questions, six per call (five topics, as a caller who repeats himself
   is taken for an angry one, then an emergency), calls one after another; for each turn, end
   of the caller's speech -> first bot audio at the caller (p50/p95), apart for answers, answers
   the LLM was asked to phrase and emergency hand-offs, with the server-side stages from the
   call's event log (end-of-turn wait, ASR, first TTS audio, first RTP frame out).
2. Load: `--concurrent` calls at once (callers in processes of 4 calls), each hears the
   greeting, asks one question and hears the answer: calls completed, answer latency, bot
   audio underruns and media-clock lag in the workers, RTP loss both ways, and CPU seconds per
   call for each component (from /proc).

The hotline under test is started here exactly as `ivr serve` starts it (model service, LLM,
workers, Kamailio when more than one worker), on free loopback ports, unless `--target` names a
running one (then only caller-side figures are available).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ivr.qa.latency import percentiles, turn_latencies
from ivr.record import CallRecord
from ivr.sip.endpoint import MAX_CALLS
from ivr.sip.proctree import cpu_seconds

QUESTIONS = ["How do I pay my bill?", "How much does roaming cost?",
             "What data plans do you have?", "I lost my phone.", "Is there an outage?"]
EMERGENCY = "My husband collapsed and he is not breathing."
"""Said last in each latency call: the hand-off path (the caller declines the transfer)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ivr.cli.runtime import DEFAULT_DIALPLAN

    parser.add_argument("--turns", type=int, default=20, help="questions in the latency call")
    parser.add_argument("--concurrent", type=int, default=12, help="calls at once in the load phase")
    parser.add_argument("--workers", type=int, default=0,
                        help=f"SIP workers (default: enough for --concurrent at {MAX_CALLS} each)")
    parser.add_argument("--dialplan", type=Path, default=DEFAULT_DIALPLAN)
    parser.add_argument("--llm-url", default=os.environ.get("IVR_LLM_URL"))
    parser.add_argument("--target", help="bench a running hotline at this SIP URI instead")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="keep recordings, reports and logs here (default: a temp folder)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


@dataclass
class BenchResult:
    target: str = ""
    latency_turns: list[dict] = field(default_factory=list)     # caller-side turns
    latency_calls: list[dict] = field(default_factory=list)     # their calls' reports
    latency_handoff: list[bool] = field(default_factory=list)   # per caller turn: the emergency
    server_turns: list[dict] = field(default_factory=list)      # stages from the event logs
    load_calls: list[dict] = field(default_factory=list)        # caller reports
    load_records: list[dict] = field(default_factory=list)      # worker media.stats
    cpu_s: dict[str, float] = field(default_factory=dict)       # per component, load phase
    load_wall_s: float = 0.0
    cores: int = os.cpu_count() or 1


def run(args: argparse.Namespace) -> int:
    result = bench_sip(args)
    print(json.dumps(summarise(result), indent=2) if args.json else render(result))
    return 0


def bench_sip(args: argparse.Namespace) -> BenchResult:
    from ivr.llm.embedded import free_port
    from ivr.sip.stack import StackSettings, hotline

    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="ivr-bench-sip-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    if args.target:
        return _measure(args.target, run_dir, args, None)
    workers = args.workers or max(1, -(-args.concurrent // MAX_CALLS))
    settings = StackSettings(dialplan=args.dialplan, run_dir=run_dir / "stack",
                             recordings=run_dir / "recordings", port=free_port(),
                             workers=workers, rtp_port=30000 + (os.getpid() % 50) * 400,
                             llm_url=args.llm_url)
    with hotline(settings, say=lambda text: print(text, file=sys.stderr, flush=True)) as running:
        time.sleep(2.5)  # Kamailio's first OPTIONS round
        return _measure(running.uri, run_dir, args, running)


def _measure(target: str, run_dir: Path, args: argparse.Namespace, running) -> BenchResult:
    result = BenchResult(target=target)
    wavs = _question_wavs(run_dir, running)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    calls = -(-args.turns // len(wavs))
    say(f"latency: {args.turns} turns in {calls} calls, one after another...")
    before = _records(running)
    for c in range(calls):
        script = wavs[:min(len(wavs), args.turns - c * len(wavs))]
        reports = _callers(target, [(script, 1)], run_dir / f"latency-{c}")
        result.latency_turns += [t for r in reports for t in r["turns"]]
        result.latency_handoff += [i == len(QUESTIONS) for r in reports
                                   for i, _ in enumerate(r["turns"])]
        result.latency_calls += reports
    result.server_turns = _server_turns(_new_records(running, before, calls))
    say(f"load: {args.concurrent} calls at once...")
    before = _records(running)
    cpu_before = _cpu(running)
    started = time.monotonic()
    groups = [([wavs[g % len(QUESTIONS)]], min(MAX_CALLS, args.concurrent - g * MAX_CALLS))
              for g in range(-(-args.concurrent // MAX_CALLS))]
    result.load_calls = _callers(target, groups, run_dir / "load")
    result.load_wall_s = time.monotonic() - started
    cpu_after = _cpu(running)
    result.cpu_s = {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 2)
                    for name in cpu_after}
    result.load_records = [r.events[-1].data
                           for r in _new_records(running, before, args.concurrent)]
    return result


def _question_wavs(run_dir: Path, running) -> list[Path]:
    from ivr.audio.wavfile import write_wav
    from ivr.models.remote import remote_engines

    if running is None:
        raise SystemExit("--target needs question WAVs: run without --target once to make them")
    voice = remote_engines(running.models.base_url, ["en"], None).voice("en")
    paths = []
    for i, text in enumerate([*QUESTIONS, EMERGENCY]):
        path = run_dir / f"question-{i}.wav"
        write_wav(path, b"".join(s.pcm for s in voice.speak_all(text)), 8000)
        paths.append(path)
    return paths


def _callers(target: str, groups: list[tuple[list[Path], int]], out: Path) -> list[dict]:
    """One caller process per (script, calls) group, all at once; every call's report."""
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for g, (script, calls) in enumerate(groups):
        command = [sys.executable, "-m", "ivr.sip.caller", target, "--calls", str(calls),
                   "--report", str(out / f"report-{g}.json"),
                   "--record", str(out / f"call-{g}.wav"), "--timeout-s", "600"]
        for wav in script:
            command += ["--say", str(wav)]
        with open(out / f"caller-{g}.log", "wb") as log:
            procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log))
        time.sleep(0.3)
    reports = []
    for g, proc in enumerate(procs):
        proc.wait(timeout=900)
        path = out / f"report-{g}.json"
        reports += json.loads(path.read_text()) if path.exists() else [
            {"state": "caller crashed", "connected": False, "turns": []}] * groups[g][1]
    return reports


def _records(running) -> set[Path]:
    return set(running.settings.recordings.glob("*.jsonl")) if running else set()


def _new_records(running, before: set[Path], count: int,
                 timeout_s: float = 30) -> list[CallRecord]:
    if running is None:
        return []
    deadline = time.monotonic() + timeout_s
    while True:
        done = []
        for path in sorted(_records(running) - before):
            record = CallRecord.read(path)
            if record.finished:
                done.append(record)
        if len(done) >= count or time.monotonic() > deadline:
            return done


def _server_turns(calls: list[CallRecord]) -> list[dict]:
    """Stage latencies per answered turn from the worker's events (`ivr.qa.latency`), and for
    each answer the time from its first TTS audio to its first RTP frame out."""
    turns = []
    for call in calls:
        for turn in turn_latencies(call.events):
            turns.append({"endpoint_s": turn.endpoint_s, "asr_s": turn.asr_s,
                          "first_audio_s": turn.first_audio_s, "total_s": turn.total_s,
                          "path": turn.path})
        answers = call.of("tts.first_audio")[1:]  # not the greeting
        sent = call.of("rtp.first_frame")
        for turn, first in zip(turns[-len(answers):] if answers else [], answers):
            out = next((r for r in sent if r.wall >= first.wall), None)
            turn["to_rtp_s"] = (out.wall - first.wall) if out else None
    return turns


def _cpu(running) -> dict[str, float]:
    """CPU seconds (user + system) of each component and its children, from /proc."""
    if running is None:
        return {}
    return {name: cpu_seconds(pid) for name, pid in running.pids().items()}


def _stat(values: list[float | None], scale: float = 1000.0) -> tuple[float, float, int]:
    clean = [v * scale for v in values if v is not None]
    p50, p95 = percentiles(clean)
    return p50, p95, len(clean)


def _by_path(caller_ms: list[float | None], handoff: list[bool],
             server_turns: list[dict]) -> dict:
    """Caller-side latency apart for the emergency hand-off and, matching the other turns to
    the server's answered turns in order, for answers the LLM was or was not asked to phrase
    (those two left out when the turns do not pair up). A hand-off decided from interim
    recognition, before the caller stopped talking, has its prompt already playing then."""
    found = {"  ... emergency hand-off": _stat([ms for ms, h in zip(caller_ms, handoff) if h],
                                               1.0)}
    answers = [ms for ms, h in zip(caller_ms, handoff) if not h]
    server = [t for t in server_turns if t["path"] != "handoff"]
    if len(answers) == len(server):
        for path, label in (("answer", "answer as written"), ("llm", "answer the LLM phrased")):
            found[f"  ... {label}"] = _stat([ms for ms, t in zip(answers, server)
                                             if t["path"] == path], 1.0)
    return found


def summarise(result: BenchResult) -> dict:
    lat = [t.get("latency_ms") for t in result.latency_turns]
    load_lat = [t.get("latency_ms") for c in result.load_calls for t in c.get("turns", [])]
    stages = {name: _stat([t.get(key) for t in result.server_turns])
              for name, key in [("end-of-turn wait (endpointer)", "endpoint_s"),
                                ("ASR final (after end detected)", "asr_s"),
                                ("first TTS audio (after end detected)", "first_audio_s"),
                                ("first TTS audio -> first RTP frame out", "to_rtp_s"),
                                ("server total: speech end -> audio ready", "total_s")]}
    records = result.load_records
    ok = [c for c in result.load_calls if c.get("connected") and c.get("state") == "ended"
          and c.get("turns") and c["turns"][-1].get("latency_ms") is not None]
    worker_cpu = sum(v for k, v in result.cpu_s.items() if k.startswith("worker"))
    n = max(1, len(result.load_calls))
    return {
        "target": result.target, "cores": result.cores,
        "latency": {"caller: end of speech -> first bot audio": _stat(lat, 1.0),
                    **_by_path(lat, result.latency_handoff, result.server_turns), **stages},
        "latency calls": {"turns asked": len(result.latency_turns),
                          "turns without an answer": sum(v is None for v in lat),
                          "transfers asked by the bot (declined)": sum(
                              len(c.get("transfers", [])) for c in result.latency_calls)},
        "load": {
            "calls": len(result.load_calls), "calls answered": len(ok),
            "answer latency ms (p50, p95, n)": _stat(load_lat, 1.0),
            "bot audio underruns (frames, all calls)": sum(r.get("tx_underruns", 0) for r in records),
            "worker media clock lag (max frames)": max((r.get("clock_lag_frames", 0) for r in records), default=0),
            "worker max loop stall (ms)": max((r.get("max_pump_gap_ms", 0) for r in records), default=0),
            "RTP lost caller->bot (packets)": sum(r.get("rtp_rx_lost", 0) for r in records),
            "RTP lost bot->caller (packets)": sum(c.get("stream", {}).get("rtp_rx_lost", 0)
                                                  for c in result.load_calls),
            "RTP jitter bot->caller max (ms)": max((c.get("stream", {}).get("rtp_rx_jitter_ms_max", 0)
                                                    for c in result.load_calls), default=0),
            "caller clock lag (max frames)": max((c.get("clock_lag_frames", 0)
                                                  for c in result.load_calls), default=0),
            "wall s": round(result.load_wall_s, 1),
        },
        "cpu": {
            "SIP worker CPU per call (% of a core)": round(100 * worker_cpu / n / max(result.load_wall_s, 1e-9), 2),
            "CPU seconds by component (load phase)": result.cpu_s,
        },
    }


def render(result: BenchResult) -> str:
    s = summarise(result)
    lines = [f"SIP bench against {s['target']} ({s['cores']} CPU cores; callers on the same host)",
             "", f"latency, {len(result.latency_turns)} turns in {len(result.latency_calls)} calls"
                 f"{'':6}{'p50 ms':>9} {'p95 ms':>9} {'n':>4}"]
    for name, (p50, p95, count) in s["latency"].items():
        lines.append(f"  {name:52} {p50:9.0f} {p95:9.0f} {count:4d}")
    for name, value in s["latency calls"].items():
        lines.append(f"  {name:52} {value}")
    lines += ["", f"load, {s['load']['calls']} calls at once"]
    for name, value in s["load"].items():
        if isinstance(value, tuple):
            value = f"p50 {value[0]:.0f}, p95 {value[1]:.0f} (n={value[2]})"
        lines.append(f"  {name:52} {value}")
    lines += ["", "cpu"]
    lines.append(f"  {'SIP worker CPU per call (% of a core)':52} "
                 f"{s['cpu']['SIP worker CPU per call (% of a core)']}")
    for name, value in sorted(s["cpu"]["CPU seconds by component (load phase)"].items()):
        lines.append(f"  {'CPU s, ' + name:52} {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m ivr.sip.bench` (what `ivr bench sip` runs)."""
    import logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(prog="ivr bench sip", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
