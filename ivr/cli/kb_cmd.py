"""`ivr kb build [PLAN.yaml ...]`: index the documents plans answer from."""

from __future__ import annotations

import argparse
from pathlib import Path

from ivr.cli.runtime import DEFAULT_DIALPLAN


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("kb", help="build the document index of dialplans",
                            description="Work with the documents dialplans answer from.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build", help="chunk and index a plan's documents (only changed files are re-embedded)",
        description="Cut the documents under each plan's `documents.folders` into passages and "
                    "index them (BM25 and multilingual e5 embeddings) into .kb/<plan>.npz and "
                    ".json beside the plan. Files whose sha256 did not change keep their "
                    "passages. Without PLAN, every plan with documents in "
                    f"{DEFAULT_DIALPLAN.parent}.")
    build.add_argument("plans", nargs="*", type=Path, metavar="PLAN.yaml")
    build.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from ivr.dialplan.loader import load_dialplan
    from ivr.kb.embedder import E5Embedder
    from ivr.kb.index import build_index, index_paths

    plans = [load_dialplan(path) for path in args.plans] if args.plans else \
        [p for p in map(load_dialplan, sorted(DEFAULT_DIALPLAN.parent.glob("*.yaml")))
         if p.plan.documents is not None]
    without = [str(p.path) for p in plans if p.plan.documents is None]
    if without:
        print(f"no documents declared in: {', '.join(without)}")
    embedder = E5Embedder()
    for loaded in plans:
        if loaded.plan.documents is None:
            continue
        _, report = build_index(loaded, embedder, progress=True)
        print(f"{index_paths(loaded.path)[0]}: {report.chunks} passages from "
              f"{len(report.reused) + len(report.embedded)} files ({len(report.embedded)} "
              f"re-embedded, {report.embedded_chunks} passages) in {report.seconds:.1f} s")
    return 1 if without else 0
