"""The console's dashboard on a small set of calls whose every figure is known: calls per hour,
containment, transfers by reason, p50/p95 answer latency, the daily QA score and survey
answers, in both windows; the page draws them as inline SVG with no script."""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from ivr.store import schema
from ivr.store.bench import percentile
from ivr.store.rows import Write
from ivr.store.store import CallStore
from ivr.web.accounts import Accounts
from ivr.web.app import ConsoleSettings, create_app
from ivr.web.bench import logged_in_client
from ivr.web.stats import TREND_DAYS, PastDays, dashboard

from test_console import PASSWORD, QA

NOW = dt.datetime(2026, 11, 30, 12, 30, tzinfo=dt.timezone.utc)
H = dt.timedelta(hours=1)
# id: (before now, outcome, transfer reason, survey, QA total, answer latencies in ms)
CALLS = {
    "a": (1 * H, "resolved", None, "5", 90.0, [100.0, 200.0]),
    "b": (2 * H, "transferred", "caller_angry", None, 50.0, [300.0]),
    "c": (2 * H + dt.timedelta(minutes=10), "transferred", "caller_angry", None, None,
          [400.0, 500.0]),
    "d": (5 * H, "transferred", "unresolved", "2", 70.0, []),
    "e": (6 * H, None, None, None, None, [None]),               # still open
    "f": (30 * H, "resolved", None, "1", 40.0, [10_000.0]),     # in the 7 days, not the 24 h
    "g": (10 * 24 * H, "abandoned", None, None, 10.0, [50.0]),  # in the QA trend only
    "h": (20 * 24 * H, "resolved", None, None, 99.0, [60.0]),   # in nothing
}
LATENCY_24H = [100.0, 200.0, 300.0, 400.0, 500.0]


def store_calls(store: CallStore, now: dt.datetime) -> None:
    """`CALLS`, started the given time before `now`, with their turns."""
    writes = []
    for call_id, (ago, outcome, reason, survey, total, latencies) in CALLS.items():
        writes.append(Write(schema.calls, {
            "call_id": call_id, "started_at": now - ago, "worker": "w1", "schema_version": 1,
            "outcome": schema.Outcome(outcome) if outcome else None,
            "transfer_reason": reason, "survey_answer": survey,
            "qa_scores": None if total is None else {"rubric": "default", "total": total,
                                                     "criteria": []}}))
        writes += [Write(schema.turns, {"call_id": call_id, "idx": idx, "t_start": float(idx),
                                        "decision": "start" if idx == 0 else "kb_match",
                                        "latency_ms": latency})
                   for idx, latency in enumerate(latencies)]
    store.write(writes)


@pytest.fixture
def store(tmp_path) -> Iterator[CallStore]:
    opened = CallStore.open(str(tmp_path / "calls.db"))
    yield opened
    opened.close()


def test_the_figures_of_the_last_24_hours(store):
    store_calls(store, NOW)
    d = dashboard(store.engine, "24h", NOW)
    assert d.start == dt.datetime(2026, 11, 29, 13, tzinfo=dt.timezone.utc)
    assert d.end == dt.datetime(2026, 11, 30, 13, tzinfo=dt.timezone.utc)
    assert len(d.per_hour) == 24 and d.per_hour[0][0] == d.start
    busy = {f"{when:%H}": n for when, n in d.per_hour if n}
    assert busy == {"11": 1, "10": 2, "07": 1, "06": 1}
    assert (d.calls, d.finished, d.resolved) == (5, 4, 1)
    assert d.containment == pytest.approx(0.25)
    assert d.transfers == [("caller_angry", 2), ("unresolved", 1)]
    assert d.latency_turns == 5
    assert d.latency_ms == {50: percentile(LATENCY_24H, 50), 95: percentile(LATENCY_24H, 95)}
    assert d.latency_ms == {50: 300.0, 95: 500.0}
    assert d.survey == [("2", 1), ("5", 1)]


def test_the_figures_of_the_last_7_days_and_the_daily_qa_score(store):
    store_calls(store, NOW)
    d = dashboard(store.engine, "7d", NOW)
    assert len(d.per_hour) == 7 * 24 and sum(n for _, n in d.per_hour) == 6
    assert (d.calls, d.finished, d.resolved) == (6, 5, 2)
    assert d.containment == pytest.approx(0.4)
    assert d.latency_ms == {50: 300.0, 95: 10_000.0}
    assert d.survey == [("1", 1), ("2", 1), ("5", 1)]
    assert len(d.qa_trend) == TREND_DAYS and d.qa_trend[-1].day == NOW.date()
    scored = {f"{s.day:%m-%d}": (s.mean, s.scored) for s in d.qa_trend if s.scored}
    assert scored == {"11-30": (70.0, 3), "11-29": (40.0, 1), "11-20": (10.0, 1)}


def test_past_days_qa_means_are_kept_for_their_ttl_and_today_is_always_live(store):
    store_calls(store, NOW)
    kept = PastDays(ttl_s=3600)
    assert dashboard(store.engine, "24h", NOW, kept).qa_trend[-2].mean == 40.0  # 11-29
    yesterday, today = NOW - 20 * H, NOW - 10 * H                         # 11-29, 11-30
    store.write([Write(schema.calls, {"call_id": call_id, "started_at": when, "worker": "w1",
                                      "schema_version": 1, "qa_scores": {"total": 0.0}})
                 for call_id, when in (("late-1", yesterday), ("late-2", today))])
    trend = dashboard(store.engine, "24h", NOW, kept).qa_trend
    assert (trend[-2].mean, trend[-1].mean) == (40.0, 52.5)   # 11-29 kept; today (90+50+70+0)/4
    assert dashboard(store.engine, "24h", NOW, PastDays(ttl_s=0)).qa_trend[-2].mean == 20.0


def test_an_empty_store_has_no_figures_but_a_page(store):
    d = dashboard(store.engine, "24h", NOW)
    assert (d.calls, d.containment, d.latency_ms, d.transfers) == (0, None, {50: None, 95: None},
                                                                   [])
    assert all(s.mean is None for s in d.qa_trend)


@pytest.fixture
def qa(store, tmp_path) -> Iterator[TestClient]:
    store_calls(store, dt.datetime.now(dt.timezone.utc))
    Accounts(store.engine).add_user(QA, "qa", PASSWORD)
    app = create_app(ConsoleSettings(store.url, tmp_path), store)
    with logged_in_client(app, QA, PASSWORD) as client:
        yield client


def _figure(html: str, name: str) -> str:
    return re.search(rf'id="fig-{name}">([^<]*)<', html)[1].strip()


def _values(html: str, chart: str) -> list[str]:
    svg = re.search(rf'<svg id="chart-{chart}".*?</svg>', html, re.S)[0]
    return re.findall(r"<title>([^<]*)</title>", svg)


def test_the_page_shows_the_figures_and_draws_them_without_script(qa):
    html = qa.get("/dashboard").text
    assert (_figure(html, "calls"), _figure(html, "containment")) == ("5", "25.0 %")
    assert (_figure(html, "p50"), _figure(html, "p95")) == ("300", "500")
    per_hour = _values(html, "per-hour")
    assert len(per_hour) == 24 and sum(int(v.rsplit(": ", 1)[1]) for v in per_hour) == 5
    assert _values(html, "transfers") == ["caller_angry: 2", "unresolved: 1"]
    assert _values(html, "survey") == ["2: 1", "5: 1"]
    assert _values(html, "qa-trend")  # the days' means (exact figures: the tests above)
    assert "<script" not in html and ' style="' not in html and "<style" not in html
    week = qa.get("/dashboard?window=7d").text
    assert (_figure(week, "calls"), _figure(week, "containment")) == ("6", "40.0 %")
    assert _figure(week, "p95") == "10000" and len(_values(week, "per-hour")) == 168
    assert qa.get("/dashboard?window=1y").status_code == 400


def test_the_dashboard_needs_a_login(store, tmp_path):
    app = create_app(ConsoleSettings(store.url, tmp_path), store)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        response = client.get("/dashboard")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
