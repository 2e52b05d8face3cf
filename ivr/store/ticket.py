"""The after-call ticket, by rules: what the caller wanted, what the bot did, how it ended and
whether someone must follow up. Built from the call's own record when it ends, so every call
has one (an LLM-written ticket within a time budget is a later step)."""

from __future__ import annotations

from typing import Any

from ivr.store.outcome import Outcome

# A transfer that did not connect leaves the caller's need open as surely as a hang-up does.
CONNECTED = "200"


def build_ticket(problem: str, decisions: list[str], entries: list[str], slots: dict[str, Any],
                 outcome: Outcome, end_reason: str, transfer: dict[str, str | None]) -> dict:
    """`problem`: the caller's first words (masked like every stored text); `decisions`: the
    dialog's decision per turn; `entries`: knowledge-base entries answered; `transfer`:
    target, reason and final status, where there was one."""
    if entries:
        category = f"kb:{entries[-1]}"
    elif transfer.get("reason"):
        category = f"handoff:{transfer['reason']}"
    else:
        category = f"ended:{end_reason}"
    status = transfer.get("status") or ""
    handed_over = outcome is Outcome.TRANSFERRED and status.startswith(CONNECTED)
    follow_up = outcome in (Outcome.ABANDONED, Outcome.FAILED) or (
        transfer.get("target") is not None and not handed_over)
    resolution = {Outcome.RESOLVED: "answered by the bot",
                  Outcome.TRANSFERRED: f"handed to {transfer.get('target')} ({status})",
                  Outcome.ABANDONED: "the caller hung up before being helped",
                  Outcome.FAILED: f"the call failed ({end_reason})"}[outcome]
    return {"problem": problem or "(the caller said nothing the bot recognised)",
            "category": category, "slots": dict(slots), "bot_did": list(decisions),
            "resolution": resolution, "outcome": outcome.value, "end_reason": end_reason,
            "follow_up_needed": follow_up, "source": "rules"}
