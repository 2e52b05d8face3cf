"""`ivr`: the hotline's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ivr.errors import IvrError

DESCRIPTION = """Voice IVR bot for phone hotlines.

Everything runs offline on the embedded default models (whisper, piper, SmolLM2 via llama.cpp).
Start with:  ivr serve                      (answer SIP calls on 127.0.0.1:5060)
             ivr talk samples/caller.wav    (hear how the bot answers a recorded caller)"""


def build_parser() -> argparse.ArgumentParser:
    from ivr.cli import (bench, calls_cmd, console_cmd, dialplan_cmd, eval_cmd, kb_cmd, models,
                         qa_cmd, replay_cmd, serve, talk)

    parser = argparse.ArgumentParser(prog="ivr", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (serve, talk, replay_cmd, bench, calls_cmd, qa_cmd, console_cmd, dialplan_cmd,
                   eval_cmd, kb_cmd, models):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from wheels, never from a hub
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "faster_whisper"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except IvrError as exc:
        print(f"ivr: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ivr: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
