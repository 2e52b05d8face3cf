"""`ivr qa score`'s output: a table of scored calls, totals per day and per hotline, and the CSV
export (one row per call, a column per criterion)."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ivr.qa.rubric import Rubric
from ivr.qa.scores import CallScores
from ivr.store.schema import Outcome


@dataclass(frozen=True)
class ScoredCall:
    """A stored call and its scores."""

    call_id: str
    started_at: dt.datetime
    dialplan: str | None
    outcome: Outcome | None
    scores: CallScores

    @property
    def hotline(self) -> str:
        """The hotline: its dialplan file's name without the folder and extension."""
        return Path(self.dialplan).stem if self.dialplan else "-"

    @property
    def day(self) -> str:
        return self.started_at.strftime("%Y-%m-%d")


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(calls: list[ScoredCall], rubric: Rubric) -> list[str]:
    """One line per call: when, which, how it ended, its total and each criterion's score."""
    ids = [c.id for c in rubric.criteria]
    lines = [f"{'started (UTC)':<16}  {'call id':<28} {'hotline':<18} {'outcome':<11} "
             f"{'total':>5}  " + " ".join(f"{i:>10}" for i in ids)]
    for call in calls:
        outcome = call.outcome.value if call.outcome else "(open)"
        lines.append(f"{call.started_at:%Y-%m-%d %H:%M}  {call.call_id:<28} "
                     f"{call.hotline:<18} {outcome:<11} {_number(call.scores.total, 1):>5}  "
                     + " ".join(f"{_number(call.scores.value(i)):>10}" for i in ids))
    return lines


def totals(calls: list[ScoredCall]) -> list[str]:
    """Per day, then per hotline: calls, abandoned calls, mean and lowest total."""
    lines = []
    for title, key in (("day", lambda c: c.day), ("hotline", lambda c: c.hotline)):
        lines.append(f"{'per ' + title:<20} {'calls':>5} {'abandoned':>9} {'mean':>6} "
                     f"{'lowest':>6}")
        lines += [_total_line(name, group) for name, group in _groups(calls, key)]
    return lines


def _groups(calls: Iterable[ScoredCall], key: Callable[[ScoredCall], str]
            ) -> list[tuple[str, list[ScoredCall]]]:
    grouped: dict[str, list[ScoredCall]] = defaultdict(list)
    for call in calls:
        grouped[key(call)].append(call)
    return sorted(grouped.items())


def _total_line(name: str, group: list[ScoredCall]) -> str:
    scored = [c.scores.total for c in group if c.scores.total is not None]
    abandoned = sum(c.outcome is Outcome.ABANDONED for c in group)
    mean = sum(scored) / len(scored) if scored else None
    return (f"{name:<20} {len(group):>5} {abandoned:>9} {_number(mean, 1):>6} "
            f"{_number(min(scored) if scored else None, 1):>6}")


def write_csv(path: Path, calls: list[ScoredCall], rubric: Rubric) -> None:
    """One row per call: its id, start, hotline, outcome, rubric, total and a column per
    criterion (empty where it did not apply)."""
    ids = [c.id for c in rubric.criteria]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["call_id", "started_at", "hotline", "outcome", "rubric", "total", *ids])
        for call in calls:
            values = [call.scores.value(i) for i in ids]
            writer.writerow([call.call_id, call.started_at.isoformat(), call.hotline,
                             call.outcome.value if call.outcome else "", call.scores.rubric,
                             "" if call.scores.total is None else call.scores.total,
                             *("" if v is None else v for v in values)])
