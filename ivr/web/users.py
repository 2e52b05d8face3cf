"""The Users page (admins): every console user with their role, state and sessions; create a
user, change a role, reset a password, disable, enable, remove. Every form carries the
session's CSRF token; the rules (sessions ended, the last admin kept) are
`ivr.web.user_admin`'s."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from ivr.web.accounts import ROLES, AccountError, Accounts, User
from ivr.web.auth import admin_user, checked_form
from ivr.web.templating import render
from ivr.web.user_admin import CHANGES, UserAdmin

router = APIRouter()


def user_admin(request: Request) -> UserAdmin:
    """User management on the console's store."""
    return UserAdmin(request.app.state.accounts.engine)


def _page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    q = request.query_params
    done = q.get("done", "")
    known = done in {"is created", *(text.format(value=r) for text in CHANGES.values()
                                     for r in ROLES)}
    return render(request, "users.html", {
        "users": user_admin(request).users(), "roles": ROLES, "error": error,
        "done": f"{q.get('user', '')} {done}" if known else None}, status_code)


def _done(what: str, name: str) -> Response:
    """Back to the page, which says what was done (only its own sentences: see `_page`)."""
    return RedirectResponse("/users?" + urlencode({"done": what, "user": name}), status_code=303)


def _field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


@router.get("/users")
def users_page(request: Request, user: User = Depends(admin_user)) -> Response:
    """Every user, with the forms to change them."""
    return _page(request)


@router.post("/users")
def create_user(request: Request, user: User = Depends(admin_user),
                form: FormData = Depends(checked_form)) -> Response:
    """Create a user (name, role, password)."""
    name = _field(form, "name").strip()
    try:
        Accounts(request.app.state.accounts.engine).add_user(
            name, _field(form, "role"), _field(form, "password"))
    except AccountError as exc:
        return _page(request, str(exc), 400)
    return _done("is created", name)


@router.post("/users/{name}/{change}")
def change_user(name: str, change: str, request: Request, user: User = Depends(admin_user),
                form: FormData = Depends(checked_form)) -> Response:
    """One change to one user: role, password, disable, enable or remove."""
    value = _field(form, "password" if change == "password" else "role")
    try:
        done = user_admin(request).apply(change, name, value)
    except AccountError as exc:
        return _page(request, str(exc), 400)
    return _done(done, name)
