"""`ivr models`: which bundled models are installed, where, and under what licence."""

from __future__ import annotations

import argparse

from ivr.errors import IvrError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="list and verify the bundled models",
                            description="Locate every bundled model (assembling whisper base once "
                                        "into the cache) and print where it is.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ivr.models.locator import BUNDLED

    missing = 0
    for model in BUNDLED:
        try:
            where = model.locate()
            print(f"ok       {model.name:24} {model.role:22} {model.licence:28} {where}")
        except IvrError as exc:
            missing += 1
            print(f"MISSING  {model.name:24} {model.role:22} {exc}")
    return 2 if missing else 0
