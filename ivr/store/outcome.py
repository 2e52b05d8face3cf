"""How a call ended, decided from what its events said (`call.end` reason and the turns)."""

from __future__ import annotations

from ivr.store.schema import Outcome

# Our side ended the call because something broke: the caller was not served.
FAILED_REASONS = frozenset({"shutdown", "no_ack", "no_media", "rtp_timeout", "hold_timeout",
                            "transfer_failed", "worker_died", "error"})
CALLER_ENDED = frozenset({"caller_hangup", "caller_cancelled"})
ANSWERING_ACTIONS = frozenset({"answer", "converse"})


def decide(end_reason: str, last_actions: list[str], last_decision: str | None) -> Outcome:
    """The outcome of a finished call.

    `last_actions`/`last_decision` are the actions and reason of the call's last dialog step.
    A caller who hangs up right after the bot answered (or after the survey) was served:
    resolved; one who hangs up anywhere else (in a menu, mid-question, during the transfer
    announcement, before the greeting) abandoned the call. The plan's own hang-up node is a
    resolved call; silence until the plan gives up (`no_input`) is an abandoned one.
    """
    if end_reason == "transferred":
        return Outcome.TRANSFERRED
    if end_reason in FAILED_REASONS:
        return Outcome.FAILED
    if end_reason == "dialplan":
        return Outcome.RESOLVED
    if end_reason in CALLER_ENDED:
        served = (ANSWERING_ACTIONS.intersection(last_actions) and "transfer" not in last_actions
                  ) or last_decision == "survey_answered"
        return Outcome.RESOLVED if served else Outcome.ABANDONED
    if end_reason == "no_input":
        return Outcome.ABANDONED
    return Outcome.FAILED  # a reason this code does not know: never count it as served
