"""`ivr eval`: measure the bot's guards on labelled sets.

    ivr eval escalation SET.yaml [--audio] [--limit N] [--lang en]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ivr.errors import IvrError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="measure guards on labelled sets",
                            description="Evaluate the bot's safety guards on labelled sets.")
    kinds = parser.add_subparsers(dest="eval_kind", metavar="KIND", required=True)
    esc = kinds.add_parser(
        "escalation", help="precision/recall of the hand-off guards",
        description="Precision and recall of the emergency, human-request and anger guards on a "
                    "labelled set (e.g. tests/data/escalation_dev.yaml). --audio speaks each "
                    "English utterance with piper (normal and +12 dB), passes it through a G.711 "
                    "line and whisper tiny.en, and classifies what was heard.")
    esc.add_argument("set", type=Path, metavar="SET.yaml", help="labelled utterances")
    esc.add_argument("--audio", action="store_true", help="through TTS, G.711 and ASR")
    esc.add_argument("--limit", type=int, default=None, metavar="N",
                     help="only the first N utterances")
    esc.add_argument("--lang", action="append", default=None, metavar="LANG",
                     help="only this language (repeatable; audio mode is English only)")
    esc.add_argument("--tts-noise", action="store_true",
                     help="audio mode: let piper vary its prosody at random (runs then differ)")
    esc.add_argument("--min-recall", type=float, default=None, metavar="R",
                     help="exit 1 when any class with items has recall below R")
    esc.set_defaults(func=run_escalation)


def run_escalation(args: argparse.Namespace) -> int:
    from ivr.qa.escalation_eval import evaluate

    if not args.set.exists():
        raise IvrError(f"{args.set}: no such set file")
    if args.audio and args.lang and set(args.lang) - {"en"}:
        raise IvrError("audio mode speaks English only (no Mandarin piper voice is installed)")
    report = evaluate(args.set, audio=args.audio, limit=args.limit, languages=args.lang,
                      progress=args.audio, tts_noise=args.tts_noise)
    print(report.table())
    if args.min_recall is not None:
        low = [cls for cls, s in report.per_class.items()
               if not math.isnan(s.recall) and s.recall < args.min_recall]
        if low:
            print(f"recall below {args.min_recall}: {', '.join(low)}")
            return 1
    return 0
