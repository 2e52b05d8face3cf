"""/login and /logout."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from ivr.web import auth
from ivr.web.accounts import Session
from ivr.web.templating import render, when

router = APIRouter()

LOGIN_FORM_TTL_S = 3600


def _safe_next(target: object) -> str:
    """Where to go after logging in: a path on this site only (no //host, no scheme)."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//") \
            and "\\" not in target:
        return target
    return "/calls"


def _login_page(request: Request, next_url: str, error: str | None = None,
                status_code: int = 200, name: str = "") -> Response:
    token = auth.login_csrf_token(request)
    response = render(request, "login.html", {"next": next_url, "error": error, "name": name,
                                              "login_csrf": token,
                                              "no_users": auth.accounts(request).count() == 0},
                      status_code)
    auth.set_cookie(response, auth.LOGIN_CSRF_COOKIE, token, LOGIN_FORM_TTL_S)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/calls") -> Response:
    """The login form (logged in already: straight on)."""
    if auth.optional_session(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, _safe_next(next))


async def _login_form(request: Request) -> FormData:
    """The posted login form, once its token matched the login cookie's (double submit)."""
    form = await request.form()
    if not auth.same_token(form.get("csrf"), request.cookies.get(auth.LOGIN_CSRF_COOKIE)):
        raise auth.Forbidden("The login form's security token is missing or out of date: "
                             "reload the page and try again.")
    return form


@router.post("/login")
def login(request: Request, form: FormData = Depends(_login_form)) -> Response:
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    next_url = _safe_next(form.get("next"))
    result = auth.accounts(request).login(name, password)
    if result.user is None:
        error = (f"Too many failed logins: this account is locked until "
                 f"{when(result.locked_until)} UTC." if result.locked_until
                 else "This account is disabled: ask an admin." if result.disabled
                 else "Wrong user name or password.")
        return _login_page(request, next_url, error, status_code=401, name=name)
    response = RedirectResponse(next_url, status_code=303)
    auth.start_session(response, request, result.user)
    return response


@router.post("/logout")
def logout(request: Request, session: Session = Depends(auth.current_session),
           form: FormData = Depends(auth.checked_form)) -> Response:
    auth.accounts(request).end_session(request.cookies[auth.SESSION_COOKIE])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/", secure=True, httponly=True,
                           samesite="strict")
    return response
