"""The dashboard's figures, computed by the database: calls per hour, containment, transfers by
reason, p50/p95 answer latency, the daily QA score and survey answers over a window of time.

No HTTP here (`ivr.web.dashboard` serves the page). Works on SQLite and PostgreSQL: the only
dialect-specific part is how a time is cut to its hour or day.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import sqlalchemy as sa

from ivr.store import schema
from ivr.web.listing import QA_TOTAL

WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}
"""The dashboard's time windows, by the name its switch uses."""
TREND_DAYS = 14  # the QA score trend covers this many days, today included, in either window
LATENCY_PERCENTILES = (50, 95)
_HOUR, _DAY = "%Y-%m-%d %H", "%Y-%m-%d"
_PG_FORMAT = {_HOUR: "YYYY-MM-DD HH24", _DAY: "YYYY-MM-DD"}

_c, _t = schema.calls.c, schema.turns.c


@dataclass(frozen=True)
class DailyScore:
    """The mean QA total of the calls started on `day` (None: none was scored)."""

    day: dt.date
    mean: float | None
    scored: int


@dataclass(frozen=True)
class Dashboard:
    """Every figure of the dashboard for calls started in [`start`, `end`) (UTC); the QA trend
    covers the `TREND_DAYS` days up to today instead."""

    window: str
    start: dt.datetime
    end: dt.datetime
    per_hour: list[tuple[dt.datetime, int]]   # every hour of the window, oldest first
    calls: int
    finished: int                             # an outcome is recorded
    resolved: int                             # resolved without a human
    transfers: list[tuple[str, int]]          # by reason, most first
    latency_ms: dict[int, float | None]       # percentile -> answer latency (None: no turn)
    latency_turns: int
    qa_trend: list[DailyScore]                # oldest day first
    survey: list[tuple[str, int]]             # by answer

    @property
    def containment(self) -> float | None:
        """Share of the finished calls resolved without a human (None: none finished)."""
        return self.resolved / self.finished if self.finished else None


def dashboard(engine: sa.Engine, window: str, now: dt.datetime | None = None,
              past: PastDays | None = None) -> Dashboard:
    """The figures of `window` (a key of `WINDOWS`) ending with the hour `now` is in; the QA
    means of the days before today come from `past` when given (else they are computed)."""
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    start = end - WINDOWS[window]
    today = dt.datetime.combine(now.date(), dt.time(), dt.timezone.utc)
    in_window = sa.and_(_c.started_at >= start, _c.started_at < end)
    dialect = engine.dialect.name
    with engine.connect() as conn:
        hour = _cut(_c.started_at, _HOUR, dialect)
        hours = dict(conn.execute(
            sa.select(hour, sa.func.count()).where(in_window).group_by(hour)).all())
        calls, finished, resolved, transfers, survey = _ends(conn, in_window)
        latency, turns = _latency(conn, in_window)
        first_day = today - dt.timedelta(days=TREND_DAYS - 1)
        daily = (past or PastDays(0.0)).get(conn, first_day, today)
        daily.update(_daily_scores(conn, today, end, dialect))
    per_hour = [(start + dt.timedelta(hours=h),
                 hours.get(f"{start + dt.timedelta(hours=h):{_HOUR}}", 0))
                for h in range(int(WINDOWS[window] / dt.timedelta(hours=1)))]
    trend = [daily.get(f"{day:{_DAY}}", DailyScore(day.date(), None, 0))
             for day in (first_day + dt.timedelta(days=n) for n in range(TREND_DAYS))]
    return Dashboard(window, start, end, per_hour, calls, finished, resolved, transfers,
                     latency, turns, trend, survey)


class PastDays:
    """The daily QA means of the days before today, kept for `ttl_s` seconds: a past day's
    calls change only when they are scored again, and reading every call's scores is the
    dashboard's dearest query."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self.ttl_s = ttl_s
        self._kept: tuple[float, dt.datetime, dt.datetime, dict[str, DailyScore]] | None = None

    def get(self, conn: sa.Connection, first_day: dt.datetime, today: dt.datetime
            ) -> dict[str, DailyScore]:
        """The means of [`first_day`, `today`), by day as `%Y-%m-%d` (a copy)."""
        kept = self._kept
        if (kept is None or (kept[1], kept[2]) != (first_day, today)
                or time.monotonic() - kept[0] >= self.ttl_s):
            kept = (time.monotonic(), first_day, today,
                    _daily_scores(conn, first_day, today, conn.dialect.name))
            self._kept = kept
        return dict(kept[3])


def _daily_scores(conn: sa.Connection, start: dt.datetime, end: dt.datetime, dialect: str
                  ) -> dict[str, DailyScore]:
    """The mean QA total of the calls started each day in [`start`, `end`)."""
    day = _cut(_c.started_at, _DAY, dialect)
    rows = conn.execute(sa.select(day, sa.func.avg(QA_TOTAL), sa.func.count(QA_TOTAL))
                        .where(_c.started_at >= start, _c.started_at < end).group_by(day))
    return {key: DailyScore(dt.date.fromisoformat(key),
                            None if mean is None else round(float(mean), 1), n)
            for key, mean, n in rows}


def _ends(conn: sa.Connection, in_window: sa.ColumnElement[bool]
          ) -> tuple[int, int, int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Calls, finished calls, resolved calls, transfers by reason (most first) and survey
    answers of the window: one grouped pass over its calls."""
    groups = conn.execute(
        sa.select(_c.outcome, _c.transfer_reason, _c.survey_answer, sa.func.count())
        .where(in_window).group_by(_c.outcome, _c.transfer_reason, _c.survey_answer)).all()
    transfers: dict[str, int] = {}
    survey: dict[str, int] = {}
    for outcome, reason, answer, n in groups:
        if outcome == schema.Outcome.TRANSFERRED:
            transfers[reason or "(none)"] = transfers.get(reason or "(none)", 0) + n
        if answer is not None:
            survey[answer] = survey.get(answer, 0) + n
    return (sum(g[3] for g in groups), sum(g[3] for g in groups if g[0] is not None),
            sum(g[3] for g in groups if g[0] == schema.Outcome.RESOLVED),
            sorted(transfers.items(), key=lambda item: (-item[1], item[0])),
            sorted(survey.items()))


def _cut(column: sa.ColumnElement[dt.datetime], fmt: str, dialect: str
         ) -> sa.ColumnElement[str]:
    """`column` (UTC) as text cut to its hour or day, formatted as `fmt` would format it.
    The formats are written into the SQL, not bound: PostgreSQL groups by an expression only
    when the GROUP BY's is the same text as the SELECT's."""
    if dialect == "postgresql":
        return sa.func.to_char(sa.func.timezone(_const("UTC"), column),
                               _const(_PG_FORMAT[fmt]))
    return sa.func.strftime(_const(fmt), column)  # SQLite keeps UTC times as text


def _const(text: str) -> sa.ColumnElement[str]:
    """One of this module's own string constants, inline in the SQL."""
    return sa.literal_column("'" + text.replace("'", "''") + "'", sa.String)


def _latency(conn: sa.Connection, in_window: sa.ColumnElement[bool]
             ) -> tuple[dict[int, float | None], int]:
    """The answer latency percentiles of the turns of the window's calls (nearest rank, as
    `ivr.store.bench.percentile`), picked by the database in one pass: it ranks the turns and
    returns only the ranks next to each percentile, with the count."""
    ms = _t.latency_ms
    ranked = (sa.select(ms.label("ms"), (sa.func.row_number().over(order_by=ms) - 1).label("rn"),
                        sa.func.count().over().label("n"))
              .select_from(schema.turns.join(schema.calls, _t.call_id == _c.call_id))
              .where(in_window, ms.is_not(None)).subquery())
    # SQLite's cast truncates, PostgreSQL's rounds: either way the rank round() picks below
    # is within one of it
    near = [sa.cast((ranked.c.n - 1) * (p / 100), sa.Integer) for p in LATENCY_PERCENTILES]
    rows = conn.execute(sa.select(ranked.c.rn, ranked.c.n, ranked.c.ms).where(
        sa.or_(*(ranked.c.rn.between(k - 1, k + 1) for k in near)))).all()
    n = rows[0].n if rows else 0
    by_rank = {row.rn: row.ms for row in rows}
    return {p: by_rank[min(n - 1, round(p / 100 * (n - 1)))] if n else None
            for p in LATENCY_PERCENTILES}, n
