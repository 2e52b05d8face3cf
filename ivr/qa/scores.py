"""Automatic QA scores of one call: every criterion of a rubric on the call's events, each 0..1
with its evidence, and the weighted total 0..100. Deterministic: the same events and rubric
always give the same scores (no model is asked).

The call store's writer scores every call when it ends with the default rubric (kept in
`calls.qa_scores` as `CallScores.as_json()`); `ivr qa score` scores stored calls again with
any rubric."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from ivr.events import Event
from ivr.qa.call_facts import CallFacts, Score
from ivr.qa.rubric import Rubric, default_rubric


@dataclass(frozen=True)
class CriterionScore:
    """One criterion's result on one call."""

    id: str
    title: str
    weight: float
    score: Score


@dataclass(frozen=True)
class CallScores:
    """A call's scores under one rubric. `total`: 0..100, the weighted mean of the criteria
    that apply (None if none does)."""

    rubric: str
    total: float | None
    criteria: tuple[CriterionScore, ...]

    def value(self, criterion: str) -> float | None:
        """The score of `criterion` (None: it did not apply, or is not in the rubric)."""
        return next((c.score.value for c in self.criteria if c.id == criterion), None)

    def as_json(self) -> dict[str, Any]:
        """As kept in the store (`calls.qa_scores`)."""
        return {"rubric": self.rubric, "total": self.total,
                "criteria": [{"id": c.id, "title": c.title, "weight": c.weight,
                              "score": c.score.value, "evidence": c.score.evidence}
                             for c in self.criteria]}


def score_call(events: Sequence[Event], rubric: Rubric | None = None,
               source: str = "-") -> CallScores:
    """Score the call whose events are `events` (in emission order) with `rubric` (default: the
    shipped one); `source` names where the events came from."""
    rubric = rubric or default_rubric()
    facts = CallFacts.of(events, source)
    results = tuple(CriterionScore(c.id, c.title, c.weight, c.score(facts))
                    for c in rubric.criteria)
    counted = [(r.weight, r.score.value) for r in results if r.score.value is not None]
    weights = sum(w for w, _ in counted)
    total = round(100 * sum(w * v for w, v in counted) / weights, 1) if weights else None
    return CallScores(rubric.name, total, results)


def score_at_end(events: list[Event]) -> dict[str, Any]:
    """The store writer's scorer: a finished call's scores with the default rubric, as
    `calls.qa_scores` keeps them."""
    return score_call(events).as_json()


def stored_events(rows: Iterable[dict[str, Any]]) -> list[Event]:
    """The events of `CallStore.events()` rows as `Event`s: the wall clock is rebuilt from the
    stored UTC time, which keeps every interval between events as it was."""
    events = []
    for row in rows:
        at: dt.datetime = row["at"]
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)  # SQLite keeps UTC without a zone
        events.append(Event(row["t"], row["kind"], dict(row["data"]), at.timestamp()))
    return events


def describe(qa_scores: dict[str, Any]) -> list[str]:
    """Stored scores (`CallScores.as_json()`) as lines for a person: the total, then each
    criterion's score and evidence."""
    total = qa_scores.get("total")
    lines = [f"QA score {'-' if total is None else f'{total:.1f}'}/100 "
             f"(rubric {qa_scores.get('rubric')})"]
    for c in qa_scores.get("criteria", []):
        score = "n/a" if c["score"] is None else f"{c['score']:.2f}"
        evidence = " ".join(f"{k}={v}" for k, v in c["evidence"].items())
        lines.append(f"  {c['id']:<11} {score:>5}  x{c['weight']:g}  {c['title']}: {evidence}")
    return lines
