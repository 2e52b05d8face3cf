"""`ivr bench`: per-stage latency of real turns through the embedded default, p50/p95."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("bench", help="measure per-stage latency and model speed")
    parser.set_defaults(func=lambda args: 0)
