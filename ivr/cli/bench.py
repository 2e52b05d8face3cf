"""`ivr bench`: per-stage latency of real turns through the embedded default, p50/p95."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from tqdm import tqdm

from ivr.cli.runtime import DEFAULT_DIALPLAN, add_runtime_options, runtime
from ivr.events import EventLog, ManualClock
from ivr.qa.latency import TurnLatency, percentiles, turn_latencies
from ivr.qa.synth import synth_caller
from ivr.session.offline import run_offline
from ivr.session.session import CallSession

EXTRA_QUESTIONS = ["What's the weather like in Paris tomorrow?", "Can you recommend a restaurant?"]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench", help="measure per-stage latency, model speed and SIP media",
        description="Benchmarks with real models. Each prints p50/p95 figures (--json for JSON).")
    modes = parser.add_subparsers(dest="scenario", metavar="SCENARIO", required=True)
    turns = modes.add_parser(
        "turns", help="knowledge questions, one per call: per-stage latency, RTFs, load times",
        description="Synthesise caller questions with piper, send them over an 8 kHz G.711 line "
                    "through real call sessions (simulated time, real models) and print "
                    "per-stage latencies, real-time factors and model load times.")
    emergency = modes.add_parser(
        "emergency", help="emergency phrases: end of utterance -> transfer decided and sent",
        description="Callers say emergency phrases; prints end of utterance -> transfer decided "
                    "(negative when an interim result caught it) and -> transfer sent.")
    for mode in (turns, emergency):
        mode.add_argument("--turns", type=int, default=20, help="calls to run (default: 20)")
        mode.add_argument("--json", action="store_true", help="print the figures as JSON")
        add_runtime_options(mode)
        mode.set_defaults(func=run)
    tts = modes.add_parser(
        "tts", help="pre-spoken answers: decision -> first answer frame, disk store warm vs cold",
        description="Warms the plan's prompts and answers into an empty disk store (timed), then "
                    "times decision -> first 20 ms frame of every approved answer with the store "
                    "warm and cold (no store), in process and through a model service.")
    tts.add_argument("--dialplan", type=Path, default=DEFAULT_DIALPLAN,
                     help="dialplan YAML (default: %(default)s)")
    tts.add_argument("--rounds", type=int, default=3, help="times each answer is timed per path "
                                                           "(default: %(default)s)")
    tts.add_argument("--no-service", action="store_true",
                     help="in-process figures only (no model service started)")
    tts.add_argument("--json", action="store_true", help="print the figures as JSON")
    tts.set_defaults(func=run_tts)
    guard = modes.add_parser(
        "guard", help="hand-off guard per turn: lexicon, embedding, learned net",
        description="Times the hand-off guard on every turn of a labelled set (default: "
                    "tests/data/escalation_dev.yaml): the lexicon alone, the e5 embedding, the "
                    "net's head, and the whole guard with and without the embedding cached.")
    guard.add_argument("--set", default="tests/data/escalation_dev.yaml", metavar="SET.yaml",
                       help="labelled utterances to time")
    guard.add_argument("--json", action="store_true", help="print the figures as JSON")
    guard.set_defaults(func=run_guard)
    from ivr.audio import turn_bench

    turn = modes.add_parser(
        "turn", help="end of turn: false cut-ins and delay, fixed silence vs the turn model "
                     "and the transcript",
        description="Voices tests/data/paused_utterances.yaml with piper through G.711 and "
                    "replays it through the endpointer: false cut-ins on paused turns, end of "
                    "speech -> turn end p50/p95 on complete ones, dev and held-out side by side, "
                    "and the model's inference time. Ways: the old fixed 700 ms, the model alone, "
                    "and the shipped default (the model, its verdict checked against whisper "
                    "tiny.en's transcript of the turn so far).")
    turn_bench.add_arguments(turn)
    turn.set_defaults(func=turn_bench.run)
    from ivr.qa import asr_zh_bench

    _delegate(modes, "asr-zh", asr_zh_bench,
              "Mandarin callers: character error rate and ASR real-time factor",
              "Every turn of the Mandarin caller set, in every voice, normal and shouted, "
              "through 8 kHz G.711 into the plan's recogniser: CER after simplification and RTF "
              "per voice and condition, dev and holdout side by side.")
    from ivr.qa import voice_bench

    _delegate(modes, "voice", voice_bench,
              "the bot's own voice heard back through the line: character error rate, TTS RTF",
              "Every fixed sentence the plan speaks in one language (prompts, menus, approved "
              "answers), synthesised by its voice, through 8 kHz G.711 into the plan's "
              "recogniser: character error rate after simplification, sentences over 15 %, and "
              "the voice's real-time factor; held-out sentences (tests/data/bot_sentences.yaml) "
              "side by side. --voice and --speed try another voice or rate.")
    from ivr.qa import asr_en_bench

    _delegate(modes, "asr-en", asr_en_bench,
              "English callers: word error rate, looping decodes and ASR compute per turn",
              "The English turns of the escalation development sets, spoken by the piper caller "
              "voice through 8 kHz G.711 into the recogniser: WER, decodes that looped, compute "
              "per turn (p50/p95) and RTF; --asr tries other decoding options.")
    from ivr.sip import load

    _delegate(modes, "load", load,
              "staggered SIP callers for minutes: failures, media gaps, p95 turn latency, CPU "
              "and memory per call; --find-max",
              "Starts `ivr serve` (Kamailio in front when it has more than one worker) and keeps "
              "about --calls pjsua2 callers on it for --minutes: each hears the greeting, asks "
              "three questions, listens and pauses. A level passes with no failed call, no media "
              "gap over 100 ms and p95 turn latency <= --p95-s; --find-max tries 2, 4, 6... "
              "calls up to --calls and reports the most that passed.")
    from ivr.sip.bench import add_arguments, run as run_sip

    sip = modes.add_parser(
        "sip", help="real SIP/RTP calls: caller-side latency, media gaps, CPU per call",
        description="Starts `ivr serve` (or uses --target), calls it with pjsua2 callers on "
                    "127.0.0.1: end of caller speech -> first bot RTP packet over --turns turns, "
                    "then --concurrent calls at once for media gaps, lost frames and CPU.")
    add_arguments(sip)
    sip.set_defaults(func=run_sip)


def _delegate(modes: argparse._SubParsersAction, name: str, module, help_text: str,
              description: str) -> None:
    """A scenario whose options and run live in `module` (`add_arguments`, `run`)."""
    parser = modes.add_parser(name, help=help_text, description=description)
    module.add_arguments(parser)
    parser.set_defaults(func=module.run)


def questions(plan, count: int) -> list[str]:
    pool = [q for entry in plan.knowledge for q in entry.questions] + EXTRA_QUESTIONS
    return [pool[i % len(pool)] for i in range(count)]


def caller_voice():
    """The synthetic caller: piper without random prosody, so runs are repeatable."""
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS

    return PiperTTS(*piper_joe(), deterministic=True)


EMERGENCIES = ["My father has chest pain and he is sweating.", "I can't breathe.",
               "There is a fire in my kitchen.", "My friend took an overdose.",
               "I think I'm having a heart attack, please help."]


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with runtime(args) as (loaded, engines):
        startup_s = time.perf_counter() - started
        voice = caller_voice()
        emergency = args.scenario == "emergency"
        pool = EMERGENCIES if emergency else questions(loaded.plan, args.turns)
        runs = []
        for i in tqdm(range(args.turns), desc=args.scenario, unit="call"):
            caller = synth_caller(voice, [(4.0, pool[i % len(pool)])])
            clock = ManualClock()
            events = EventLog(clock)
            session = CallSession(f"bench-{i}", loaded, engines, events)
            asyncio.run(run_offline(session, clock, caller))
            runs.append(events.events)
    if emergency:
        figures = emergency_figures(runs)
    else:
        figures = summarise([t for run in runs for t in turn_latencies(run)], engines.timings,
                            startup_s)
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    return 0


def run_tts(args: argparse.Namespace) -> int:
    from ivr.dialplan.loader import load_dialplan
    from ivr.qa.tts_bench import render as render_tts, run_bench
    from ivr.tts.voices import build_voice, load_voices

    loaded = load_dialplan(args.dialplan)
    specs = load_voices()
    voices = {lang: build_voice(specs[lang], lang) for lang in loaded.plan.languages}
    figures = run_bench(loaded, voices, args.rounds, service=not args.no_service)
    print(json.dumps(figures, indent=2) if args.json else render_tts(figures))
    return 0


def run_guard(args: argparse.Namespace) -> int:
    from ivr.kb.embedder import E5Embedder
    from ivr.qa.escalation_eval import load_set
    from ivr.qa.guard_bench import guard_timings

    items = load_set(args.set)
    timings = guard_timings([i.text for i in items], E5Embedder(threads=1), progress=True)
    figures = {"turns": len(items), "stages_s": {name: _stat(values)
                                                 for name, values in timings.items()}}
    text = render(figures).replace(" calls", " turns", 1)
    print(json.dumps(figures, indent=2) if args.json else text)
    return 0


def emergency_figures(runs: list[list]) -> dict:
    """End of the caller's emergency utterance -> transfer decided (negative when an interim
    result caught it first) and -> transfer sent (after the short announcement), in call time."""
    decided, sent, missed, interim = [], [], 0, 0
    for events in runs:
        decision = next((e for e in events if e.kind == "dialog.decision"
                         and e.data.get("reason") == "emergency"), None)
        request = next((e for e in events if e.kind == "transfer.request"), None)
        end = next((e for e in events if e.kind == "speech.end"), None)
        if decision is None or request is None:
            missed += 1
            continue
        interim += bool(decision.data.get("partial"))
        voice_end = end.data["at"] if end else decision.t
        decided.append(decision.t - voice_end)
        sent.append(request.t - voice_end)
    return {"turns": len(runs), "missed": missed, "caught_on_interim_result": interim,
            "stages_s": {"end of utterance -> transfer decided": _stat(decided),
                         "end of utterance -> transfer sent": _stat(sent)}}


def _stat(values: list[float | None]) -> dict[str, float]:
    p50, p95 = percentiles([v for v in values if v is not None])
    return {"p50": round(p50, 3), "p95": round(p95, 3), "n": sum(v is not None for v in values)}


def summarise(turns: list[TurnLatency], load: dict[str, float], startup_s: float) -> dict:
    stat = _stat
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
    lines = [f"{figures['turns']} calls"]
    if "missed" in figures:
        lines.append(f"missed: {figures['missed']}; caught on an interim result: "
                     f"{figures['caught_on_interim_result']}")
    lines += ["", f"{'stage (seconds)':44} {'p50':>8} {'p95':>8} {'n':>4}"]
    for name, s in figures["stages_s"].items():
        lines.append(f"{name:44} {s['p50']:8.3f} {s['p95']:8.3f} {s['n']:4d}")
    if figures.get("rtf"):
        lines += ["", f"{'real-time factor':44} {'p50':>8} {'p95':>8}"]
        lines += [f"{name:44} {s['p50']:8.3f} {s['p95']:8.3f}" for name, s in figures["rtf"].items()]
    if figures.get("load_s"):
        lines += ["", "model load (s)"]
        lines += [f"  {k:42} {v:8.3f}" for k, v in figures["load_s"].items()]
    return "\n".join(lines)
