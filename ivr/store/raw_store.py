"""Reading the raw copies (`redaction.raw_copy`) and keeping their audit log.

Who may see a call's raw copy is decided when the call is recorded (its plan's
`raw_copy.roles`, kept in `raw_copies.roles`); every view is logged in `raw_views` (who, when,
which call, text or audio), which outlives both the user and the call.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from ivr.store import schema

ViewKind = Literal["text", "audio"]


@dataclass(frozen=True)
class RawCopy:
    """A call's raw copy: the roles that may see it and its raw recording (None: none kept,
    as when nothing in the recording had to be beeped)."""

    call_id: str
    roles: tuple[str, ...]
    recording_path: str | None

    def allows(self, role: str) -> bool:
        """Whether a console user of `role` may see this copy."""
        return role in self.roles


class RawCopies:
    """The raw copies and their audit log on a call store's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def copy(self, call_id: str) -> RawCopy | None:
        """The call's raw copy, if its plan kept one."""
        table = schema.raw_copies
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.call_id == call_id)).first()
        return RawCopy(row.call_id, tuple(row.roles), row.recording_path) if row else None

    def turns(self, call_id: str) -> dict[int, dict[str, str]]:
        """Each turn's words as said, by turn index: {"caller_text", "bot_text"}."""
        table = schema.raw_turns
        query = sa.select(table).where(table.c.call_id == call_id).order_by(table.c.idx)
        with self.engine.connect() as conn:
            return {row.idx: {"caller_text": row.caller_text, "bot_text": row.bot_text}
                    for row in conn.execute(query)}

    def log_view(self, user: str, call_id: str, what: ViewKind) -> None:
        """Write one raw view to the audit log (committed before the raw data is sent)."""
        with self.engine.begin() as conn:
            conn.execute(schema.raw_views.insert().values(
                at=dt.datetime.now(dt.timezone.utc), user_name=user, call_id=call_id,
                what=what))

    def views(self, limit: int = 500) -> list[dict[str, Any]]:
        """The newest raw views first."""
        table = schema.raw_views
        query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
