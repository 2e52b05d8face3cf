"""The console's HTTP side of logging in: the session cookie, who is asking, role checks and
CSRF tokens on every POST.

Pages answer a missing login with a redirect to /login; the JSON API and recordings with 401.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from ivr.web.accounts import SESSION_TTL, Accounts, Session, User

SESSION_COOKIE = "ivr_console"
LOGIN_CSRF_COOKIE = "ivr_console_login"  # double-submit token of the login form (no session yet)
MACHINE_PATHS = ("/api/", "/recordings/")  # answered 401, never redirected


class LoginRequired(Exception):
    """No valid session: `ivr.web.app` turns it into a redirect or a 401."""


class Forbidden(Exception):
    """Logged in, but the role may not do this (or a POST came without its CSRF token)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """HttpOnly, Secure (http://127.0.0.1 counts as a secure context), SameSite=Strict."""
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, secure=True,
                        samesite="strict")


def start_session(response: Response, request: Request, user: User) -> None:
    token = accounts(request).start_session(user)
    set_cookie(response, SESSION_COOKIE, token, int(SESSION_TTL.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def optional_session(request: Request) -> Session | None:
    """The request's session, if its cookie names a live one."""
    token = request.cookies.get(SESSION_COOKIE)
    session = accounts(request).session(token) if token else None
    request.state.session = session
    return session


def current_session(session: Session | None = Depends(optional_session)) -> Session:
    """Dependency of every page and API: a logged-in session, or LoginRequired."""
    if session is None:
        raise LoginRequired()
    return session


def current_user(session: Session = Depends(current_session)) -> User:
    return session.user


def admin_user(user: User = Depends(current_user)) -> User:
    """Dependency of the admin pages (dialplans, users, the raw views' audit log)."""
    if not user.is_admin:
        raise Forbidden("This page is for admins; your role is " + user.role + ".")
    return user


async def checked_form(request: Request, session: Session = Depends(current_session)
                       ) -> FormData:
    """Dependency of every logged-in POST: the form, once its CSRF token matched the session's
    (Forbidden otherwise)."""
    form = await request.form()
    if not same_token(form.get("csrf"), session.csrf_token):
        raise Forbidden("The form's security token is missing or out of date: reload the page "
                        "and try again.")
    return form


def same_token(given: object, expected: str | None) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return (isinstance(given, str) and bool(expected)
            and hmac.compare_digest(given.encode(), expected.encode()))


def login_csrf_token(request: Request) -> str:
    """The login form's token: the one in its cookie, or a new one (`ivr.web.login` sets it)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
