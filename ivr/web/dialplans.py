"""Dialplan pages (admin only): every plan with its validation status and live hash; the
editor with validate, diff, save, history and rollback."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from ivr.web.accounts import User
from ivr.web.auth import admin_user, checked_form
from ivr.web.plans import (Check, EditConflict, PlanFiles, PlanNotFound, Saved, diff,
                            sha256_text)
from ivr.web.templating import render

router = APIRouter()


def plans(request: Request) -> PlanFiles:
    return request.app.state.plans


def _not_found(request: Request, exc: PlanNotFound) -> Response:
    return render(request, "error.html", {"title": "No such dialplan", "message": str(exc)}, 404)


@router.get("/dialplans")
def plan_list(request: Request, user: User = Depends(admin_user)) -> Response:
    files = plans(request)
    rows = [{"file": name, "check": files.check_live(name)} for name in files.names()]
    return render(request, "dialplans.html", {"plans": rows, "folder": files.folder})


def _editor(request: Request, name: str, text: str, *, check: Check | None = None,
            message: str | None = None, error: str | None = None,
            diff_from: str | None = None, status_code: int = 200) -> Response:
    """The editor page with `text` in the textarea, diffed against the live file (or, after a
    save, against what was live before it)."""
    files = plans(request)
    live = files.read(name)
    return render(request, "dialplan.html", {
        "name": name, "path": files.path(name), "text": text, "base_sha256": sha256_text(live),
        "check": check, "live_check": files.check_live(name),
        "diff": diff(live if diff_from is None else diff_from, text, name),
        "diff_after_save": diff_from is not None,
        "history": files.history(name), "message": message, "error": error},
        status_code)


@router.get("/dialplans/{name}")
def plan_view(name: str, request: Request, user: User = Depends(admin_user)) -> Response:
    try:
        return _editor(request, name, plans(request).read(name))
    except PlanNotFound as exc:
        return _not_found(request, exc)


def _text(form: FormData) -> str:
    """The textarea's text with the browser's CRLF line ends made LF again."""
    return str(form.get("text", "")).replace("\r\n", "\n")


@router.post("/dialplans/{name}/check")
def plan_check(name: str, request: Request, user: User = Depends(admin_user),
               form: FormData = Depends(checked_form)) -> Response:
    """Validate the edited text and show its diff; nothing is written."""
    text = _text(form)
    try:
        check = plans(request).check(name, text)
        return _editor(request, name, text, check=check,
                       status_code=200 if check.ok else 422)
    except PlanNotFound as exc:
        return _not_found(request, exc)


@router.post("/dialplans/{name}")
def plan_save(name: str, request: Request, user: User = Depends(admin_user),
              form: FormData = Depends(checked_form)) -> Response:
    """Save the edited text if it is valid (the live file is never replaced by a broken
    plan); show what changed."""
    text = _text(form)
    files = plans(request)
    try:
        saved = files.save(name, text, user.name, base_sha256=str(form.get("base_sha256", "")))
    except PlanNotFound as exc:
        return _not_found(request, exc)
    except EditConflict as exc:
        return _editor(request, name, text, error=str(exc), status_code=409)
    return _saved_page(request, name, text, saved)


@router.post("/dialplans/{name}/rollback")
def plan_rollback(name: str, request: Request, user: User = Depends(admin_user),
                  form: FormData = Depends(checked_form)) -> Response:
    """Make a saved version live again."""
    try:
        version = int(str(form.get("version", "")))
        saved = plans(request).rollback(name, version, user.name)
    except ValueError:
        return _editor(request, name, plans(request).read(name), error="Pick a version.",
                       status_code=400)
    except PlanNotFound as exc:
        return _not_found(request, exc)
    return _saved_page(request, name, saved.after, saved)


def _saved_page(request: Request, name: str, text: str, saved: Saved) -> Response:
    if not saved.check.ok:
        return _editor(request, name, text, check=saved.check, status_code=422,
                       error="Not saved: the plan has errors; the live file is unchanged.")
    if saved.version is None:
        return _editor(request, name, text, check=saved.check,
                       message="No change: the text is the live file already.")
    return _editor(request, name, text, check=saved.check, diff_from=saved.before,
                   message=f"Saved as version {saved.version}; live now "
                           f"(sha256 {saved.check.sha256[:12]}). Running hotlines reload it "
                           "for new calls.")
