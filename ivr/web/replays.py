"""Replay from the console: start a replay of one call (call view) or of the call list's
filter (newest `MAX_BATCH` finished calls), follow its progress, read the turn-by-turn diff.
The work is done by `ivr.web.replay_jobs`; the diff is `ivr.qa.replay`'s, marked as the
HTML report of `ivr replay` marks it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from ivr.qa.replay import CALL_FIELDS
from ivr.qa.replay_report import COLUMNS, change_kind, totals
from ivr.web.accounts import User
from ivr.web.auth import checked_form, current_user
from ivr.web.calls import BadFilter, read_filter, store
from ivr.web.listing import finished_ids
from ivr.web.replay_jobs import MAX_BATCH, ReplayJobs
from ivr.web.templating import render

router = APIRouter()

REFRESH_S = 2  # the progress page reloads itself this often until the job is done


def jobs(request: Request) -> ReplayJobs:
    """The console process's replay jobs."""
    return request.app.state.replays


def _started(job_id: str) -> Response:
    return RedirectResponse(f"/replays/{job_id}", status_code=303)


def _error_page(request: Request, title: str, message: str, status: int = 404) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status)


@router.post("/calls/{call_id}/replay", dependencies=[Depends(checked_form)])
def replay_call(call_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    """Replay one call with the current plan (the job already under way, if there is one)."""
    if store(request).call(call_id) is None:
        return _error_page(request, "No such call", f"There is no call {call_id!r}.")
    return _started(jobs(request).start([call_id], f"call {call_id}", user.name).id)


@router.post("/replays", dependencies=[Depends(checked_form)])
def replay_filter(request: Request, user: User = Depends(current_user)) -> Response:
    """Replay the newest finished calls that match the call list's filter (its query string)."""
    try:
        flt = read_filter(request)
    except BadFilter as exc:
        return _error_page(request, "Bad filter", str(exc), 400)
    ids = finished_ids(store(request).engine, flt, MAX_BATCH)
    if not ids:
        return _error_page(request, "Nothing to replay",
                          "No finished call matches this filter.", 400)
    described = ", ".join(f"{k}={v}" for k, v in flt.query_args().items()) or "all calls"
    return _started(jobs(request).start(ids, f"filter {described}", user.name).id)


@router.get("/replays")
def replay_list(request: Request, user: User = Depends(current_user)) -> Response:
    """The replays consoles on this store ran or run, newest first."""
    return render(request, "replays.html", {"jobs": jobs(request).jobs(),
                                            "max_batch": MAX_BATCH})


@router.get("/replays/{job_id}")
def replay_page(job_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    """A replay's progress and, call by call as they finish, the turn-by-turn diff."""
    job = jobs(request).job(job_id)
    if job is None:
        return _error_page(request, "No such replay",
                          "The call store has no replay with this id (the oldest are deleted "
                          "as new ones come).")
    results = list(job.results)
    return render(request, "replay.html", {
        "job": job, "results": results, "totals": totals(results), "columns": COLUMNS,
        "call_fields": CALL_FIELDS, "change_kind": change_kind,
        "refresh_s": None if job.done else REFRESH_S})
