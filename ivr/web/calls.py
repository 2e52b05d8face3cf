"""Call pages: the filtered list (HTML and JSON), one call's view, and its recording behind
the login (the recordings folder is never served as static files)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from ivr.store.raw_store import RawCopies
from ivr.store.schema import Outcome
from ivr.store.store import CallStore
from ivr.web.accounts import User
from ivr.web.auth import current_user
from ivr.web.listing import OPEN, CallFilter, Cursor, Page, facets, list_calls
from ivr.web.replay_jobs import MAX_BATCH
from ivr.web.templating import render

router = APIRouter()

OUTCOMES = [o.value for o in Outcome] + [OPEN]
FACETS_TTL_S = 30.0  # the drop-downs' values (new hotlines, reasons) show up this late at most


def store(request: Request) -> CallStore:
    return request.app.state.store


class BadFilter(ValueError):
    """A query-string filter that cannot be read; its message is shown above the list."""


def read_filter(request: Request) -> CallFilter:
    """The list's filter from the query string (BadFilter names a bad value)."""
    q = request.query_params
    dates: dict[str, dt.date | None] = {}
    for name in ("since", "until"):
        text = q.get(name, "").strip()
        try:
            dates[name] = dt.date.fromisoformat(text) if text else None
        except ValueError:
            raise BadFilter(f"{name}: {text!r} is not a date like 2026-11-30") from None
    outcome = q.get("outcome", "")
    if outcome and outcome not in OUTCOMES:
        raise BadFilter(f"outcome: {outcome!r} is not one of {', '.join(OUTCOMES)}")
    return CallFilter(since=dates["since"], until=dates["until"], hotline=q.get("hotline", ""),
                      outcome=outcome, transfer_reason=q.get("transfer_reason", ""),
                      survey=q.get("survey", ""), text=q.get("text", ""),
                      min_score=_score(request, "min_score"),
                      max_score=_score(request, "max_score"))


def _score(request: Request, name: str) -> float | None:
    """A QA score bound (0..100) from the query string, None when empty (BadFilter)."""
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadFilter(f"{name}: {text!r} is not a number from 0 to 100") from None
    if not 0 <= value <= 100:
        raise BadFilter(f"{name}: {text} is not from 0 to 100")
    return value


def cached_facets(request: Request) -> dict[str, list[str]]:
    """`facets()`, recomputed at most every FACETS_TTL_S (they scan the calls table)."""
    state = request.app.state
    cached: tuple[float, dict[str, list[str]]] | None = getattr(state, "facets", None)
    if cached is None or time.monotonic() - cached[0] > FACETS_TTL_S:
        cached = (time.monotonic(), facets(store(request).engine))
        state.facets = cached
    return cached[1]


def _page(request: Request, flt: CallFilter) -> Page:
    """The page of `flt` the query string's `before`/`after` cursor asks for (BadFilter)."""
    q = request.query_params
    try:
        before = Cursor.decode(q["before"]) if q.get("before") else None
        after = Cursor.decode(q["after"]) if q.get("after") else None
    except ValueError as exc:
        raise BadFilter(f"paging: {exc}") from None
    return list_calls(store(request).engine, flt, before=before, after=after)


@router.get("/")
def home(user: User = Depends(current_user)) -> Response:
    return RedirectResponse("/calls", status_code=303)


@router.get("/calls")
def call_list(request: Request, user: User = Depends(current_user)) -> Response:
    """The call list with its filter form."""
    error = None
    try:
        flt = read_filter(request)
        page = _page(request, flt)
    except BadFilter as exc:
        flt, error = CallFilter(), str(exc)
        page = list_calls(store(request).engine, flt)
    return render(request, "calls.html", {
        "filter": flt, "page": page, "facets": cached_facets(request),
        "outcomes": OUTCOMES, "error": error, "args": flt.query_args(),
        "batch_cap": MAX_BATCH},
        status_code=400 if error else 200)


@router.get("/api/calls")
def call_list_json(request: Request, user: User = Depends(current_user)) -> dict[str, Any]:
    """The same list as JSON: {"calls": [...], "older": cursor, "newer": cursor}."""
    try:
        page = _page(request, read_filter(request))
    except BadFilter as exc:
        raise HTTPException(400, str(exc)) from None
    return {"calls": [{**c, "outcome": c["outcome"].value if c["outcome"] else None}
                      for c in page.calls],
            "older": page.older.encode() if page.older else None,
            "newer": page.newer.encode() if page.newer else None}


@router.get("/calls/{call_id}")
def call_view(call_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    """One call: recording, transcript aligned to it, decisions, events, ticket, scores."""
    return call_page(request, call_id, user)


def call_page(request: Request, call_id: str, user: User,
              raw_turns: dict[int, dict[str, str]] | None = None) -> Response:
    """The call view, redacted; with `raw_turns` (`ivr.web.raw`, for a role allowed) each
    turn's words as said instead, and the raw recording where one was kept."""
    calls = store(request)
    call = calls.call(call_id)
    if call is None:
        return render(request, "error.html", {"title": "No such call",
                                              "message": f"There is no call {call_id!r}."}, 404)
    events = calls.events(call_id)
    # the recording starts when media does: turn times are on the call's event clock
    offset = next((e["t"] for e in events if e["kind"] == "sip.media"), 0.0)
    turns = [{**t, "audio_start": max(0.0, t["t_start"] - offset),
              "audio_end": None if t["t_end"] is None else max(0.0, t["t_end"] - offset),
              **(raw_turns or {}).get(t["idx"], {})}
             for t in calls.turns(call_id)]
    copy = RawCopies(calls.engine).copy(call_id)
    raw_audio = raw_turns is not None and copy is not None and bool(copy.recording_path)
    audio_url = f"/recordings/{quote(call_id, safe='')}" + ("/raw" if raw_audio else "")
    return render(request, "call.html", {
        "call": call, "turns": turns, "events": events,
        "has_recording": bool(call["recording_path"]) or raw_audio, "audio_url": audio_url,
        "raw_allowed": copy is not None and copy.allows(user.role),
        "raw_shown": raw_turns is not None, "raw_audio": raw_audio})


@router.get("/recordings/{call_id}")
def recording(call_id: str, request: Request, user: User = Depends(current_user)) -> Response:
    """The call's stereo WAV (caller left, bot right), with Range support for seeking: only
    the file the store names for this call, and only inside the recordings folder if the
    console was given one."""
    call = store(request).call(call_id)
    return wav_file(request, call["recording_path"] if call else None)


def wav_file(request: Request, stored: str | None,
             cache: str = "private, max-age=300") -> Response:
    """A recording the store names (404 unless it is a WAV inside the recordings folder, if
    the console was given one), with Range support for seeking; `cache`: its Cache-Control."""
    if not stored:
        raise HTTPException(404, "no recording for this call")
    path = Path(stored).resolve()
    root: Path | None = request.app.state.settings.recordings
    if root is not None and not path.is_relative_to(root.resolve()):
        raise HTTPException(404, "no recording for this call")
    if path.suffix.lower() != ".wav" or not path.is_file():
        raise HTTPException(404, "the recording file is missing")
    return FileResponse(path, media_type="audio/wav",
                        headers={"Cache-Control": cache})
