"""The console's app factory: the store, the routes, static assets, login handling and
security headers."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from ivr.store.store import CallStore
from ivr.store.raw_store import RawCopies
from ivr.web import calls, dashboard, dialplans, login, raw, replays, users
from ivr.web.accounts import Accounts
from ivr.web.auth import MACHINE_PATHS, Forbidden, LoginRequired
from ivr.web.plans import PlanFiles
from ivr.web.replay_history import ReplayHistory
from ivr.web.replay_jobs import CallReplayer, ReplayJobs, StoreReplayer
from ivr.web.templating import render

STATIC = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    # everything from this origin only: no CDN, no inline script or style, no framing
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class ConsoleSettings:
    """What the console serves: the call store, the dialplans folder, and (optionally) the
    only folder recordings may be served from."""

    store_url: str
    dialplans: Path
    recordings: Path | None = None


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path != "/static" and not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def create_app(settings: ConsoleSettings, store: CallStore | None = None,
               replayer: CallReplayer | None = None) -> FastAPI:
    """The console app on `store` (opened, and migrated, from `settings.store_url` if not
    given; the app closes a store it opened when it shuts down). Replays started from the
    pages run on `replayer` (default: the store's calls through the real models, loaded by
    the first replay)."""
    own_store = store is None
    store = store or CallStore.open(settings.store_url)
    own_replayer: StoreReplayer | None = None
    if replayer is None:
        replayer = own_replayer = StoreReplayer(
            store, settings.recordings or Path("recordings"), settings.dialplans)
    replay_jobs = ReplayJobs(replayer, ReplayHistory(store.engine))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        replay_jobs.close()
        if own_replayer is not None:
            own_replayer.close()
        if own_store:
            store.close()

    app = FastAPI(title="ivr console", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.store = store
    app.state.accounts = Accounts(store.engine)
    app.state.plans = PlanFiles(settings.dialplans, store.engine)
    app.state.replays = replay_jobs
    app.state.raw = RawCopies(store.engine)
    app.add_middleware(_SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (login, calls, raw, dashboard, replays, dialplans, users):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    def _login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith(MACHINE_PATHS) or request.method != "GET":
            return JSONResponse({"detail": "log in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith(MACHINE_PATHS):
            return JSONResponse({"detail": exc.message}, status_code=403)
        return render(request, "error.html", {"title": "Not allowed", "message": exc.message},
                      403)

    return app
