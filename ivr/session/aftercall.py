"""What happens to a call once it is over: its final ticket, the ticket webhook, and the
personal data beeped out of its recording.

The driver awaits `after_call` after `CallSession.close` (the caller is gone, the media path is
closed) and before it closes the call's record, so the events this adds (`ticket`,
`ticket.webhook`, `recording.redacted`) land in the JSONL and the store like any other. The
rules ticket is already in the store from `call.end`: a late or failing LLM, a down webhook or
a failing recogniser cost nothing but their own step. The ticket and the recording are worked on
at the same time; the wait is bounded by the plan's `ticket.llm_budget_ms`, the webhook's tries
and the recogniser's pass over the caller channel (the ticket is posted while it runs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.dialplan.model import Dialplan
from ivr.events import Event
from ivr.session.webhook import post_json
from ivr.store.audio_redact import redact_recording
from ivr.store.raw_copy import keep_raw_recording
from ivr.store.rows import CallRows
from ivr.store.schema import calls
from ivr.store.ticket import llm_ticket

if TYPE_CHECKING:
    from ivr.session.session import CallSession

log = logging.getLogger("ivr.aftercall")

DEFAULT_CATEGORY = "other"


async def after_call(session: CallSession, recording: Path | None = None) -> dict[str, Any]:
    """Ticket (LLM within budget, else rules) and its webhook, and the recording at
    `recording` (stereo WAV, caller left) redacted per the plan; returns the ticket as
    recorded. Run once, after `session.close()`."""
    ticket, _ = await asyncio.gather(_ticket(session), _redact_audio(session, recording))
    return ticket


def rules_ticket(call_id: str, events: list[Event]) -> dict[str, Any]:
    """The rules ticket the store wrote at `call.end`, rebuilt from the call's events."""
    rows, ticket = CallRows(call_id, "", None, 0.0), None
    for event in events:
        writes = rows.on_event(event)
        if event.kind == "call.end":
            ticket = next(w.values["ticket"] for w in writes
                          if w.table is calls and "ticket" in w.values)
    if ticket is None:
        raise ValueError(f"call {call_id} has not ended: no ticket before call.end")
    return ticket


def categories(plan: Dialplan) -> list[str]:
    """The plan's ticket categories, by default its knowledge topics and the nodes its menus
    lead to (and "other")."""
    if plan.ticket.categories:
        return list(plan.ticket.categories)
    found = [entry.id for entry in plan.knowledge]
    found += [choice.next for node in plan.nodes.values() if node.type == "menu"
              for choice in node.choices]
    return list(dict.fromkeys([*found, DEFAULT_CATEGORY]))


def transcript(events: list[Event]) -> str:
    """The call as the LLM reads it (event text, so already redacted)."""
    lines = []
    for event in events:
        if event.kind == "asr.final":
            lines.append(f"Caller: {event['text']}")
        elif event.kind == "dtmf":
            lines.append(f"Caller pressed {event['digit']}")
        elif event.kind == "bot.say":
            lines.append(f"Assistant: {event['text']}")
        elif event.kind in ("transfer.request", "hangup.request"):
            lines.append(f"[{event.kind.split('.')[0]}: {event['reason']}]")
    return "\n".join(lines) or "(nothing was said)"


async def _ticket(session: CallSession) -> dict[str, Any]:
    settings, events = session.plan.ticket, session.events
    ticket = rules_ticket(session.call_id, events.events)
    # the event log masks every text field of the ticket, as in any event
    llm = session.engines.llm
    if llm is None or settings.llm is False or (settings.llm == "auto" and llm.settings.embedded):
        event = events.emit("ticket", ticket=ticket, source="rules")
    else:
        ticket, error, ms = await llm_ticket(
            llm, ticket, transcript(events.events), categories(session.plan),
            settings.llm_budget_ms / 1000)
        log.info("call %s: ticket by %s (LLM %d ms%s)", session.call_id, ticket["source"], ms,
                 f": {error}" if error else "")
        if error:
            event = events.emit("ticket", ticket=ticket, source="rules", llm_ms=ms, error=error)
        else:
            event = events.emit("ticket", ticket=ticket, source="llm", llm_ms=ms)
    ticket = event["ticket"]
    if settings.webhook:
        await _post_ticket(session, ticket, settings.webhook)
    return ticket


async def _post_ticket(session: CallSession, ticket: dict[str, Any], url: str) -> None:
    events = session.events
    start = events.of_kind("call.start")[0]
    end = events.of_kind("call.end")[-1]
    body = {"call_id": session.call_id, "outcome": ticket["outcome"], "ticket": ticket,
            "duration_s": round(end.t - start.t, 3)}
    if at := start.data.get("at"):
        began = dt.datetime.fromisoformat(at)
        body["started_at"] = at
        body["ended_at"] = (began + dt.timedelta(seconds=end.t - start.t)).isoformat(
            timespec="milliseconds")
    result = await post_json(url, body, what=f"call {session.call_id} ticket")
    if result.error:
        events.emit("ticket.webhook", status=result.status, tries=result.tries,
                    error=result.error)
    else:
        events.emit("ticket.webhook", status=result.status, tries=result.tries)


async def _redact_audio(session: CallSession, recording: Path | None) -> None:
    mode = session.plan.redaction.audio
    if recording is None or session.redactor is None or mode == "off":
        return
    if not any(session.redactor.spans(turn.caller) for turn in session.dialog.state.turns):
        # the whisper pass costs ~8 s of CPU per minute of call: spent only on calls whose
        # transcript held something to mask (the same model heard the same audio live)
        session.events.emit("recording.redacted", spans=0, words=0, mode=mode, audio_s=0.0,
                            redacted_s=0.0, compute_s=0.0)
        return
    words = getattr(session.engines.asr, "words", None)
    if words is None:
        log.warning("call %s: the recording %s is NOT redacted: the ASR engine (%s) gives no "
                    "word timings", session.call_id, recording, type(session.engines.asr).__name__)
        session.events.emit("recording.redacted", spans=0, words=0, mode=mode, audio_s=0.0,
                             redacted_s=0.0, compute_s=0.0, error="no word timings")
        return
    transcribe = functools.partial(words, languages=tuple(session.plan.languages))
    loop = asyncio.get_running_loop()
    if session.plan.redaction.raw_copy.enabled:
        try:  # the recording as said, kept apart before it is beeped in place
            raw = await loop.run_in_executor(None, keep_raw_recording, recording)
            session.events.emit("recording.raw_copy", path=str(raw.resolve()))
        except OSError as exc:
            log.error("call %s: no raw copy of the recording %s: %s", session.call_id,
                      recording, exc)
    try:
        done = await loop.run_in_executor(None, redact_recording, recording, transcribe,
                                          session.redactor, mode)
    except Exception as exc:  # noqa: BLE001 - the recording stays as it was; say so
        log.exception("call %s: redacting the recording %s failed", session.call_id, recording)
        session.events.emit("recording.redacted", spans=0, words=0, mode=mode, audio_s=0.0,
                            redacted_s=0.0, compute_s=0.0, error=f"{type(exc).__name__}: {exc}")
        return
    log.info("call %s: %d span(s) %s in the recording (%.1f s of %.1f s, %.2f s to do)",
             session.call_id, done.spans, "beeped" if mode == "beep" else "silenced",
             done.redacted_s, done.audio_s, done.compute_s)
    session.events.emit("recording.redacted", spans=done.spans, words=done.words, mode=mode,
                        audio_s=done.audio_s, redacted_s=done.redacted_s,
                        compute_s=done.compute_s)

