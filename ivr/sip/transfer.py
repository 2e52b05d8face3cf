"""Blind transfer (REFER) details: the Refer-To URI, the headers for the agent, the outcome.

The call id and a short summary travel twice: as headers of the REFER itself (for a proxy or
PBX that reads them) and as URI headers inside Refer-To, which the caller's phone copies into
its INVITE to the transfer target (RFC 3261 19.1.1), so the agent's desk sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

CALL_ID_HEADER = "X-IVR-Call-Id"
SUMMARY_HEADER = "X-IVR-Summary"
MAX_SUMMARY_CHARS = 240


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def refer_headers(call_id: str, summary: str) -> dict[str, str]:
    """Headers added to the REFER request."""
    return {CALL_ID_HEADER: _one_line(call_id, 100),
            SUMMARY_HEADER: _one_line(summary, MAX_SUMMARY_CHARS)}


def refer_target(target: str, call_id: str, summary: str) -> str:
    """`<target?X-IVR-Call-Id=..&X-IVR-Summary=..>`, escaped for a SIP URI header part."""
    parts = [f"{name}={quote(value, safe='-_.!~*()')}"
             for name, value in refer_headers(call_id, summary).items()]
    uri = target.strip().strip("<>")
    joiner = "&" if "?" in uri else "?"
    return f"<{uri}{joiner}{'&'.join(parts)}>"


@dataclass(frozen=True)
class TransferStatus:
    """The transfer's state as the transferee reports it in NOTIFY (or the REFER's own answer)."""

    code: int
    reason: str = ""
    timeout: bool = False

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300 and not self.timeout

    @property
    def outcome(self) -> str:
        """A word for logs and dashboards: connected, busy, no_answer, rejected, timeout, error."""
        if self.timeout:
            return "timeout"
        if self.ok:
            return "connected"
        if self.code in (486, 600):
            return "busy"
        if self.code in (408, 480, 487):
            return "no_answer"
        if self.code in (403, 603, 405, 501):
            return "rejected"
        return "error"
