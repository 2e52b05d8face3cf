"""The hand-off guard alone on every single turn of labelled sets, before and after a change.

`ivr eval escalation` plays each turn into a whole dialog; this runs only `EscalationGuard.assess`
(the component calls run on every caller turn) with one plan's effective rules and the shipped
net, a fresh guard per turn, so thousands of turns take minutes. Turns with a `context` are left
out (their label is about the whole exchange). What it counts, per part (a set whose file name
holds "holdout" is held-out, any other development) and language: emergencies and self-harm
handed over (either counts), requests for a person put through, hostile turns found, and calm
turns (neutral label) sent to emergency help, to a person or taken for hostile ones.

A run's verdicts can be saved and a later run compared with them: the counts that moved and each
development turn whose verdict changed. Held-out turns are counted, never printed or saved as
text, so that a held-out set stays a gate no one tunes on.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ivr.errors import IvrError
from ivr.qa.escalation_eval import load_set, progress_bar

__all__ = ["GuardTurn", "guard_turns", "held_out", "tally", "table", "save", "load", "changes"]

URGENT = frozenset({"emergency", "self_harm"})
# (counter, what it counts, its denominator)
ROWS = (("urgent", "urgent handed over", "urgent_n"),
        ("human", "a person please, put through", "human_n"),
        ("angry", "hostile turns found", "angry_n"),
        ("calm_urgent", "calm sent to emergency help", "calm_n"),
        ("calm_human", "calm put through to a person", "calm_n"),
        ("calm_angry", "calm taken for hostile", "calm_n"))


@dataclass(frozen=True)
class GuardTurn:
    """One turn's label and the guard's verdict kind; `text` is empty for a held-out turn."""

    set: str
    lang: str
    label: str
    kind: str
    text: str

    @property
    def held_out(self) -> bool:
        return held_out(self.set)


def held_out(set_name: str) -> bool:
    """Whether the set file `set_name` is a held-out set (its name holds "holdout")."""
    return "holdout" in set_name


def guard_turns(sets: Sequence[Path], plan: Path, embedder=None,
                progress: bool = False) -> list[GuardTurn]:
    """The guard's verdict on every single turn of `sets` with `plan`'s effective rules."""
    from ivr.dialplan.loader import load_dialplan
    from ivr.kb.embedder import CachingEmbedder, E5Embedder
    from ivr.safety.guard import EscalationGuard
    from ivr.safety.lexicon import compile_rules
    from ivr.safety.semantic import SemanticNet

    items = [(path.name, item) for path in sets for item in load_set(path) if not item.context]
    net = SemanticNet(embedder or CachingEmbedder(E5Embedder(threads=2), size=64))
    rules = compile_rules(load_dialplan(plan).plan.escalation)
    turns = []
    for name, item in progress_bar(items, progress, "guard", "turn"):
        kind = EscalationGuard(net).assess(rules, item.text).kind
        turns.append(GuardTurn(name, item.lang, item.label, kind,
                               "" if held_out(name) else item.text))
    return turns


def tally(turns: Iterable[GuardTurn]) -> dict[tuple[str, str], Counter]:
    """Counts per (part, language): see the module doc; `*_n` are the denominators."""
    counts: dict[tuple[str, str], Counter] = {}
    for turn in turns:
        c = counts.setdefault(("held-out" if turn.held_out else "dev", turn.lang), Counter())
        urgent = turn.kind in URGENT
        if turn.label in URGENT:
            c["urgent_n"] += 1
            c["urgent"] += urgent
        elif turn.label in ("human", "angry"):
            c[f"{turn.label}_n"] += 1
            c[turn.label] += turn.kind == turn.label
        elif turn.label == "neutral":
            c["calm_n"] += 1
            c["calm_urgent"] += urgent
            c["calm_human"] += turn.kind == "human"
            c["calm_angry"] += turn.kind == "angry"
    return counts


def table(counts: dict[tuple[str, str], Counter],
          before: dict[tuple[str, str], Counter] | None = None) -> str:
    """The counts as a table, one column per part and language (`before -> after` with
    `before`)."""
    columns = sorted(counts, key=lambda k: (k[0] != "dev", k[1]))
    lines = [f"{'':32}" + "".join(f"{part + ' ' + lang:>22}" for part, lang in columns)]
    for key, name, total in ROWS:
        cells = []
        for column in columns:
            now = f"{counts[column][key]}/{counts[column][total]}"
            if before is not None and column in before:
                was = f"{before[column][key]}/{before[column][total]}"
                now = now if was == now else f"{was} -> {now}"
            cells.append(f"{now:>22}")
        lines.append(f"{name:32}" + "".join(cells))
    return "\n".join(lines)


def save(turns: Sequence[GuardTurn], path: Path) -> None:
    """Write `turns` as JSON (held-out turns without their text)."""
    path.write_text(json.dumps([[t.set, t.lang, t.label, t.kind, t.text] for t in turns],
                               ensure_ascii=False), encoding="utf-8")


def load(path: Path) -> list[GuardTurn]:
    """Turns saved by `save`."""
    try:
        return [GuardTurn(*row) for row in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError) as exc:
        raise IvrError(f"{path}: not a saved guard run ({exc})") from exc


def changes(before: Sequence[GuardTurn], after: Sequence[GuardTurn]
            ) -> tuple[list[tuple[GuardTurn, GuardTurn]], Counter]:
    """Development turns whose verdict changed (before, after), and per held-out set how many
    of its turns changed. Runs compare turn by turn within each set, so both must come from
    the same set files."""
    by_set: dict[str, list[GuardTurn]] = {}
    for turn in before:
        by_set.setdefault(turn.set, []).append(turn)
    seen: Counter = Counter()
    moved, held_out = [], Counter()
    for turn in after:
        earlier = by_set.get(turn.set, [])
        index = seen[turn.set]
        seen[turn.set] += 1
        if index >= len(earlier) or (earlier[index].label, earlier[index].text) != \
                (turn.label, turn.text):
            raise IvrError(f"{turn.set}: the saved run holds other turns; compare runs of the "
                           f"same set files")
        if earlier[index].kind != turn.kind:
            if turn.held_out:
                held_out[turn.set] += 1
            else:
                moved.append((earlier[index], turn))
    return moved, held_out
