"""The plan's own voice heard back through the line (`ivr bench voice`).

Every fixed sentence a plan speaks in one language (prompts, menus, approved answers: what
`ivr serve` pre-speaks) is synthesised by the voice `voices/voices.yaml` gives that language,
sent through 8 kHz G.711 and recognised by the plan's recogniser as a caller's turn would be.
What comes back is scored by character error rate after simplification (`ivr.qa.cer`: Latin
letters count as characters, so English works too): a listener's proxy for how clearly the bot
speaks. A sentence with no Chinese in it is heard as English. Sentences written apart from any
plan (`tests/data/bot_sentences.yaml`, held out: never used to choose a voice or a setting) are
reported beside the plan's own.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import yaml
from tqdm import tqdm

from ivr.asr.base import ASREngine
from ivr.audio.frames import PHONE_RATE
from ivr.audio.g711 import phone_line
from ivr.errors import IvrError
from ivr.qa.cer import Errors, char_errors
from ivr.qa.latency import percentiles
from ivr.qa.zh_callers import padded
from ivr.text.normalize import has_cjk
from ivr.tts.base import TTSEngine

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "tests" / "data" / "bot_sentences.yaml"
UNCLEAR = 0.15   # a sentence heard back with more errors than this is one a caller may not get


@dataclass(frozen=True)
class HeardBack:
    """One sentence as the voice said it and the recogniser heard it."""

    part: str
    sentence: str
    heard: str
    edits: int
    chars: int
    audio_s: float
    synthesis_s: float


def hear_back(voice: TTSEngine, asr: ASREngine, sentences: Iterable[str], part: str,
              languages: tuple[str, ...], codec: str = "pcmu",
              progress: bool = True) -> list[HeardBack]:
    """Speak each sentence with `voice`, pass it through `codec` and recognise it in
    `languages` (English alone for a sentence without Chinese)."""
    results = []
    for sentence in tqdm(list(sentences), desc=f"{part} sentences", unit="sentence",
                         disable=not progress):
        started = time.perf_counter()
        pcm = b"".join(s.pcm for s in voice.speak_all(sentence))
        synthesis_s = time.perf_counter() - started
        listen = languages if has_cjk(sentence) else ("en",)
        heard = asr.transcribe(padded(phone_line(pcm, codec)), PHONE_RATE, listen)
        errors = char_errors(sentence, heard.raw_text)
        results.append(HeardBack(part, sentence, heard.raw_text, errors.edits, errors.chars,
                                 len(pcm) / 2 / PHONE_RATE, synthesis_s))
    return results


def summarise(results: list[HeardBack]) -> dict:
    """Per part: sentences, CER, sentences over `UNCLEAR`, and the voice's real-time factor."""
    parts: dict[str, dict] = {}
    for part in dict.fromkeys(r.part for r in results):
        rows = [r for r in results if r.part == part]
        errors = sum((Errors(r.edits, r.chars) for r in rows), Errors(0, 0))
        p50, p95 = percentiles([r.synthesis_s / r.audio_s for r in rows if r.audio_s])
        parts[part] = {"sentences": len(rows), "cer": round(errors.rate, 4),
                       "unclear": sum(r.chars > 0 and r.edits / r.chars > UNCLEAR for r in rows),
                       "tts_rtf_p50": round(p50, 3), "tts_rtf_p95": round(p95, 3)}
    return {"parts": parts, "sentences": [asdict(r) for r in results]}


def render(figures: dict) -> str:
    """One line per part: sentences, CER, how many are over `UNCLEAR`, TTS RTF p50/p95."""
    head = (f"{'sentences':28} {'count':>5} {'CER':>7} {f'over {UNCLEAR:.0%}':>9} "
            f"{'TTS RTF p50':>11} {'p95':>5}")
    lines = [head, "-" * len(head)]
    for part, g in figures["parts"].items():
        lines.append(f"{part:28} {g['sentences']:5d} {g['cer'] * 100:6.1f}% {g['unclear']:9d} "
                     f"{g['tts_rtf_p50']:11.2f} {g['tts_rtf_p95']:5.2f}")
    return "\n".join(lines)


def render_errors(figures: dict) -> str:
    """Every sentence heard back with an error: said -> heard, worst first."""
    wrong = sorted((s for s in figures["sentences"] if s["edits"]),
                   key=lambda s: -s["edits"] / max(s["chars"], 1))
    return "\n".join(f"{s['part']:20} {s['edits']:2}/{s['chars']:<3} {s['sentence']} -> "
                     f"{s['heard']}" for s in wrong)


def heldout_sentences(path: Path, language: str) -> list[str]:
    """The held-out sentences of `language` in `path` (none when the file has none)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(s) for s in raw.get(language) or []]


# ---- `ivr bench voice` ---------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's options (see `ivr bench voice --help`)."""
    parser.add_argument("--dialplan", type=Path,
                        default=ROOT / "dialplans" / "clinic-appointments.yaml",
                        help="the plan whose sentences, voice and recogniser are used "
                             "(default: the clinic)")
    parser.add_argument("--lang", default=None,
                        help="the language to measure (default: the plan's first)")
    parser.add_argument("--voice", default=None, metavar="NAME",
                        help="another voice of the same engine instead (e.g. zf_xiaoyi)")
    parser.add_argument("--speed", type=float, default=None,
                        help="another speaking rate for a Kokoro voice (0.9: a tenth slower)")
    parser.add_argument("--heldout", type=Path, default=HELDOUT, metavar="FILE.yaml",
                        help="held-out sentences per language (default: "
                             "tests/data/bot_sentences.yaml)")
    parser.add_argument("--codec", choices=["pcmu", "pcma"], default="pcmu",
                        help="the G.711 line (default: pcmu)")
    parser.add_argument("--errors", action="store_true",
                        help="also list every sentence heard back with an error")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Build the plan's voice and recogniser, hear back its sentences and the held-out ones."""
    import os

    from ivr.asr.whisper import WhisperASR
    from ivr.dialplan.loader import load_dialplan
    from ivr.session.engines import asr_model_dir
    from ivr.tts.voices import build_voice, load_voices
    from ivr.tts.warm import plan_sentences

    if not args.heldout.is_file():
        raise IvrError(f"no held-out sentence file {args.heldout} (give one with --heldout)")
    plan = load_dialplan(args.dialplan).plan
    language = args.lang or plan.languages[0]
    specs = load_voices()
    if language not in plan.languages or language not in specs:
        raise IvrError(f"{args.dialplan.name} does not speak {language!r} (it speaks "
                       f"{', '.join(plan.languages)}), or voices/voices.yaml has no voice for it")
    changes = {k: v for k, v in (("voice", args.voice), ("speed", args.speed)) if v is not None}
    spec = specs[language].model_copy(update=changes)
    voice = build_voice(spec, language)
    asr = WhisperASR(asr_model_dir(plan.asr_model))   # as calls build it (no hotwords)
    languages = tuple(plan.languages)
    results = hear_back(voice, asr, plan_sentences(plan)[language], args.dialplan.stem,
                        languages, args.codec)
    held = heldout_sentences(args.heldout, language)
    if held:
        results += hear_back(voice, asr, held, "held-out", languages, args.codec)
    figures = summarise(results)
    figures["voice"] = spec.model_dump(exclude_defaults=True)
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return 0
    print(f"voice: {figures['voice']}  heard by {plan.asr_model} in {list(languages)} through "
          f"{args.codec}  load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(render(figures))
    if args.errors:
        print("\n" + render_errors(figures))
    return 0
