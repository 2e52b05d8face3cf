"""Mandarin recognition benchmark: character error rate (after simplification) and real-time
factor per voice and condition, dev and holdout side by side (`ivr bench asr-zh`).

Each caller turn of the caller set (`ivr.qa.zh_callers`) goes through the G.711 line, gets the
endpointer's pre-roll and end-of-turn silence, and is recognised by the production engine with
the plan's languages, exactly as a call's turn is (`ASREngine.transcribe`); RTF is the engine's
compute time over that audio.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Iterable

from tqdm import tqdm

from ivr.asr.base import ASREngine
from ivr.audio.frames import PHONE_RATE
from ivr.qa.cer import Errors, char_errors
from ivr.qa.latency import percentiles
from ivr.qa.zh_callers import CallerSet, CallerVoices, padded, utterances, voice_label


@dataclass(frozen=True)
class TurnResult:
    """One caller turn, in one voice and condition, as recognised."""

    split: str
    voice: str
    condition: str
    conversation: str
    turn: int
    reference: str
    heard: str
    language: str
    edits: int
    chars: int
    audio_s: float
    compute_s: float
    cpu_s: float  # process CPU time (all threads): the figure other processes cannot inflate


def run_bench(asr: ASREngine, callers: CallerSet, languages: tuple[str, ...],
              splits: Iterable[str] = ("dev", "holdout"), voices: CallerVoices | None = None,
              progress: bool = True) -> list[TurnResult]:
    """Recognise every turn of `splits` in every voice and condition of the set."""
    voices = voices or CallerVoices()
    jobs = [(utt, spec, condition) for split in splits for utt in utterances(callers, split)
            for spec in callers.voices for condition in callers.conditions]
    audio = [padded(voices.line_audio(spec, condition, utt.text))
             for utt, spec, condition in tqdm(jobs, desc="callers", unit="turn",
                                              disable=not progress)]
    results = []
    for (utt, spec, condition), pcm in tqdm(list(zip(jobs, audio)), desc="recognising",
                                            unit="turn", disable=not progress):
        cpu = time.process_time()
        heard = asr.transcribe(pcm, PHONE_RATE, languages)
        cpu = time.process_time() - cpu
        errors = char_errors(utt.text, heard.raw_text)
        results.append(TurnResult(utt.split, voice_label(spec), condition, utt.conversation,
                                  utt.turn, utt.text, heard.raw_text, heard.language,
                                  errors.edits, errors.chars, heard.audio_s, heard.compute_s,
                                  cpu))
    return results


def _group(results: list[TurnResult]) -> dict[str, dict]:
    """CER, RTF p50/p95 (wall clock, and CPU seconds per audio second) and turns heard as
    another language, for a group of turns."""
    errors = sum((Errors(r.edits, r.chars) for r in results), Errors(0, 0))
    p50, p95 = percentiles([r.compute_s / r.audio_s for r in results if r.audio_s])
    cpu50, _ = percentiles([r.cpu_s / r.audio_s for r in results if r.audio_s])
    return {"turns": len(results), "cer": round(errors.rate, 4), "rtf_p50": round(p50, 3),
            "rtf_p95": round(p95, 3), "cpu_rtf_p50": round(cpu50, 3),
            "not_zh": sum(r.language != "zh" for r in results)}


def summarise(results: list[TurnResult]) -> dict:
    """Figures per (voice, condition), per engine and overall, each for every split."""
    groups: dict[str, dict[str, list[TurnResult]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        kokoro = not r.voice.startswith("espeak")
        for row in (f"{r.voice} {r.condition}",
                    f"Kokoro, all voices {r.condition}" if kokoro else None,
                    "Kokoro, all voices, both" if kokoro else f"{r.voice}, both"):
            if row:
                groups[row][r.split].append(r)
    return {"rows": {row: {split: _group(rs) for split, rs in by_split.items()}
                     for row, by_split in groups.items()},
            "turns": [asdict(r) for r in results]}


def render(figures: dict, splits: Iterable[str] = ("dev", "holdout")) -> str:
    """The side-by-side table per split for every row: CER, wall-clock RTF p50 and p95, CPU
    seconds per audio second p50, turns heard as another language."""
    splits = list(splits)
    head = f"{'voice / condition':34}" + "".join(
        f" | {split + ' CER':>11} {'RTF p50':>7} {'p95':>5} {'CPU/s':>5} {'not zh':>6}"
        for split in splits)
    lines = [head, "-" * len(head)]
    for row, by_split in figures["rows"].items():
        cells = []
        for split in splits:
            g = by_split.get(split)
            cells.append(f" | {g['cer'] * 100:10.1f}% {g['rtf_p50']:7.3f} {g['rtf_p95']:5.2f} "
                         f"{g['cpu_rtf_p50']:5.2f} {g['not_zh']:6d}" if g else f" | {'-':>38}")
        lines.append(f"{row:34}" + "".join(cells))
    return "\n".join(lines)


def render_errors(figures: dict) -> str:
    """Every misheard turn: reference -> what was heard."""
    lines = []
    for t in figures["turns"]:
        if t["edits"]:
            lines.append(f"{t['split']:7} {t['voice']:13} {t['condition']:7} {t['edits']:2}/"
                         f"{t['chars']:<2} {t['reference']} -> {t['heard']} [{t['language']}]")
    return "\n".join(lines)


# ---- `ivr bench asr-zh` -------------------------------------------------------------------------

def add_arguments(parser) -> None:
    """The subcommand's options (see `ivr bench asr-zh --help`)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    parser.add_argument("--set", type=Path, default=root / "tests" / "data" / "zh_callers.yaml",
                        metavar="SET.yaml", help="caller set (default: tests/data/zh_callers.yaml)")
    parser.add_argument("--dialplan", type=Path,
                        default=root / "dialplans" / "clinic-appointments.yaml",
                        help="plan whose ASR model and languages are used (default: the clinic)")
    parser.add_argument("--split", nargs="+", default=["dev", "holdout"],
                        choices=["dev", "holdout"], help="parts of the set (default: both)")
    parser.add_argument("--voices", nargs="+", metavar="VOICE",
                        help="only these voices (zf_xiaoyi ... or cmn)")
    parser.add_argument("--asr", action="append", default=[], metavar="KEY=VALUE",
                        help="try another decoding option, e.g. beam_size=3 (repeatable)")
    parser.add_argument("--errors", action="store_true", help="also list every misheard turn")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args) -> int:
    """Load the plan's recogniser with the options asked for, run the set, print the table."""
    import json
    import os

    from ivr.asr.vocabulary import plan_vocabulary
    from ivr.asr.whisper import DecodeOptions, WhisperASR
    from ivr.dialplan.loader import load_dialplan
    from ivr.qa.zh_callers import load_callers
    from ivr.session.engines import asr_model_dir

    plan = load_dialplan(args.dialplan).plan
    callers = load_callers(args.set)
    if args.voices:
        callers = callers.model_copy(update={"voices": [
            v for v in callers.voices if v.voice in args.voices]})
    options = DecodeOptions.from_assignments(args.asr)
    asr = WhisperASR(asr_model_dir(plan.asr_model), options=options)
    for language in plan.languages:
        asr.use_vocabulary(language, plan_vocabulary(plan, language))
    figures = summarise(run_bench(asr, callers, tuple(plan.languages), args.split))
    figures["options"] = options.as_json()
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return 0
    print(f"options: {figures['options']}  languages: {list(plan.languages)}  "
          f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(render(figures, args.split))
    if args.errors:
        print("\n" + render_errors(figures))
    return 0
