"""`ivr replay CALL_ID | PATH | --since WHEN`: recorded calls through the current plan and models,
turn by turn against the original (see `ivr.qa.replay`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ivr.cli.calls_cmd import since
from ivr.cli.runtime import add_runtime_options
from ivr.cli.talk import iso_time
from ivr.errors import IvrError
from ivr.qa.replay import RecordedCall, Replayed, ReplayResult
from ivr.qa.replay_report import format_call, render_html, summary_line, to_json
from ivr.qa.replay_asr import default_path as default_asr_cache
from ivr.qa.replay_runner import (ReplaySettings, Replayer, default_jobs, replay_batch,
                                  shared_llm)
from ivr.qa.replay_sources import calls_at, calls_in_store, open_store


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "replay", help="replay recorded calls through the current plan and models, with a diff",
        conflict_handler="resolve",
        description="Play the caller's side of recorded calls through the current dialplan and "
                    "models in simulated time (keys as pressed, same caller number and call "
                    "time) and compare turn by turn with the original: what was heard, node, "
                    "decision, answer source, transfer, outcome. Exit status 1 when a decision "
                    "changed, 0 when none did, 2 on errors.")
    parser.add_argument("call", nargs="?", metavar="CALL_ID|PATH",
                        help="a call id from the store, a call record (.jsonl, its .wav beside "
                             "it) or a folder of them")
    parser.add_argument("--since", type=since, default=None, metavar="WHEN",
                        help="every finished call in the store since: 2026-11-30, "
                             "2026-11-30T10:00 (UTC unless a zone is given), or 30m / 2h / 7d ago")
    parser.add_argument("--store", metavar="URL", default=None,
                        help="call store URL or SQLite file (default: calls.db in --recordings, "
                             "or beside the records given)")
    parser.add_argument("--recordings", type=Path, default=Path("recordings"),
                        help="the recordings folder of `ivr serve` (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="calls replayed at once, each job a process with its own models "
                             "(default: one, or one per core for a long batch that has to be "
                             "recognised afresh)")
    parser.add_argument("--asr-cache", type=Path, default=default_asr_cache(), metavar="FILE",
                        help="recognition results kept across replays, by model and exact "
                             "audio (default: %(default)s)")
    parser.add_argument("--no-asr-cache", dest="asr_cache", action="store_const", const=None,
                        help="recognise every utterance afresh")
    parser.add_argument("--synthesise", action="store_true",
                        help="synthesise the bot's speech again instead of playing each "
                             "sentence for as long as the recording did (slower; only the "
                             "text is compared either way)")
    parser.add_argument("--html", type=Path, default=None, metavar="REPORT.html",
                        help="write a self-contained HTML report of the batch")
    parser.add_argument("--json", action="store_true",
                        help="print the comparison as JSON instead of text")
    parser.add_argument("--accept", action="store_true",
                        help="replace each given .jsonl record with its replay (the audio stays): "
                             "accept intended changes to a regression suite")
    parser.add_argument("--at", type=iso_time, default=None, metavar="ISO_TIME",
                        help="replay every call at this time instead of its recorded one")
    add_runtime_options(parser)
    parser.add_argument("--dialplan", type=Path, default=None,
                        help="replay every call on this plan (default: each call's own plan, as "
                             "it is now)")
    parser.set_defaults(func=run)


def _calls(args: argparse.Namespace) -> list[RecordedCall]:
    if (args.call is None) == (args.since is None):
        raise IvrError("give one of: a call id, a .jsonl record or folder of them, or --since "
                       "WHEN")
    path = Path(args.call) if args.call is not None else None
    if path is not None and path.exists():
        store = open_store(args.store, path if path.is_dir() else path.parent)
        try:
            return calls_at(path, store)
        finally:
            if store is not None:
                store.close()
    if args.accept:
        raise IvrError("--accept rewrites .jsonl records: give a record or a folder of them")
    if args.call is not None and (args.call.endswith(".jsonl") or os.sep in args.call):
        raise IvrError(f"{args.call}: no such file or folder")
    store = open_store(args.store, args.recordings)
    if store is None:
        raise IvrError(f"no call store in {args.recordings}/: give --recordings (the folder of "
                       "`ivr serve`) or --store URL, or a .jsonl record or a folder of them")
    try:
        return calls_in_store(store, args.recordings, args.call, args.since)
    finally:
        store.close()


def run(args: argparse.Namespace) -> int:
    calls = _calls(args)
    settings = ReplaySettings(args.dialplan, args.at, args.llm_url, args.llm_model,
                              args.asr_device, args.asr_cache, args.synthesise)
    replayer = Replayer(settings)
    plans = [replayer.plan(call) for call in calls]  # a broken plan stops here, before models
    jobs = args.jobs or default_jobs(len(calls), bool(args.asr_cache and args.asr_cache.is_file()))
    with shared_llm(settings, plans) as settings:
        # no engines are built yet: every job (and this replayer) will use this LLM
        replayer.settings = settings
        started = time.perf_counter()
        with tqdm(total=len(calls), desc="replaying", unit="call", file=sys.stderr,
                  disable=len(calls) < 2) as bar:
            results = replay_batch(calls, settings, jobs, lambda _: bar.update(),
                                   replayer=replayer)
        elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(to_json(results, elapsed), indent=2, ensure_ascii=False, default=str))
    else:
        for result in results:
            print(format_call(result) + "\n")
        print(summary_line(results, elapsed))
    if args.html:
        args.html.write_text(render_html(results, elapsed), encoding="utf-8")
        print(f"report -> {args.html}", file=sys.stderr)
    if args.accept:
        _accept(calls, results)
    failed = [r for r in results if not isinstance(r, ReplayResult)]
    if failed:
        raise IvrError(f"{len(failed)} of {len(results)} call(s) not replayed; the first: "
                       f"{failed[0].call_id}: {failed[0].error}")
    return 1 if any(r.decision_changed for r in results) and not args.accept else 0


def _accept(calls: list[RecordedCall], results: list[Replayed]) -> None:
    """Each replayed record replaces its original; the caller's audio is kept as it is."""
    for call, result in zip(calls, results):
        if isinstance(result, ReplayResult):
            call.record.events_path.write_text(
                "".join(event.to_json() + "\n" for event in result.events), encoding="utf-8")
            print(f"accepted -> {call.record.events_path}", file=sys.stderr)
