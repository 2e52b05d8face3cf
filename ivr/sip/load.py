"""`ivr bench load`: staggered callers for minutes, and the most calls this machine holds.

Callers behave like people: each call waits for the greeting, asks three questions, listens to
each answer and pauses before the next (the caller's `quiet_s`), then hangs up. Calls start
staggered so that about `--calls` are up at any time, for `--minutes`, through Kamailio when
the stack has more than one worker. Measured per level: calls completed and failed, turn
latency from the caller's side (end of speech -> first bot audio, p50/p95/max), media gaps
(the caller waited over 100 ms between two frames, the worker had no bot audio ready for
5 frames in a row or more, i.e. 100 ms of the answer missing, or the worker's media clock
itself stalled over 100 ms between two ticks), and CPU and memory per call; beside them, how
long the host paused an idle probe process (`host_stalls`: a media gap no larger than such a
pause plus a tick may be the machine's, not the stack's; the verdict counts it all the same).

A level passes when it reached its number of calls up at once, with no failed call, no media
gap and p95 turn latency <= `--p95-s` (give it a few call lengths: `--minutes` 2 or more).
`--find-max` raises the level from 2 by 2 until one fails, and reports the last that passed.
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

from ivr.qa.latency import percentiles
from ivr.sip.bench import QUESTIONS, _cpu, _new_records, _question_wavs, _records
from ivr.sip.endpoint import MAX_CALLS
from ivr.sip.host_stalls import MIN_MS, HostStallProbe, HostStalls
from ivr.sip.proctree import rss_bytes

SCRIPT_TURNS = 3
GAP_MS = 100.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`ivr bench load`'s options."""
    from ivr.cli.runtime import DEFAULT_DIALPLAN

    parser.add_argument("--calls", type=int, default=8, help="calls up at once (a level)")
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="how long new calls keep starting, per level")
    parser.add_argument("--find-max", action="store_true",
                        help="levels 2, 4, 6... until one fails; --calls is the highest tried")
    parser.add_argument("--p95-s", type=float, default=1.5,
                        help="turn latency p95 a level must stay under")
    parser.add_argument("--workers", type=int, default=0,
                        help=f"SIP workers (default: enough for --calls at {MAX_CALLS} each)")
    parser.add_argument("--dialplan", type=Path, default=DEFAULT_DIALPLAN)
    parser.add_argument("--llm-url", default=os.environ.get("IVR_LLM_URL"))
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="keep recordings, reports and logs here (default: a temp folder)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


@dataclass
class Level:
    """One load level's raw results."""

    calls_up: int
    reports: list[dict] = field(default_factory=list)   # caller reports, one per call
    records: list[dict] = field(default_factory=list)   # the worker's media.stats per call
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_mb_max: float = 0.0
    peak_up: int = 0  # the most calls up at once that the level reached
    host: HostStalls | None = None  # the host's own pauses of an idle probe meanwhile


def run(args: argparse.Namespace) -> int:
    """`ivr bench load`: start the stack once, run the level(s), print the table (or JSON)."""
    from ivr.llm.embedded import free_port
    from ivr.sip.stack import StackSettings, hotline

    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="ivr-bench-load-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    levels = list(range(2, args.calls + 1, 2)) if args.find_max else [args.calls]
    workers = args.workers or max(1, -(-max(levels) // MAX_CALLS))
    settings = StackSettings(dialplan=args.dialplan, run_dir=run_dir / "stack",
                             recordings=run_dir / "recordings", port=free_port(),
                             workers=workers, rtp_port=30000 + (os.getpid() % 50) * 400,
                             llm_url=args.llm_url)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    results = []
    with hotline(settings, say=say) as running:
        time.sleep(2.5)  # Kamailio's first OPTIONS round
        wavs = _question_wavs(run_dir, running)[:len(QUESTIONS)]
        for calls in levels:
            say(f"load: about {calls} calls up at once for {args.minutes:g} min...")
            level = run_level(running, wavs, calls, args.minutes * 60, run_dir / f"level-{calls}")
            figures = summarise(level, args.p95_s)
            results.append(figures)
            say(f"  {verdict_line(figures)}")
            if not figures["passed"]:
                break
    passed = [r["calls_up"] for r in results if r["passed"]]
    report = {"workers": workers, "cores": os.cpu_count(), "p95_limit_s": args.p95_s,
              "levels": results, "max_calls": max(passed, default=0)}
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


def run_level(running, wavs: list[Path], calls_up: int, seconds: float, out: Path) -> Level:
    """Start a one-call caller process every call length / `calls_up` seconds (measured from
    the first calls) for `seconds`, so about `calls_up` calls are up at once; wait for all."""
    out.mkdir(parents=True, exist_ok=True)
    level, before = Level(calls_up), _records(running)
    cpu_before, started = _cpu(running), time.monotonic()
    probe = HostStallProbe().start()
    active: list[tuple[subprocess.Popen, Path, float]] = []
    lengths: list[float] = []
    spawned, next_start = 0, started
    while True:
        now = time.monotonic()
        for call in [a for a in active if a[0].poll() is not None]:
            active.remove(call)
            level.reports += _read(call[1])
            lengths.append(now - call[2])
        level.rss_mb_max = max(level.rss_mb_max, _rss_mb(running))
        level.peak_up = max(level.peak_up, len(active))
        if now - started >= seconds and not active:
            break
        if now - started < seconds and now >= next_start and len(active) < calls_up:
            script = [wavs[(spawned + i) % len(wavs)] for i in range(SCRIPT_TURNS)]
            active.append((*_spawn(running.uri, script, out, spawned), now))
            spawned += 1
            typical = sorted(lengths)[len(lengths) // 2] if lengths else 40.0
            next_start = now + typical / calls_up
        time.sleep(0.2)
    level.wall_s = time.monotonic() - started
    level.host = probe.stop()
    cpu_after = _cpu(running)
    level.cpu_s = {k: round(v - cpu_before.get(k, 0.0), 2) for k, v in cpu_after.items()}
    level.records = [r.events[-1].data for r in _new_records(running, before, spawned)]
    return level


def _spawn(target: str, script: list[Path], out: Path, index: int) -> tuple[subprocess.Popen,
                                                                         Path]:
    report = out / f"report-{index}.json"
    command = [sys.executable, "-m", "ivr.sip.caller", target, "--calls", "1",
               "--report", str(report), "--timeout-s", "300"]
    for wav in script:
        command += ["--say", str(wav)]
    with open(out / f"caller-{index}.log", "wb") as log:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    return proc, report


def _read(report: Path) -> list[dict]:
    try:
        return json.loads(report.read_text())
    except (OSError, ValueError):
        return [{"state": "caller crashed", "connected": False, "turns": []}]


def _rss_mb(running) -> float:
    """Resident memory of the whole stack (every component and its children), MB."""
    return sum(rss_bytes(pid) for pid in running.pids().values()) / 2 ** 20


def failed(report: dict) -> bool:
    """A call that did not connect, did not end normally, or left a question unanswered."""
    return (not report.get("connected") or report.get("state") != "ended"
            or len(report.get("turns", [])) < SCRIPT_TURNS
            or any(t.get("latency_ms") is None for t in report["turns"]))


def summarise(level: Level, p95_limit_s: float) -> dict:
    """The level's figures and whether it passed."""
    latencies = [t["latency_ms"] / 1000 for r in level.reports for t in r.get("turns", [])
                 if t.get("latency_ms") is not None]
    p50, p95 = percentiles(latencies)
    caller_gaps = sum(r.get("max_rx_gap_ms", 0) > GAP_MS for r in level.reports)
    worker_gaps = sum(r.get("max_underrun_run", 0) * 20 >= GAP_MS for r in level.records)
    stalls = sum(r.get("max_tick_gap_ms", 0) > GAP_MS for r in level.records)
    calls = len(level.reports)
    call_s = sum(r.get("recorded_s", 0) for r in level.records) or 1e-9
    worker_cpu = sum(v for k, v in level.cpu_s.items() if k.startswith("worker"))
    all_cpu = sum(level.cpu_s.values())
    figures = {
        "calls_up": level.calls_up, "peak_up": level.peak_up, "calls": calls,
        "failed": sum(failed(r) for r in level.reports),
        "turns": len(latencies),
        "turn_latency_s": {"p50": round(p50, 3), "p95": round(p95, 3),
                           "max": round(max(latencies, default=float("nan")), 3)},
        "media_gaps": {"caller waited > 100 ms for a frame": caller_gaps,
                       "worker missed >= 100 ms of bot audio": worker_gaps,
                       "worker's media clock stalled > 100 ms": stalls},
        "cpu_per_call_pct": {"SIP workers": round(100 * worker_cpu / call_s, 1),
                             "whole stack": round(100 * all_cpu / call_s, 1),
                             "by component": {name: round(100 * cpu / call_s, 1)
                                              for name, cpu in sorted(level.cpu_s.items())}},
        "rss_mb": {"stack max": round(level.rss_mb_max), "per call up":
                   round(level.rss_mb_max / max(1, level.calls_up))},
        "wall_s": round(level.wall_s, 1),
        "host_stalls": level.host and {"count": level.host.stalls, "max_ms": level.host.max_ms},
    }
    figures["passed"] = (figures["failed"] == 0 and caller_gaps == 0 and worker_gaps == 0
                         and stalls == 0 and level.peak_up >= level.calls_up
                         and p95 <= p95_limit_s)
    return figures


def verdict_line(f: dict) -> str:
    """One line per level for the progress log and the table."""
    lat = f["turn_latency_s"]
    gaps = sum(f["media_gaps"].values())
    return (f"{f['calls_up']:3d} up (reached {f['peak_up']}): {f['calls']:3d} calls, "
            f"{f['failed']} failed, "
            f"{f['turns']} turns p50 {lat['p50']:.2f} s p95 {lat['p95']:.2f} s max "
            f"{lat['max']:.2f} s, {gaps} media gaps, CPU/call {f['cpu_per_call_pct']['whole stack']}"
            f" % (workers {f['cpu_per_call_pct']['SIP workers']} %), RSS {f['rss_mb']['stack max']}"
            f" MB -> {'pass' if f['passed'] else 'FAIL'}"
            + (f"\n      host pauses of an idle probe: {host['count']} >= {MIN_MS:g} ms, worst "
               f"{host['max_ms']:.0f} ms" if (host := f.get("host_stalls")) else ""))


def render(report: dict) -> str:
    """The levels as lines, and the answer."""
    lines = [f"load bench: {report['workers']} SIP worker(s), {report['cores']} CPU cores, "
             f"callers on the same host; a level passes with 0 failed calls, 0 media gaps, "
             f"p95 turn latency <= {report['p95_limit_s']} s", ""]
    lines += [verdict_line(f) for f in report["levels"]]
    lines += ["", f"most calls held: {report['max_calls']}"]
    return "\n".join(lines)
