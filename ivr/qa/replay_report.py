"""QA replay reports: a readable diff per call, a summary line, JSON, and one self-contained
HTML page for a batch (no scripts, no fonts or styles from elsewhere)."""

from __future__ import annotations

import dataclasses
import html
from typing import Any, Sequence

from ivr.qa.replay import (CALL_FIELDS, DECISION_FIELDS, Replayed, ReplayFailure,
                           ReplayResult, Turn, TurnDiff)


COLUMNS = ("heard", "node", "decision", "transfer", "source", "said")
"""The compared fields of a turn, in the order reports show them."""


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _turn_line(turn: Turn) -> str:
    heard = f'"{_short(turn.heard, 40)}" ' if turn.heard else ""
    return (f"{heard}-> {turn.decision} at {turn.node or '-'}"
            + (f", {turn.source}" if turn.source else "")
            + (f", transfer {turn.transfer}" if turn.transfer else ""))


def _diff_lines(diff: TurnDiff) -> list[str]:
    turn = diff.after or diff.before
    assert turn is not None
    head = f"  {'!' if diff.decision_changed else '~' if diff.changed else '='} turn " \
           f"{diff.idx} [{turn.t:6.2f}s] "
    if not diff.changed:
        return [head + _turn_line(turn)]
    if diff.before is None or diff.after is None:
        side = "only in the replay" if diff.before is None else "missing in the replay"
        return [head + f"{side}: {_turn_line(turn)}"]
    lines = [head + ("decision changed" if diff.decision_changed else "wording changed")]
    for name in COLUMNS:
        before, after = diff.before.value(name), diff.after.value(name)
        if name in diff.changed:
            lines += [f"      {name:<9} before: {before or '-'}",
                      f"      {'':<9}  after: {after or '-'}"]
        elif name in ("heard", "decision") and before:
            lines.append(f"      {name:<9}         {_short(before, 70)}")
    return lines


def format_call(result: Replayed) -> str:
    """One call's diff: unchanged turns on one line, changed ones with before and after."""
    if isinstance(result, ReplayFailure):
        return f"call {result.call_id}: NOT REPLAYED: {result.error}"
    verdict = ("decisions changed" if result.decision_changed else
               "wording changed" if result.wording_changed else "unchanged")
    lines = [f"call {result.call_id}: {verdict} (plan {result.dialplan}, call time "
             f"{result.call_time}; {result.audio_s:.1f} s of audio in {result.wall_s:.1f} s)"]
    for diff in result.diffs:
        lines += _diff_lines(diff)
    original, replayed = result.original, result.replayed
    for name in CALL_FIELDS:
        before, after = original.value(name) or "-", replayed.value(name) or "-"
        if name in result.call_changes:
            lines.append(f"  ! {name}: {before} -> {after}")
        elif name == "outcome":
            lines.append(f"  = outcome: {before} ({original.end_reason})")
    return "\n".join(lines)


def totals(results: Sequence[Replayed]) -> dict[str, Any]:
    """How many calls changed decisions, wording only, nothing; failures; speed."""
    done = [r for r in results if isinstance(r, ReplayResult)]
    audio = sum(r.audio_s for r in done)
    wall = sum(r.wall_s for r in done)
    return {"calls": len(results),
            "decisions_changed": sum(r.decision_changed for r in done),
            "wording_changed": sum(r.wording_changed for r in done),
            "unchanged": sum(not r.decision_changed and not r.wording_changed for r in done),
            "failed": len(results) - len(done), "audio_s": round(audio, 1),
            "replay_s": round(wall, 1), "x_real_time": round(audio / wall, 1) if wall else None}


def summary_line(results: Sequence[Replayed], elapsed_s: float) -> str:
    """The batch in one line; `elapsed_s` is the batch's wall time (parallel jobs overlap)."""
    t = totals(results)
    speed = f", {t['audio_s'] / elapsed_s:.1f}x real time" if elapsed_s > 0 else ""
    failed = f", {t['failed']} not replayed" if t["failed"] else ""
    return (f"replayed {t['calls']} call(s): {t['decisions_changed']} with changed decisions, "
            f"{t['wording_changed']} with changed wording only, {t['unchanged']} unchanged"
            f"{failed} ({t['audio_s']:.1f} s of calls in {elapsed_s:.1f} s{speed})")


def to_json(results: Sequence[Replayed], elapsed_s: float) -> dict[str, Any]:
    """The whole batch as plain JSON (the replay's own events left out)."""
    calls = []
    for r in results:
        if isinstance(r, ReplayFailure):
            calls.append(dataclasses.asdict(r))
            continue
        entry = {k: v for k, v in dataclasses.asdict(r).items() if k != "events"}
        entry.update(decision_changed=r.decision_changed, wording_changed=r.wording_changed,
                     call_changes=list(r.call_changes))
        calls.append(entry)
    return {"totals": {**totals(results), "elapsed_s": round(elapsed_s, 1)}, "calls": calls}


# ---- HTML ---------------------------------------------------------------------------------------
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
th{background:#f3f3f3} .n{text-align:right;white-space:nowrap}
td.decision{background:#ffd6d6} td.wording{background:#fff3c4}
.before{color:#888;text-decoration:line-through} .tot td{font-weight:bold}
.bad{color:#b00000} .ok{color:#0a7a0a} .warn{color:#946200}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def change_kind(diff: TurnDiff, name: str) -> str:
    """How a report marks field `name` of a turn: "decision" (red), "wording" (yellow) or ""
    (unchanged)."""
    if name not in diff.changed:
        return ""
    return "decision" if name in DECISION_FIELDS else "wording"


def _cell(diff: TurnDiff, name: str) -> str:
    before = diff.before.value(name) if diff.before else ""
    after = diff.after.value(name) if diff.after else ""
    kind = change_kind(diff, name)
    if not kind:
        return f"<td>{_e(after)}</td>"
    return (f'<td class="{kind} changed"><div class="before">{_e(before) or "&nbsp;"}</div>'
            f"<div>{_e(after) or '&nbsp;'}</div></td>")


def _call_html(result: Replayed) -> str:
    if isinstance(result, ReplayFailure):
        return f'<h2 class="bad">{_e(result.call_id)}: not replayed</h2><p>{_e(result.error)}</p>'
    state, css = (("decisions changed", "bad") if result.decision_changed else
                  ("wording changed", "warn") if result.wording_changed else ("unchanged", "ok"))
    rows = []
    for diff in result.diffs:
        turn = diff.after or diff.before
        assert turn is not None
        cells = "".join(_cell(diff, name) for name in COLUMNS)
        rows.append(f'<tr><td class="n">{diff.idx}</td><td class="n">{turn.t:.2f}</td>{cells}'
                    "</tr>")
    ends = "".join(
        f'<tr><th>{name}</th><td class="{"decision changed" if name in result.call_changes else ""}">'
        f'{_e(result.original.value(name)) or "-"}</td><td>{_e(result.replayed.value(name)) or "-"}'
        "</td></tr>" for name in CALL_FIELDS)
    header = "".join(f"<th>{name}</th>" for name in COLUMNS)
    return (f'<h2 id="{_e(result.call_id)}">{_e(result.call_id)}: <span class="{css}">{state}'
            f"</span></h2><p>plan {_e(result.dialplan)}, call time {_e(result.call_time)}, "
            f"{result.audio_s:.1f} s of audio replayed in {result.wall_s:.1f} s</p>"
            f'<table><tr><th>turn</th><th>t (s)</th>{header}</tr>{"".join(rows)}</table>'
            f"<table><tr><th></th><th>original</th><th>replay</th></tr>{ends}</table>")


def render_html(results: Sequence[Replayed], elapsed_s: float) -> str:
    """One self-contained page: totals, then each call's turns with changed cells marked
    (red: a decision, yellow: wording; the original struck through above the replay)."""
    t = totals(results)
    index = "".join(
        f'<tr><td><a href="#{_e(r.call_id)}">{_e(r.call_id)}</a></td><td>'
        + (("decisions changed" if r.decision_changed else "wording changed"
            if r.wording_changed else "unchanged") if isinstance(r, ReplayResult)
           else "not replayed") + "</td></tr>" for r in results)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>QA replay</title>"
            f"<style>{STYLE}</style></head><body><h1>QA replay: {t['calls']} call(s)</h1>"
            f'<table class="tot"><tr><th>calls</th><th>decisions changed</th><th>wording '
            f"changed only</th><th>unchanged</th><th>not replayed</th><th>audio</th><th>time"
            f"</th></tr><tr><td>{t['calls']}</td><td class=\"bad\">{t['decisions_changed']}</td>"
            f"<td class=\"warn\">{t['wording_changed']}</td><td class=\"ok\">{t['unchanged']}"
            f"</td><td>{t['failed']}</td><td>{t['audio_s']:.1f} s</td><td>{elapsed_s:.1f} s"
            f"</td></tr></table><table>{index}</table>"
            + "".join(_call_html(r) for r in results) + "</body></html>")
