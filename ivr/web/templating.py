"""Jinja2 templates and the filters they share; every page gets the logged-in user and the
session's CSRF token for its forms."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ivr.web.accounts import aware

TEMPLATES = Path(__file__).resolve().parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES))


def when(value: dt.datetime | None) -> str:
    """A stored time as `2026-11-30 10:04:05` UTC ('-' when unset)."""
    return aware(value).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def seconds(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def as_json(value: Any) -> str:
    """Structured evidence and scores, readable: `key=value` pairs for flat dicts."""
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False, default=str)


templates.env.filters.update(when=when, seconds=seconds, as_json=as_json)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200
           ) -> HTMLResponse:
    """Render a page with `user` and `csrf` (None when logged out) added to its context."""
    session = getattr(request.state, "session", None)
    context = {"user": session.user if session else None,
               "csrf": session.csrf_token if session else None, **context}
    return templates.TemplateResponse(request, name, context, status_code=status_code)
