"""The console's call list: filters and keyset paging over the `calls` table (newest first,
by `(started_at, call_id)`), so a page costs the same at call 10 and call 10,000.

No HTTP here: `ivr.web.calls` reads the filters from the query string.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa

from ivr.store import schema
from ivr.web.accounts import aware

PAGE_SIZE = 50
OPEN = "open"  # the outcome filter's name for calls with no end recorded yet
_STAMP = "%Y%m%dT%H%M%S.%fZ"

_c = schema.calls.c
QA_TOTAL = _c.qa_scores["total"].as_float()  # the QA score, 0..100 (NULL: not scored)
COLUMNS = (_c.call_id, _c.started_at, _c.duration_s, _c.caller_number, _c.dialplan, _c.worker,
           _c.outcome, _c.end_reason, _c.transfer_reason, _c.survey_answer, _c.language,
           QA_TOTAL.label("qa_total"))


@dataclass(frozen=True)
class CallFilter:
    """What the list shows; every field left empty means "any"."""

    since: dt.date | None = None       # started on or after this day (UTC)
    until: dt.date | None = None       # started on or before this day (UTC)
    hotline: str = ""                  # the plan file the call ran on (calls.dialplan)
    outcome: str = ""                  # an Outcome value, or OPEN
    transfer_reason: str = ""
    survey: str = ""                   # the survey slot's answer
    text: str = ""                     # in what the caller or the bot said (any turn)
    min_score: float | None = None     # QA total (0..100) at least this
    max_score: float | None = None     # QA total at most this (unscored calls never match)

    def query_args(self) -> dict[str, str]:
        """The filter as query-string arguments (empty ones left out)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) not in (None, "")}

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        where: list[sa.ColumnElement[bool]] = []
        if self.since:
            where.append(_c.started_at >= _midnight(self.since))
        if self.until:
            where.append(_c.started_at < _midnight(self.until + dt.timedelta(days=1)))
        if self.hotline:
            where.append(_c.dialplan == self.hotline)
        if self.outcome == OPEN:
            where.append(_c.outcome.is_(None))
        elif self.outcome:
            where.append(_c.outcome == schema.Outcome(self.outcome))
        if self.transfer_reason:
            where.append(_c.transfer_reason == self.transfer_reason)
        if self.survey:
            where.append(_c.survey_answer == self.survey)
        if self.min_score is not None:
            where.append(QA_TOTAL >= self.min_score)
        if self.max_score is not None:
            where.append(QA_TOTAL <= self.max_score)
        if self.text.strip():
            pattern = "%" + _escape_like(self.text.strip()) + "%"
            turns = schema.turns.c
            # one pass over the turns, not one probe per call: a search that matches nothing
            # must not cost a lookup for each of 10,000 calls
            where.append(_c.call_id.in_(sa.select(turns.call_id).where(
                sa.or_(turns.caller_text.ilike(pattern, escape="\\"),
                       turns.bot_text.ilike(pattern, escape="\\")))))
        return where


@dataclass(frozen=True)
class Cursor:
    """A position in the list: the call at the edge of a page."""

    started_at: dt.datetime
    call_id: str

    def encode(self) -> str:
        """`20261130T100405.123456Z_<call id>`: UTC, nothing a URL needs to escape but the id."""
        return f"{aware(self.started_at).astimezone(dt.timezone.utc):{_STAMP}}_{self.call_id}"

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        """The cursor a page link carries (ValueError if it is not one)."""
        when, sep, call_id = text.partition("_")
        if not sep or not call_id:
            raise ValueError(f"{text!r} is not a list position")
        started = dt.datetime.strptime(when, _STAMP).replace(tzinfo=dt.timezone.utc)
        return cls(started, call_id)

    @classmethod
    def of(cls, row: dict[str, Any]) -> "Cursor":
        return cls(aware(row["started_at"]), row["call_id"])


@dataclass(frozen=True)
class Page:
    """One page of calls, newest first, with cursors to the pages around it (None: no more)."""

    calls: list[dict[str, Any]]
    older: Cursor | None
    newer: Cursor | None


def list_calls(engine: sa.Engine, flt: CallFilter, before: Cursor | None = None,
               after: Cursor | None = None, limit: int = PAGE_SIZE) -> Page:
    """Up to `limit` calls matching `flt`: the newest, those just older than `before`, or
    those just newer than `after`."""
    turns = schema.turns.c
    turn_count = (sa.select(sa.func.count()).where(turns.call_id == _c.call_id)
                  .scalar_subquery().label("turns"))
    query = sa.select(*COLUMNS, turn_count).where(*flt.conditions())
    if after is not None:
        query = query.where(_after(after)).order_by(_c.started_at, _c.call_id)
    else:
        if before is not None:
            query = query.where(_before(before))
        query = query.order_by(_c.started_at.desc(), _c.call_id.desc())
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query.limit(limit + 1)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    if after is not None:
        rows.reverse()
        older, newer = (Cursor.of(rows[-1]) if rows else after), (
            Cursor.of(rows[0]) if more else None)
    else:
        older = Cursor.of(rows[-1]) if more else None
        newer = Cursor.of(rows[0]) if before is not None and rows else None
    return Page(rows, older, newer)


def finished_ids(engine: sa.Engine, flt: CallFilter, limit: int) -> list[str]:
    """The ids of the newest `limit` finished calls (an outcome recorded) that match `flt`."""
    query = (sa.select(_c.call_id).where(*flt.conditions(), _c.outcome.is_not(None))
             .order_by(_c.started_at.desc(), _c.call_id.desc()).limit(limit))
    with engine.connect() as conn:
        return list(conn.scalars(query))


def facets(engine: sa.Engine) -> dict[str, list[str]]:
    """The values the list's drop-downs offer: hotlines, transfer reasons, survey answers."""
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for name, column in (("hotline", _c.dialplan), ("transfer_reason", _c.transfer_reason),
                             ("survey", _c.survey_answer)):
            found[name] = sorted(conn.scalars(
                sa.select(column).where(column.is_not(None)).distinct()))
    return found


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.timezone.utc)


def _before(c: Cursor) -> sa.ColumnElement[bool]:
    return sa.or_(_c.started_at < c.started_at,
                  sa.and_(_c.started_at == c.started_at, _c.call_id < c.call_id))


def _after(c: Cursor) -> sa.ColumnElement[bool]:
    return sa.or_(_c.started_at > c.started_at,
                  sa.and_(_c.started_at == c.started_at, _c.call_id > c.call_id))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
