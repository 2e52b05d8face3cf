"""A call's raw copy as row writes (no database here): for plans with `redaction.raw_copy`.

`RawRows` follows the call's events as said (`EventLog.subscribe_raw`) and keeps only what
the raw copy holds: the caller's and the bot's words per turn, in `raw_turns` (the turns
are cut exactly as `ivr.store.rows.CallRows` cuts the redacted ones, by running one on the
raw events), and where the raw recording is (`recording.raw_copy`). Everything else of the
call is stored once, redacted, by the call's own `CallRows`.
"""

from __future__ import annotations

from typing import Sequence

from ivr.events import Event
from ivr.store import schema
from ivr.store.rows import CallRows, Write

RAW_TURN_FIELDS = ("caller_text", "bot_text")


class RawRows:
    """The raw rows of one call whose redacted rows another `CallRows` writes."""

    def __init__(self, call_id: str, roles: Sequence[str]) -> None:
        self.call_id = call_id
        self.roles = list(roles)
        self._turns = CallRows(call_id, "", None, 0.0)

    def open(self) -> list[Write]:
        """The call's raw copy row: who may see it (the call's row is written before it)."""
        return [Write(schema.raw_copies, {"call_id": self.call_id, "roles": self.roles})]

    def on_event(self, event: Event) -> list[Write]:
        """The raw rows an unredacted event adds or changes."""
        if event.kind == "recording.raw_copy":
            return [Write(schema.raw_copies, {"recording_path": event.data.get("path")},
                          {"call_id": self.call_id})]
        return [raw for w in self._turns.on_event(event) if w.table is schema.turns
                if (raw := _raw_turn(w)) is not None]


def _raw_turn(write: Write) -> Write | None:
    """A `turns` write turned into its `raw_turns` twin (None when it sets no text)."""
    values = {k: v for k, v in write.values.items() if k in RAW_TURN_FIELDS}
    if write.key is None:
        return Write(schema.raw_turns, {"call_id": write.values["call_id"],
                                        "idx": write.values["idx"], **values})
    return Write(schema.raw_turns, values, write.key) if values else None
