"""The dashboard page: the figures of `ivr.web.stats` over the last 24 hours or 7 days, with
their charts drawn on the server as inline SVG (`ivr.web.charts`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from ivr.web import charts
from ivr.web.accounts import User
from ivr.web.auth import current_user
from ivr.web.calls import store
from ivr.web.stats import WINDOWS, Dashboard, PastDays, dashboard
from ivr.web.templating import render

router = APIRouter()


def past_days(request: Request) -> PastDays:
    """The console process's cache of the QA means of past days (made on first use)."""
    state = request.app.state
    if not hasattr(state, "past_days"):
        state.past_days = PastDays()
    return state.past_days

DEFAULT_WINDOW = "24h"


def chart_markup(figures: Dashboard) -> dict[str, Markup]:
    """The dashboard's charts, by name."""
    hourly = figures.window == "24h"
    ticks = {n: f"{when:%H:00}" if hourly else f"{when:%a %d}"
             for n, (when, _) in enumerate(figures.per_hour)
             if (when.hour % 3 == 0 if hourly else when.hour == 0)}
    return {
        "per_hour": charts.columns(
            "chart-per-hour", "calls per hour",
            [(f"{when:%Y-%m-%d %H:00}", n) for when, n in figures.per_hour], ticks),
        "transfers": charts.bars("chart-transfers", "transfers by reason", figures.transfers),
        "qa_trend": charts.trend(
            "chart-qa-trend", "daily mean QA score",
            [(f"{d.day:%m-%d}", d.mean) for d in figures.qa_trend]),
        "survey": charts.bars("chart-survey", "survey answers", figures.survey),
    }


@router.get("/dashboard")
def dashboard_page(request: Request, user: User = Depends(current_user)) -> Response:
    """Calls per hour, containment, transfers by reason, answer latency, QA trend, survey."""
    window = request.query_params.get("window", DEFAULT_WINDOW)
    if window not in WINDOWS:
        return render(request, "error.html", {
            "title": "No such window",
            "message": f"window must be one of {', '.join(WINDOWS)}, not {window!r}."}, 400)
    figures = dashboard(store(request).engine, window, past=past_days(request))
    return render(request, "dashboard.html", {"d": figures, "windows": list(WINDOWS),
                                              "charts": chart_markup(figures)})
