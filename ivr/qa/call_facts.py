"""What the QA criteria read from one call: its events, its turns as `ivr calls show` and QA
replay see them, and the span of the call; and what a criterion gives back (`Score`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ivr.events import Event
from ivr.qa.replay import CallView, call_view
from ivr.record import CallRecord
from ivr.store.outcome import CALLER_ENDED


@dataclass(frozen=True)
class Score:
    """One criterion's result: `value` 0..1 (None: the criterion does not apply to this call,
    and it counts in no total) and the facts it was decided on."""

    value: float | None
    evidence: dict[str, Any] = field(default_factory=dict)


def not_applicable(why: str) -> Score:
    return Score(None, {"not_applicable": why})


@dataclass(frozen=True)
class CallFacts:
    """One call as the criteria see it. Times are call time (the event clock, seconds)."""

    record: CallRecord
    view: CallView
    media_start: float   # the caller first hears us (SIP: the media; offline calls: 0)
    end_t: float         # the call ended (its last event if the record was cut short)

    @classmethod
    def of(cls, events: Sequence[Event], source: str = "-") -> CallFacts:
        """The facts of the call whose events (in emission order) are `events`; `source` names
        where they came from (a record file, the store)."""
        record = CallRecord(Path(source), list(events))
        media = record.of("sip.media")
        start = media[0].t if media else 0.0
        ends = record.of("call.end")
        end_t = ends[-1].t if ends else (record.events[-1].t if record.events else 0.0)
        return cls(record, call_view(record.events, start), start, end_t)

    @property
    def ended_by_caller(self) -> bool:
        return self.view.end_reason in CALLER_ENDED

    def first(self, kind: str, after: float = float("-inf")) -> Event | None:
        """The first event of `kind` at or after call time `after`."""
        return next((e for e in self.record.of(kind) if e.t >= after), None)


def rounded(value: float) -> float:
    """Seconds and ratios in evidence: three decimals are enough to read and to compare."""
    return round(value, 3)
