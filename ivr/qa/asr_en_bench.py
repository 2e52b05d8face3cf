"""English recognition benchmark: word error rate, decodes that loop, and compute per turn
(`ivr bench asr-en`).

The English turns of labelled caller sets (by default the escalation development sets: callers
describing emergencies, asking for people, complaining, asking about bills) are spoken by the
piper caller voice, passed through the 8 kHz G.711 line with the endpointer's pre-roll and
end-of-turn silence, and recognised by the production engine as a call's turn is
(`ASREngine.transcribe`). `--asr KEY=VALUE` tries other decoding options (`window_s=30` is
whisper's own encoder window), so one command shows an option's cost and effect side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein
from tqdm import tqdm

from ivr.asr.base import ASREngine
from ivr.asr.guard import repetitive
from ivr.audio.frames import PHONE_RATE
from ivr.qa.latency import percentiles
from ivr.qa.zh_callers import padded

DEFAULT_SETS = ("tests/data/escalation_dev.yaml", "tests/data/escalation_dev2.yaml")
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """`text` as WER compares it: lower-case words, punctuation dropped."""
    return _WORD.findall(text.lower().replace("’", "'"))


@dataclass(frozen=True)
class TurnResult:
    """One turn as recognised."""

    reference: str
    heard: str
    edits: int
    words: int
    looped: bool
    audio_s: float
    compute_s: float


def run_bench(asr: ASREngine, texts: list[str], progress: bool = True) -> list[TurnResult]:
    """Speak and recognise every text."""
    from ivr.audio.g711 import phone_line
    from ivr.qa.escalation_eval import caller_voice

    voice = caller_voice("en")
    audio = [padded(phone_line(b"".join(s.pcm for s in voice.speak_all(text))))
             for text in tqdm(texts, desc="callers", unit="turn", disable=not progress)]
    results = []
    for text, pcm in tqdm(list(zip(texts, audio)), desc="recognising", unit="turn",
                          disable=not progress):
        started = time.perf_counter()
        heard = asr.transcribe(pcm, PHONE_RATE, ("en",)).text
        compute = time.perf_counter() - started
        reference = words(text)
        results.append(TurnResult(text, heard, Levenshtein.distance(reference, words(heard)),
                                  len(reference), repetitive(heard),
                                  len(pcm) / 2 / PHONE_RATE, compute))
    return results


def summarise(results: list[TurnResult]) -> dict:
    """WER over the set, loops, compute p50/p95 per turn and the real-time factor."""
    compute = [r.compute_s for r in results]
    return {"turns": len(results),
            "wer": round(sum(r.edits for r in results) / max(1, sum(r.words for r in results)), 4),
            "looped": sum(r.looped for r in results),
            "empty": sum(not r.heard.strip() for r in results),
            "compute_s": dict(zip(("p50", "p95"), percentiles(compute))),
            "rtf": round(sum(compute) / max(1e-9, sum(r.audio_s for r in results)), 3)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", type=Path, metavar="SET.yaml",
                        help="labelled caller set whose English turns are spoken (repeatable; "
                             "default: escalation_dev.yaml and escalation_dev2.yaml)")
    parser.add_argument("--limit", type=int, default=200, metavar="N",
                        help="only the first N English turns (default 200)")
    parser.add_argument("--model", default="whisper-tiny.en",
                        help="bundled model name or CTranslate2 folder (default whisper-tiny.en)")
    parser.add_argument("--asr", action="append", default=[], metavar="KEY=VALUE",
                        help="try another decoding option, e.g. window_s=30 (repeatable)")
    parser.add_argument("--errors", action="store_true", help="also list every misheard turn")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    from ivr.asr.whisper import DecodeOptions, WhisperASR
    from ivr.qa.escalation_eval import load_set
    from ivr.session.engines import asr_model_dir

    sets = args.set or [Path(p) for p in DEFAULT_SETS]
    texts = [item.text for path in sets for item in load_set(path) if item.lang == "en"]
    texts = texts[:args.limit]
    options = DecodeOptions.from_assignments(args.asr)
    asr = WhisperASR(asr_model_dir(args.model), options=options)
    results = run_bench(asr, texts)
    figures = {**summarise(results), "model": args.model, "options": options.as_json()}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    c = figures["compute_s"]
    print(f"{args.model}, options {figures['options']}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{figures['turns']} turns: WER {figures['wer']:.3f}, decodes that looped "
          f"{figures['looped']}, empty {figures['empty']}; compute per turn p50 {c['p50']:.3f} s "
          f"/ p95 {c['p95']:.3f} s, RTF {figures['rtf']:.3f}")
    if args.errors:
        for r in results:
            if r.edits:
                print(f"  {r.edits:>2}/{r.words:<3} {r.reference!r}\n         heard {r.heard!r}")
    return 0
