"""`ivr calls list|show|purge`: read the call store (what `ivr serve` recorded), and delete
calls past their retention."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.dialplan.loader import load_dialplan
from ivr.dialplan.model import age_seconds
from ivr.errors import IvrError
from ivr.qa.scores import describe
from ivr.store.store import CallStore, default_url

log = logging.getLogger("ivr.store")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("calls", help="list and show recorded calls",
                            description="Read the call store: every call's outcome, its "
                                        "transcript turn by turn, decisions and timings.")
    commands = parser.add_subparsers(dest="calls_command", metavar="list|show|purge",
                                     required=True)
    listing = commands.add_parser("list", help="the newest calls first")
    listing.add_argument("--since", type=since, default=None, metavar="WHEN",
                         help="only calls started since: 2026-11-30, 2026-11-30T10:00 (UTC "
                              "unless a zone is given), or 30m / 2h / 7d ago")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default: 50)")
    show = commands.add_parser("show", help="one call: outcome, transcript, decisions")
    show.add_argument("call_id")
    purge = commands.add_parser(
        "purge", help="delete calls past their retention (for cron)",
        description="Delete the calls started before the retention period: their store rows, "
                    "recordings and JSONL event logs (--recordings-only: only the recordings). "
                    "Without --older-than each call's plan says how long its recordings and "
                    "transcripts are kept (`retention:`; a plan without it keeps its calls). "
                    "Calls still going on are kept. Each deletion is logged. Exit status 1 when "
                    "a plan's retention could not be read (its calls are kept).")
    purge.add_argument("--older-than", type=age, default=None, metavar="AGE",
                       help="one retention for every call: 90d, 12h, 30m (default: each call's "
                            "plan's retention)")
    purge.add_argument("--recordings-only", action="store_true",
                       help="delete the audio only; keep transcripts, events and tickets")
    purge.add_argument("--dry-run", action="store_true", help="say what would go; delete nothing")
    for command in (listing, show, purge):
        command.add_argument("--store", metavar="URL", default=None,
                             help="call store URL or SQLite file (default: calls.db in "
                                  "--recordings)")
        command.add_argument("--recordings", type=Path, default=Path("recordings"),
                             help="the recordings folder of `ivr serve` (default: %(default)s)")
    listing.set_defaults(func=run_list)
    show.set_defaults(func=run_show)
    purge.set_defaults(func=run_purge)


def since(text: str) -> dt.datetime:
    """--since: an ISO date/time (UTC unless it names a zone) or an age like 2h."""
    if match := re.fullmatch(r"(\d+)([mhd])", text):
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return dt.datetime.now(dt.timezone.utc) - dt.timedelta(**{unit: int(match[1])})
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give 2026-11-30, 2026-11-30T10:00 or an "
                                         "age like 30m, 2h, 7d") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def age(text: str) -> dt.datetime:
    """--older-than: an age like 90d, 12h or 30m, as the time that far back."""
    if not re.fullmatch(r"\d+[mhd]", text):
        raise argparse.ArgumentTypeError(f"{text!r}: give an age like 90d, 12h or 30m")
    return since(text)


def open_store(args: argparse.Namespace) -> CallStore:
    """The store of `--store`, else of `--recordings` (read only: no migration)."""
    url = args.store or default_url(args.recordings)
    if not args.store and not (args.recordings / "calls.db").exists():
        raise IvrError(f"no call store in {args.recordings}/: give --recordings (the folder "
                       "of `ivr serve`) or --store URL")
    return CallStore.open(url, migrate=False)


def _time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def run_list(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        calls = store.calls(since=args.since, limit=args.limit)
    finally:
        store.close()
    print(f"{'started (UTC)':<19}  {'call id':<36} {'caller':<14} {'worker':<6} "
          f"{'dur s':>6}  {'outcome':<11} reason")
    for c in calls:
        outcome = c["outcome"].value if c["outcome"] else "(open)"
        reason = c["end_reason"] or ""
        if c["transfer_reason"]:
            reason += f" ({c['transfer_reason']} -> {c['transfer_target']})"
        duration = f"{c['duration_s']:.1f}" if c["duration_s"] is not None else "-"
        print(f"{_time(c['started_at']):<19}  {c['call_id']:<36} {c['caller_number'] or '-':<14} "
              f"{c['worker']:<6} {duration:>6}  {outcome:<11} {reason}")
    print(f"{len(calls)} call(s)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        call = store.call(args.call_id)
        if call is None:
            raise IvrError(f"no call {args.call_id!r} in the store: `ivr calls list` shows them")
        turns = store.turns(args.call_id)
    finally:
        store.close()
    for line in _header(call):
        print(line)
    for turn in turns:
        if turn["caller_text"]:
            print(f"[{turn['t_start']:7.2f}s] caller: {turn['caller_text']}")
        evidence = " ".join(f"{k}={v}" for k, v in (turn["evidence"] or {}).items())
        latency = f", {turn['latency_ms']:.0f} ms" if turn["latency_ms"] is not None else ""
        source = f", {turn['answer_source']} answer" if turn["answer_source"] else ""
        print(f"{'':12}-> {turn['decision']} at {turn['node']} {evidence}".rstrip()
              + f"{source}{latency}")
        if turn["bot_text"]:
            print(f"{'':12}   bot: {turn['bot_text']}")
    return 0


def _header(call: dict[str, Any]) -> list[str]:
    outcome = call["outcome"].value if call["outcome"] else "(open: no end recorded yet)"
    lines = [f"call {call['call_id']} from {call['caller_number'] or 'unknown'} on "
             f"{call['worker']}",
             f"  {_time(call['started_at'])} -> {_time(call['ended_at'])} UTC, "
             f"{outcome} ({call['end_reason'] or '-'})",
             f"  dialplan {call['dialplan']} (sha256 {(call['dialplan_sha256'] or '-')[:12]})"]
    if call["transfer_target"]:
        lines.append(f"  transfer to {call['transfer_target']} ({call['transfer_reason']}): "
                     f"{call['transfer_status'] or 'no final answer'}")
    if call["slots"]:
        lines.append("  slots: " + ", ".join(f"{k}={v}" for k, v in call["slots"].items()))
    if call["survey_answer"] is not None:
        lines.append(f"  survey: {call['survey_answer']}")
    if call["ticket"]:
        ticket = call["ticket"]
        lines.append(f"  ticket: {ticket['category']}; {ticket['resolution']}; follow-up "
                     f"{'needed' if ticket['follow_up_needed'] else 'not needed'}")
    if call["qa_scores"]:
        lines += [f"  {line}" for line in describe(call["qa_scores"])]
    lines.append(f"  recording {call['recording_path'] or '(none)'}, events {call['events_path']}")
    return lines


@dataclass(frozen=True)
class PurgeRule:
    """Delete the finished calls on `dialplan` (None: every plan) started before `before`; only
    their recordings when `recordings_only`. `why` says where the rule came from."""

    before: dt.datetime
    recordings_only: bool
    why: str
    dialplan: str | None = None


def plan_rules(plans: list[str], recordings_only: bool,
               now: dt.datetime) -> tuple[list[PurgeRule], list[str]]:
    """The rules of each plan's `retention:` (whole calls first, then recordings), and one
    line per plan whose retention could not be read."""
    rules, broken = [], []
    for plan in plans:
        try:
            retention = load_dialplan(Path(plan)).plan.retention
        except IvrError as exc:
            broken.append(f"calls on {plan} kept: cannot read its retention: {exc}")
            continue
        kinds = [("recordings", retention.recordings, True)]
        if not recordings_only:
            kinds.insert(0, ("transcripts", retention.transcripts, False))
        rules += [PurgeRule(now - dt.timedelta(seconds=age_seconds(kept)), audio,
                            f"{plan} retention {kind}: {kept}", plan)
                  for kind, kept, audio in kinds if kept is not None]
    return rules, broken


def run_purge(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        if args.older_than is not None:
            rules = [PurgeRule(args.older_than, args.recordings_only, "--older-than")]
            broken: list[str] = []
        else:
            rules, broken = plan_rules(store.finished_plans(), args.recordings_only,
                                       dt.datetime.now(dt.timezone.utc))
        for rule in rules:
            _purge(args, rule, store.purge(rule.before, rule.recordings_only, args.dry_run,
                                           rule.dialplan))
    finally:
        store.close()
    for line in broken:
        log.error("retention: %s", line)
        print(line)
    if not rules and not broken:
        print("nothing to purge: no plan of a stored call sets `retention:`; give --older-than")
    return 1 if broken else 0


def _purge(args: argparse.Namespace, rule: PurgeRule, calls: list[dict[str, Any]]) -> None:
    """Delete the files of `calls` (purged from the store by `rule`), logging each call."""
    verb = "would delete" if args.dry_run else "deleted"
    what = "recording" if rule.recordings_only else "call"
    files = 0
    for call in calls:
        paths = [call["recording_path"]] + ([] if rule.recordings_only else [call["events_path"]])
        for path in (_local(args.recordings, p) for p in paths if p):
            if path.exists():
                files += 1
                if not args.dry_run:
                    path.unlink()
        log.info("retention: %s %s %s (started %s; %s)", verb, what, call["call_id"],
                 _time(call["started_at"]), rule.why)
        print(f"{verb} {what} {call['call_id']} started {_time(call['started_at'])}")
    raw = sum(1 for call in calls if call.get("raw_recording_path"))  # the store's own files
    print(f"{verb} {len(calls)} call(s){' (recordings only)' if rule.recordings_only else ''}, "
          f"{files + raw} file(s){f' ({raw} raw recording(s))' if raw else ''}, started before "
          f"{_time(rule.before)} UTC ({rule.why})")


def _local(recordings: Path, stored: str) -> Path:
    """A stored file path; a relative one that is not there is looked for in `recordings`."""
    path = Path(stored)
    return path if path.is_absolute() or path.exists() else recordings / path.name
