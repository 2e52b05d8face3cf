"""POSTing a call's JSON (the agent summary, the after-call ticket) to a plan's webhook.

One helper for every webhook: a timeout per try, a few tries with a growing pause between them
for transport errors and 5xx/429 answers, each failure logged. It never raises: the caller gets
a `WebhookResult` to record, and a call never waits on a slow endpoint (callers run it as a
background task or after the call).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("ivr.webhook")

RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class WebhookResult:
    """The last answer: `status` (0 when no HTTP answer came), `tries` made, `error` if it
    failed in the end."""

    status: int
    tries: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def post_json(url: str, body: dict[str, Any], *, what: str = "webhook", tries: int = 3,
                    timeout_s: float = 3.0, backoff_s: float = 0.5) -> WebhookResult:
    """POST `body` as JSON to `url`; on a transport error or a 5xx/429 answer try again after
    `backoff_s`, then twice that, ... up to `tries` times. `what` names it in the log."""
    status, error = 0, "not tried"
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        for attempt in range(1, tries + 1):
            try:
                response = await client.post(url, json=body)
                status = response.status_code
                error = None if status < 400 else f"HTTP {status}"
            except httpx.HTTPError as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"
            if error is None:
                log.info("%s: posted to %s (%d) after %d tr%s", what, url, status, attempt,
                         "y" if attempt == 1 else "ies")
                return WebhookResult(status, attempt)
            retry = attempt < tries and (status == 0 or status in RETRY_STATUS)
            log.warning("%s: %s answered %s%s", what, url, error,
                        f"; trying again ({attempt + 1}/{tries})" if retry else "; giving up")
            if not retry:
                return WebhookResult(status, attempt, error)
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
    return WebhookResult(status, tries, error)
