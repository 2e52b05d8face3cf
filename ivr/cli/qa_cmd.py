"""`ivr qa score`: automatic QA scores of stored calls from a YAML rubric."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from ivr.cli.calls_cmd import open_store, since
from ivr.errors import IvrError
from ivr.qa.rubric import CHECKS, DEFAULT_RUBRIC, Rubric, default_rubric, load_rubric
from ivr.qa.score_report import ScoredCall, table, totals, write_csv
from ivr.qa.scores import score_call, stored_events
from ivr.store import schema
from ivr.store.rows import Write, json_safe
from ivr.store.store import CallStore

DEFAULT_SINCE = "1d"


def _criteria_help() -> str:
    width = max(len(name) for name in CHECKS)
    return "\n".join(f"  {name:<{width}}  {(check.score.__doc__ or '').split(chr(10))[0]}"
                     for name, check in CHECKS.items())


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "qa", help="automatic QA scores of recorded calls",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Quality scores for every call, from a rubric the admin edits (YAML).\n\n"
                    "Every call is scored when it ends, with the default rubric\n"
                    f"({DEFAULT_RUBRIC}), and `ivr calls show` prints its scores.\n"
                    "Each criterion scores 0..1 with its evidence, or does not apply to a call;\n"
                    "the total is the weighted mean of those that apply, 0..100.\n\n"
                    "criteria (ids a rubric may use):\n" + _criteria_help())
    commands = parser.add_subparsers(dest="qa_command", metavar="score", required=True)
    score = commands.add_parser(
        "score", help="score stored calls: a table, totals per day and hotline, CSV",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Score stored calls from their stored events (finished calls only,\n"
                    "unless named) and print one line per call, then totals per day and per\n"
                    "hotline (dialplan).",
        epilog="examples:\n"
               "  ivr qa score --since 7d --csv week.csv\n"
               "  ivr qa score CALL_ID --rubric strict.yaml\n"
               "  ivr qa score --since 2026-11-30 --rescore   (write the scores to the store)")
    score.add_argument("call_ids", nargs="*", metavar="CALL_ID",
                       help="calls to score (default: the finished calls of --since)")
    score.add_argument("--since", type=since, default=None, metavar="WHEN",
                       help="calls started since: 2026-11-30, 2026-11-30T10:00 (UTC unless a "
                            f"zone is given), or 30m / 2h / 7d ago (default: {DEFAULT_SINCE})")
    score.add_argument("--limit", type=int, default=10000,
                       help="at most this many calls (default: %(default)s)")
    score.add_argument("--rubric", type=Path, default=None, metavar="FILE",
                       help="the rubric to score with (default: the shipped one)")
    score.add_argument("--csv", type=Path, default=None, metavar="FILE",
                       help="also write one row per call, a column per criterion")
    score.add_argument("--rescore", action="store_true",
                       help="write the new scores to the store (calls.qa_scores), replacing "
                            "those written when the call ended")
    score.add_argument("--store", metavar="URL", default=None,
                       help="call store URL or SQLite file (default: calls.db in --recordings)")
    score.add_argument("--recordings", type=Path, default=Path("recordings"),
                       help="the recordings folder of `ivr serve` (default: %(default)s)")
    score.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> int:
    rubric = load_rubric(args.rubric) if args.rubric else default_rubric()
    if args.call_ids and args.since:
        raise IvrError("give call ids or --since, not both")
    store = open_store(args)
    started = time.perf_counter()
    try:
        rows = _rows(store, args)
        scored = [_score(store, row, rubric, args.rescore) for row in rows]
    finally:
        store.close()
    elapsed = time.perf_counter() - started
    for line in [*table(scored, rubric), "", *totals(scored)]:
        print(line)
    if args.csv:
        write_csv(args.csv, scored, rubric)
        print(f"CSV: {args.csv}")
    print(f"{len(scored)} call(s) scored with rubric {rubric.name} in {elapsed:.2f} s"
          + (", scores written to the store" if args.rescore else ""))
    return 0


def _rows(store: CallStore, args: argparse.Namespace) -> list[dict]:
    if args.call_ids:
        rows = [store.call(call_id) for call_id in args.call_ids]
        missing = [c for c, row in zip(args.call_ids, rows) if row is None]
        if missing:
            raise IvrError(f"no call {', '.join(map(repr, missing))} in the store: `ivr calls "
                           "list` shows them")
        return [row for row in rows if row is not None]
    when = args.since or since(DEFAULT_SINCE)
    rows = [r for r in reversed(store.calls(since=when, limit=args.limit))
            if r["outcome"] is not None]
    if not rows:
        raise IvrError(f"no finished call in the store since {when:%Y-%m-%d %H:%M} UTC: give "
                       "--since or call ids (`ivr calls list` shows the calls)")
    return rows


def _score(store: CallStore, row: dict, rubric: Rubric, rescore: bool) -> ScoredCall:
    call_id = row["call_id"]
    scores = score_call(stored_events(store.events(call_id)), rubric, f"store:{call_id}")
    if rescore:
        store.write([Write(schema.calls, {"qa_scores": json_safe(scores.as_json())},
                           {"call_id": call_id})])
    started: dt.datetime = row["started_at"]
    return ScoredCall(call_id, started, row["dialplan"], row["outcome"], scores)
