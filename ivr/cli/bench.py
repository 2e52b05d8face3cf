"""`ivr bench`: per-stage latency of real turns through the embedded default, p50/p95."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from tqdm import tqdm

from ivr.cli.runtime import add_runtime_options, runtime
from ivr.events import EventLog, ManualClock
from ivr.qa.latency import TurnLatency, percentiles, turn_latencies
from ivr.qa.synth import synth_caller
from ivr.session.offline import run_offline
from ivr.session.session import CallSession

EXTRA_QUESTIONS = ["What's the weather like in Paris tomorrow?", "Can you recommend a restaurant?"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", help="measure per-stage latency and model speed",
        description="Synthesise caller questions with piper, send them over an 8 kHz G.711 line "
                    "through real call sessions (one question per call) and print per-stage "
                    "latencies (p50/p95), real-time factors and model load times.")
    parser.add_argument("--turns", type=int, default=20, help="caller turns to run (default: 20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_runtime_options(parser)
    parser.set_defaults(func=run)


def questions(plan, count: int) -> list[str]:
    pool = [q for entry in plan.knowledge for q in entry.questions] + EXTRA_QUESTIONS
    return [pool[i % len(pool)] for i in range(count)]


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with runtime(args) as (loaded, engines):
        startup_s = time.perf_counter() - started
        voice = engines.voice(loaded.plan.languages[0])
        turns: list[TurnLatency] = []
        for i, question in enumerate(tqdm(questions(loaded.plan, args.turns), desc="turns",
                                          unit="turn")):
            caller = synth_caller(voice, [(4.0, question)])
            clock = ManualClock()
            events = EventLog(clock)
            session = CallSession(f"bench-{i}", loaded, engines, events)
            asyncio.run(run_offline(session, clock, caller))
            turns.extend(turn_latencies(events.events))
    figures = summarise(turns, engines.timings, startup_s)
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    return 0


def summarise(turns: list[TurnLatency], load: dict[str, float], startup_s: float) -> dict:
    def stat(values: list[float | None]) -> dict[str, float]:
        p50, p95 = percentiles([v for v in values if v is not None])
        return {"p50": round(p50, 3), "p95": round(p95, 3), "n": sum(v is not None for v in values)}

    return {
        "turns": len(turns),
        "stages_s": {
            "endpoint (end-of-turn silence)": stat([t.endpoint_s for t in turns]),
            "ASR final (after end detected)": stat([t.asr_s for t in turns]),
            "first LLM token (after ASR)": stat([t.llm_first_token_s for t in turns]),
            "first TTS audio (after end detected)": stat([t.first_audio_s for t in turns]),
            "end of speech -> first bot audio": stat([t.total_s for t in turns]),
        },
        "rtf": {"ASR": stat([t.asr_rtf for t in turns]), "TTS": stat([t.tts_rtf for t in turns])},
        "load_s": {**load, "startup total (incl. LLM server)": round(startup_s, 3)},
    }


def render(figures: dict) -> str:
    lines = [f"{figures['turns']} turns", "", f"{'stage':42} {'p50':>8} {'p95':>8} {'n':>4}"]
    for name, s in figures["stages_s"].items():
        lines.append(f"{name:42} {s['p50']:8.3f} {s['p95']:8.3f} {s['n']:4d}")
    lines += ["", f"{'real-time factor':42} {'p50':>8} {'p95':>8}"]
    for name, s in figures["rtf"].items():
        lines.append(f"{name:42} {s['p50']:8.3f} {s['p95']:8.3f}")
    lines += ["", "model load (s)"] + [f"  {k:40} {v:8.3f}" for k, v in figures["load_s"].items()]
    return "\n".join(lines)
