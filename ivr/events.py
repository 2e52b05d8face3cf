"""Timestamped call events: the single record of what happened in a call.

The session emits events; the call log, latency figures, QA replay and the dashboard read them
(`ivr.record` reads a written record back). `t` is the driver's clock (real or simulated call
time, seconds from call start); `wall` is the host's monotonic clock, so stage latencies are real
even when the call runs in simulated time.

Every kind is in `CATALOGUE` with its fields and their types; each JSON line carries the
`SCHEMA_VERSION` it was written with as "v". Personal data is masked (`ivr.text.redact`) before
an event is stored, written or shown to a listener, except in the fields the catalogue marks as
signalling identifiers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from ivr.text.redact import Redactor

log = logging.getLogger("ivr.events")

SCHEMA_VERSION = 1
"""The call record's format: the line layout and `CATALOGUE`. Written as "v" on every line;
raise it when a kind or field changes meaning or type, or one is removed (adding a kind or an
optional field keeps it)."""

RESERVED = frozenset({"t", "kind", "wall", "v"})
"""Keys of a JSON line that are not event data."""

BUILTIN_REDACTION = Redactor()
"""Cards, IDs, phones and e-mails: what every event log masks unless told otherwise."""


class Clock(Protocol):
    """Call time in seconds since the call started; the driver owns it."""

    def now(self) -> float: ...


class MonotonicClock:
    """Real time, for live calls."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start


class ManualClock:
    """Simulated time advanced by the driver (offline talk, QA replay)."""

    def __init__(self) -> None:
        self._t = 0.0

    def now(self) -> float:
        return self._t

    def advance(self, seconds: float) -> None:
        self._t += seconds


@dataclass(frozen=True)
class Event:
    """One thing that happened: `kind` names it (e.g. "asr.final"), `data` holds its details."""

    t: float
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    wall: float = field(default_factory=time.monotonic)

    def to_json(self) -> str:
        """One line of the call record."""
        return json.dumps({"t": round(self.t, 3), "kind": self.kind, **self.data,
                           "wall": round(self.wall, 4), "v": SCHEMA_VERSION},
                          ensure_ascii=False)

    def __getitem__(self, key: str) -> Any:
        """The value under `key` in the event's JSON line: "t", "kind", "wall" or a data field."""
        if key in ("t", "kind", "wall"):
            return getattr(self, key)
        return self.data[key]


Types = type | tuple[type, ...]
NUMBER = (int, float)


@dataclass(frozen=True)
class EventKind:
    """One kind of event: what it records and the fields it carries.

    `raw` fields are signalling identifiers (call ids, SIP URIs and addresses, the caller's number
    as signalled, file paths, node names), written as they are so a record can be traced; every
    other string, nested ones included, is redacted. An `open` kind may carry further fields
    (the dialog's evidence, media statistics).
    """

    doc: str
    fields: Mapping[str, Types]
    optional: frozenset[str] = frozenset()
    raw: frozenset[str] = frozenset()
    open: bool = False

    def problems(self, data: Mapping[str, Any]) -> list[str]:
        """What is wrong with `data` for this kind (empty when it fits)."""
        found = [f"missing field '{name}'" for name in self.fields
                 if name not in data and name not in self.optional]
        for name, value in data.items():
            expected = self.fields.get(name)
            if name in RESERVED:
                found.append(f"field '{name}' is reserved for the line itself")
            elif expected is None and not self.open:
                found.append(f"unknown field '{name}'")
            elif expected is not None and not isinstance(value, expected):
                found.append(f"field '{name}' is {type(value).__name__}, expected "
                             f"{_type_names(expected)}")
        return found


def _type_names(types: Types) -> str:
    return " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))


def _kind(doc: str, fields: dict[str, Types], *, optional: tuple[str, ...] = (),
          raw: tuple[str, ...] = (), open: bool = False) -> EventKind:
    return EventKind(doc, fields, frozenset(optional), frozenset(raw), open)


_OPT_STR = (str, type(None))
CATALOGUE: dict[str, EventKind] = {
    # ---- the call session
    "call.start": _kind("the session began; `at`: its wall-clock time (ISO 8601 UTC; business "
                        "hours), absent from records written before it was added", {
        "call_id": str, "caller": str, "dialplan": str, "dialplan_sha256": str, "at": str},
        optional=("at",), raw=("call_id", "caller", "dialplan", "dialplan_sha256", "at")),
    "call.end": _kind("the session ended; slots and the agent summary so far", {
        "reason": str, "turns": int, "slots": dict, "summary": str, "summary_full": str}),
    "speech.start": _kind("the endpointer heard the caller start", {
        "at": NUMBER, "bot_busy": bool}),
    "speech.end": _kind("the caller's utterance ended (`dropped`: too short to use)", {
        "at": NUMBER, "speech_ms": int, "dropped": bool}, optional=("dropped",)),
    "turn.judged": _kind("the end-of-turn model judged a pause (`ended`: the turn ended there; "
                         "`probability` null and `error` set when no model answered; `text`: "
                         "the transcript so far that confirmed or vetoed a complete verdict)", {
        "at": NUMBER, "complete": bool, "probability": (float, type(None)), "compute_s": NUMBER,
        "ended": bool, "error": str, "text": _OPT_STR}, optional=("text",)),
    "turn.question": _kind("a turn the end-of-turn model had not ended was still silent at the "
                           "policy's `question_ms`: whether the transcript so far (`text`, null "
                           "when recognition failed) is a whole question, and whether the turn "
                           "ended there", {
        "at": NUMBER, "question": bool, "ended": bool, "text": _OPT_STR}),
    "turn.continued": _kind("the caller went on talking right after their turn ended "
                            "(`after`: the call time it ended) as the bot began to reply: the "
                            "reply stops, the dialog takes that turn back and hears both parts "
                            "as one (the next asr.final)", {"after": NUMBER}),
    "asr.final": _kind("what the caller said (`speculative_at`: the call time its recognition "
                       "started, at a pause before the end of the turn)", {
        "text": str, "language": str, "rtf": NUMBER, "compute_s": NUMBER,
        "speculative_at": (int, float, type(None))}, optional=("speculative_at",)),
    "asr.reread": _kind("a read-out number the waiting node could not take (`first`), read "
                        "again from the same audio with the recogniser's careful decoding "
                        "(`text`); `taken`: the node takes that one, which the next asr.final "
                        "then carries", {"first": str, "text": str, "taken": bool,
                                         "compute_s": NUMBER}),
    "asr.partial": _kind("an interim result acted on before the caller finished",
                         {"text": str}),
    "asr.partial_error": _kind("interim recognition failed", {"error": str}),
    "asr.rejected": _kind("recognised text thrown away (silence, phantom phrases)", {
        "reason": str, "raw": str}),
    "backchannel": _kind("short talk over the bot that did not interrupt it", {"text": str}),
    "barge_in": _kind("the caller interrupted the bot", {"dropped_s": NUMBER}),
    "bot.paused": _kind("the caller talks over the bot: its audio is held (`held_s`: what the "
                        "session had queued; the line's own queue comes back to it)",
                        {"held_s": NUMBER}),
    "bot.resumed": _kind("the talk over the bot was a backchannel or noise: its audio goes on "
                         "where it stopped", {"paused_s": NUMBER}),
    "dtmf": _kind("a key the caller pressed", {"digit": str}),
    "no_input": _kind("the caller was silent too long", {"node": str}, raw=("node",)),
    "dialog.decision": _kind("the dialog's response to an input, with its evidence", {
        "reason": str, "node": _OPT_STR, "actions": list}, raw=("node",), open=True),
    "dialog.question_kept": _kind("a problem or question told at a slot prompt, kept for the "
                                  "next menu or answer node", {"node": str}, raw=("node",)),
    "dialog.instruction_attempt": _kind(
        "the caller tried to change what the bot is or says (`refused`: they demanded it assert "
        "something or reveal its instructions, and heard prompts.instructions_refused)",
        {"matched": str, "refused": bool}),
    "dialog.safety_check": _kind(
        "the caller's answer to prompts.safety_check (`answer`: safe, unsafe - handed to the "
        "emergency target - or other, taken as a new turn)", {"answer": str}),
    "dialog.number_check": _kind(
        "the caller's yes or no to a number of unusual length read back (prompts.number_check; "
        "`answer`: yes keeps it, no asks for it again)", {"answer": str}),
    "dialog.node": _kind("the dialog entered a node", {"node": str, "type": str},
                         raw=("node",)),
    "slot": _kind("a slot was filled (`heard_earlier`: from a sentence said before its prompt)",
                  {"name": str, "value": object, "heard_earlier": bool},
                  optional=("heard_earlier",), raw=("name",)),
    "anger": _kind("the caller's mood this turn", {
        "score": NUMBER, "smoothed": NUMBER, "escalate": bool, "verdict": _OPT_STR}),
    "llm.first_token": _kind("the LLM's first token", {"latency_s": NUMBER}),
    "llm.sentence": _kind("a sentence the LLM wrote, kept if the facts support it", {
        "text": str, "supported": bool}),
    "llm.completed_from_approved": _kind("approved sentences the LLM left out, added",
                                         {"sentences": int}),
    "llm.error": _kind("the LLM failed; the approved text was spoken", {"error": str}),
    "llm.over_budget": _kind("no supported LLM sentence within the answer budget; the approved "
                             "text was spoken", {"budget_ms": int}),
    "slot.llm": _kind("a turn at a collect node the rules did not understand, read by the LLM "
                      "for the slots asked; those its reply gave that their parsers accept were "
                      "taken (as `slot` events), or why none could be",
                      {"asked": list, "taken": list, "ms": int, "error": str},
                      optional=("error",), raw=("asked", "taken")),
    "tool.call": _kind("one of the plan's HTTP tools was called (a lookup node, or a served model "
                       "through the tools API): how long it took, the result's fields, or why "
                       "there is none (the caller heard prompts.lookup_failed)",
                       {"tool": str, "ms": int, "fields": list, "error": str},
                       optional=("fields", "error"), raw=("tool", "fields")),
    "kb.document_answer": _kind("an answer from document passages: the LLM's sentences kept, "
                                "those dropped as unsupported (none kept: the caller heard "
                                "prompts.dont_know); or `quoted`: the documents' own sentences "
                                "said as written", {"sentences": int, "dropped": list,
                                                    "quoted": bool, "documents": list},
                                optional=("dropped", "quoted"), raw=("documents",)),
    "tts.first_audio": _kind("first synthesised audio of a reply; `source`: memory, disk "
                             "(the pre-spoken store) or synthesis", {
        "compute_s": NUMBER, "rtf": NUMBER, "source": str}, optional=("source",)),
    "bot.say": _kind("a sentence the bot queued for playout", {"text": str, "audio_s": NUMBER}),
    "playout.first_frame": _kind("the first frame of a reply was played", {}),
    "transfer.request": _kind("the dialog hands the caller to a person", {
        "target": str, "reason": str, "summary": str, "summary_full": str}, raw=("target",)),
    "transfer.failed": _kind("the transfer could not be connected", {
        "target": str, "status": str}, raw=("target",)),
    "hangup.request": _kind("the dialplan ends the call", {"reason": str}),
    "summary.webhook": _kind("the agent summary was posted to the plan's webhook", {
        "status": int, "source": str, "error": str}, optional=("source", "error")),
    "error": _kind("a failure the caller was protected from", {"error": str}),
    "engine.failure": _kind("a recogniser or voice call failed or ran past its timeout "
                            "(`stage`: asr or tts); the call goes on",
                            {"stage": str, "timed_out": bool, "error": str}, raw=("stage",)),
    # ---- after the call (`ivr.session.aftercall`)
    "ticket": _kind("the after-call ticket, final (`source`: llm or rules; `error`: why not "
                    "the LLM's; `llm_ms`: how long it was waited for)", {
        "ticket": dict, "source": str, "llm_ms": int, "error": str},
        optional=("llm_ms", "error")),
    "ticket.webhook": _kind("the ticket was posted to the plan's ticket webhook", {
        "status": int, "tries": int, "error": str}, optional=("error",)),
    "recording.redacted": _kind("personal data beeped (or silenced) in the stored recording: "
                                "how many spans and seconds, never what was said", {
        "spans": int, "words": int, "mode": str, "audio_s": NUMBER, "redacted_s": NUMBER,
        "compute_s": NUMBER, "error": str}, optional=("error",)),
    "recording.raw_copy": _kind("the recording as said, kept apart before it was redacted "
                                "(the plan's `redaction.raw_copy`): where", {"path": str},
                                raw=("path",)),
    # ---- the SIP driver
    "sip.invite": _kind("an INVITE arrived", {
        "remote": str, "sip_call_id": str, "worker": str},
        raw=("remote", "sip_call_id", "worker")),
    "sip.answered": _kind("the caller acknowledged our answer", {}),
    "sip.hold": _kind("the caller put the call on hold", {"direction": str}),
    "sip.unhold": _kind("the caller took the call off hold", {"direction": str}),
    "sip.media": _kind("media is flowing; the recording's path", {"recording": str},
                       raw=("recording",)),
    "sip.dtmf": _kind("a key by RFC 2833 or SIP INFO", {"digit": str, "method": str}),
    "sip.timeout": _kind("signalling or media went quiet; the call is ended", {
        "reason": str, "detail": str}),
    "sip.hangup": _kind("we end the call", {"reason": str}),
    "sip.disconnected": _kind("the call is over", {"status": int, "reason": str, "by": str}),
    "rtp.first_frame": _kind("the first frame of a reply left as RTP", {}),
    "playout.flushed": _kind("queued bot audio dropped (barge-in, new decision; a pause "
                             "puts it back)",
                             {"frames": int}),
    "transfer.refer": _kind("REFER sent", {"target": str, "refer_to": str},
                            raw=("target", "refer_to")),
    "transfer.status": _kind("the transfer's progress from NOTIFY", {
        "status": int, "reason": str, "final": bool, "outcome": str}, optional=("outcome",)),
    "media.stats": _kind("frames in and out, clock lag; the record's last event", {},
                         open=True),
}
"""Every kind of event a call record may hold."""


class EventSchemaError(ValueError):
    """An event that does not fit `CATALOGUE` (raised only by a strict `EventLog`)."""


def strict_default() -> bool:
    """Whether event logs raise on events outside the catalogue: IVR_STRICT_EVENTS=1 (tests,
    CI); otherwise a mismatch is logged once per process, kind and problem, and the call goes on."""
    return os.environ.get("IVR_STRICT_EVENTS") == "1"


_REPORTED: set[tuple[str, str]] = set()  # (kind, problem) already logged by this process


class EventLog:
    """Collects a call's events in memory and, if given a path, appends each as a JSON line.

    Every line is flushed and fsynced as it is written so a crash keeps the record up to it.
    If the disk fills up (or the file cannot be written), the call goes on: the error is logged
    once, `write_error` says what happened, and events stay in memory. Listeners (the CLI printer,
    the SIP worker, tests) are called for each event.

    `redactor` masks personal data before an event is kept, written or shown to a listener (the
    call session sets its plan's; None keeps everything as said). An event outside `CATALOGUE`
    raises `EventSchemaError` when `strict` (default: `strict_default()`), else it is logged and
    recorded anyway: a call never fails over its own bookkeeping.
    """

    def __init__(self, clock: Clock, path: Path | None = None, fsync: bool = True,
                 redactor: Redactor | None = BUILTIN_REDACTION,
                 strict: bool | None = None) -> None:
        self.clock = clock
        self.events: list[Event] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._raw_listeners: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()
        self._fsync = fsync
        self.path = path
        self.write_error: str | None = None
        self.redactor = redactor
        self.strict = strict_default() if strict is None else strict
        self._file = open(path, "a", encoding="utf-8") if path else None

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` with each event as it is recorded (redacted)."""
        self._listeners.append(listener)

    def subscribe_raw(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` with each event as said, before redaction: only for the call
        store's raw copy (the plan's `redaction.raw_copy`). It is called after the redacted
        listeners, and only while a redactor is set (without one every listener sees raw)."""
        self._raw_listeners.append(listener)

    def emit(self, kind: str, **data: Any) -> Event:
        t, wall = self.clock.now(), time.monotonic()
        self._check(kind, data)
        event = Event(t, kind, self._redact(kind, data), wall)
        with self._lock:
            self.events.append(event)
            if self._file and self.write_error is None:
                self._write(event)
        for listener in self._listeners:
            listener(event)
        if self._raw_listeners and self.redactor is not None:
            raw = Event(t, kind, data, wall)
            for listener in self._raw_listeners:
                listener(raw)
        return event

    def _check(self, kind: str, data: dict[str, Any]) -> None:
        spec = CATALOGUE.get(kind)
        problems = spec.problems(data) if spec else ["not in the catalogue (ivr.events.CATALOGUE)"]
        if problems and self.strict:
            raise EventSchemaError(f"event {kind!r}: {'; '.join(problems)}")
        for problem in problems:
            if (kind, problem) not in _REPORTED:
                _REPORTED.add((kind, problem))
                log.warning("event %r: %s (recorded anyway)", kind, problem)

    def _redact(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        if self.redactor is None:
            return data
        spec = CATALOGUE.get(kind)
        raw = spec.raw if spec else frozenset()
        return {k: v if k in raw else self.redactor.value(v) for k, v in data.items()}

    def _write(self, event: Event) -> None:
        assert self._file is not None
        try:
            self._file.write(event.to_json() + "\n")
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            self.write_error = f"{self.path}: {exc.strerror or exc}"
            log.error("cannot write the call record (%s); the call goes on, events kept in memory",
                      self.write_error)

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def close(self) -> None:
        if self._file:
            try:
                self._file.close()
            except OSError:
                pass  # already reported by _write
            self._file = None
