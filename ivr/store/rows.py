"""One call's events turned into row writes for the call store (no database here).

`CallRows` follows a call's event stream and says, for each event, which rows to insert or
update: the event itself (always), the call's row (numbers, dialplan, slots, transfer,
outcome...) and its turns. A turn opens at each `dialog.decision` (turn 0 is the greeting):
the caller's words before it (`asr.final`, `dtmf`), the decision and its evidence, then every
`bot.say` until the next decision. When the call ends, its rules ticket and (given a
`scorer`) its QA scores are written with it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa

from ivr.events import Event
from ivr.store import schema
from ivr.store.outcome import ANSWERING_ACTIONS, decide
from ivr.store.ticket import build_ticket

log = logging.getLogger("ivr.store")

Scorer = Callable[[list[Event]], dict[str, Any]]
"""A finished call's events -> its QA scores as JSON (`ivr.qa.scores.score_at_end`)."""


@dataclass(frozen=True)
class Write:
    """Insert `values` into `table`, or (with `key`) update the row that `key` names."""

    table: sa.Table
    values: dict[str, Any]
    key: dict[str, Any] | None = None


@dataclass
class _Turn:
    idx: int
    actions: list[str]
    decision: str
    evidence: dict = field(default_factory=dict)
    problem: bool = False  # the ticket's problem is this turn's caller text
    bot: list[str] = field(default_factory=list)
    llm_kept: bool = False


def json_safe(value: Any) -> Any:
    """Event data as plain JSON (dates, paths and other objects become strings)."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


class CallRows:
    """The rows of one call, built event by event (call `on_event` in emission order)."""

    def __init__(self, call_id: str, worker: str, events_path: str | None,
                 wall_offset: float, scorer: Scorer | None = None) -> None:
        self.call_id = call_id
        self.scorer = scorer
        self.events: list[Event] = []  # kept only for the scorer
        self.worker = worker
        self.events_path = events_path
        # Event.wall is the host's monotonic clock; this turns it into wall-clock time
        self.wall_offset = wall_offset
        self.seq = 0
        self.slots: dict[str, Any] = {}
        self.language: str | None = None
        self.turn: _Turn | None = None
        self.turns = 0
        self._caller: list[str] = []
        self._caller_t: float | None = None
        # the caller's last turn, for taking it back (`turn.continued`): its rows (a look-up
        # adds one) and the slots as they were before the caller spoke
        self._answered: list[_Turn] = []
        self._slots_heard: dict[str, Any] = {}
        self._slots_before: dict[str, Any] = {}
        self._speech_end_wall: float | None = None
        self._latency_from: float | None = None  # the answered turn's end of caller speech
        # for the ticket: the caller's first words, each turn's decision, KB entries answered
        self._problem = ""
        self._decisions: list[str] = []
        self._entries: list[str] = []
        self._transfer: dict[str, str | None] = {}

    def utc(self, monotonic: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(monotonic + self.wall_offset, dt.timezone.utc)

    def open(self, monotonic: float) -> list[Write]:
        """The call's row, written before its first event."""
        return [Write(schema.calls, {
            "call_id": self.call_id, "started_at": self.utc(monotonic), "worker": self.worker,
            "events_path": self.events_path, "schema_version": schema.SCHEMA_VERSION})]

    def on_event(self, event: Event) -> list[Write]:
        data = json_safe(event.data)
        writes = [Write(schema.events, {
            "call_id": self.call_id, "seq": self.seq, "t": event.t, "at": self.utc(event.wall),
            "kind": event.kind, "data": data})]
        self.seq += 1
        if self.scorer is not None:
            self.events.append(event)
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            writes += handler(self, event, data)
        return writes

    # ---- helpers ----------------------------------------------------------------------------
    def _call(self, **values: Any) -> list[Write]:
        return [Write(schema.calls, values, {"call_id": self.call_id})]

    def _turn_update(self, turn: _Turn | None = None, **values: Any) -> list[Write]:
        """`values` written to `turn`'s row (default: the current turn)."""
        turn = turn or self.turn
        assert turn is not None
        return [Write(schema.turns, values, {"call_id": self.call_id, "idx": turn.idx})]

    # ---- event handlers ---------------------------------------------------------------------
    def _invite(self, event: Event, data: dict) -> list[Write]:
        return self._call(remote=data.get("remote"), sip_call_id=data.get("sip_call_id"))

    def _start(self, event: Event, data: dict) -> list[Write]:
        return self._call(caller_number=data.get("caller") or "", dialplan=data.get("dialplan"),
                          dialplan_sha256=data.get("dialplan_sha256"))

    def _media(self, event: Event, data: dict) -> list[Write]:
        return self._call(recording_path=data.get("recording"))

    def _speech_start(self, event: Event, data: dict) -> list[Write]:
        if not self._caller:
            self._caller_t = data.get("at", event.t)
        return []

    def _speech_end(self, event: Event, data: dict) -> list[Write]:
        self._speech_end_wall = event.wall
        return []

    def _heard(self, event: Event, data: dict) -> list[Write]:
        if self._caller_t is None:
            self._caller_t = event.t
        if not self._caller:
            self._slots_heard = dict(self.slots)
        if event.kind == "dtmf":
            self._caller.append(f"[key {data.get('digit')}]")
            return []
        self._caller.append(data.get("text", ""))
        if self.language is None and data.get("language"):
            self.language = data["language"]
            return self._call(language=self.language)
        return []

    def _decision(self, event: Event, data: dict) -> list[Write]:
        actions = list(data.get("actions", []))
        evidence = {k: v for k, v in data.items() if k not in ("reason", "node", "actions")}
        self.turn = _Turn(self.turns, actions, data.get("reason", ""), evidence)
        self.turns += 1
        if self._caller:
            self._answered, self._slots_before = [], self._slots_heard
        self._answered.append(self.turn)
        self._decisions.append(self.turn.decision)
        if data.get("entry"):
            self._entries.append(str(data["entry"]))
        if not self._problem and any(self._caller):
            self._problem = " ".join(self._caller)
            self.turn.problem = True
        row = {"call_id": self.call_id, "idx": self.turn.idx,
               "t_start": self._caller_t if self._caller_t is not None else event.t,
               "caller_text": " ".join(self._caller), "node": data.get("node"),
               "decision": self.turn.decision, "actions": actions, "evidence": evidence or None}
        latency_from = self._speech_end_wall if self._caller else None
        self._caller, self._caller_t, self._speech_end_wall = [], None, None
        self._latency_from = latency_from
        return [Write(schema.turns, row)]

    def _continued(self, event: Event, data: dict) -> list[Write]:
        """The caller went on: their last turn is taken back and heard again with the rest (the
        next decision). Its rows stay, marked; the slots it filled are unfilled (the dialog
        fills them again from the whole); the ticket's problem comes from the whole turn."""
        writes: list[Write] = []
        for turn in self._answered:
            if turn.problem:
                self._problem = ""
            turn.evidence = {**turn.evidence, "taken_back": True}
            writes += self._turn_update(turn, evidence=turn.evidence)
        if self._answered and self.slots != self._slots_before:
            self.slots = dict(self._slots_before)
            writes += self._call(slots=dict(self.slots))
        self._answered = []
        return writes

    def _llm_sentence(self, event: Event, data: dict) -> list[Write]:
        if self.turn is not None and data.get("supported"):
            self.turn.llm_kept = True
        return []

    def _say(self, event: Event, data: dict) -> list[Write]:
        if self.turn is None:
            return []
        turn = self.turn
        values: dict[str, Any] = {}
        if not turn.bot and self._latency_from is not None:
            values["latency_ms"] = round((event.wall - self._latency_from) * 1000, 1)
        turn.bot.append(data.get("text", ""))
        values["bot_text"] = " ".join(turn.bot)
        values["t_end"] = round(event.t + float(data.get("audio_s", 0.0)), 3)
        if ANSWERING_ACTIONS.intersection(turn.actions):
            values["answer_source"] = "llm" if turn.llm_kept else "approved"
        return self._turn_update(**values)

    def _slot(self, event: Event, data: dict) -> list[Write]:
        name = data.get("name")
        self.slots[name] = data.get("value")
        values: dict[str, Any] = {"slots": dict(self.slots)}
        if name == "survey":
            values["survey_answer"] = str(data.get("value"))
        return self._call(**values)

    def _transfer_request(self, event: Event, data: dict) -> list[Write]:
        self._transfer.update(target=data.get("target"), reason=data.get("reason"))
        return self._call(transfer_target=data.get("target"),
                          transfer_reason=data.get("reason"), summary=data.get("summary"))

    def _transfer_status(self, event: Event, data: dict) -> list[Write]:
        if not data.get("final"):
            return []
        status = f"{data.get('status')} {data.get('reason', '')}".strip()
        self._transfer["status"] = status
        return self._call(transfer_status=status)

    def _end(self, event: Event, data: dict) -> list[Write]:
        reason = data.get("reason", "")
        turn = self.turn
        outcome = decide(reason, turn.actions if turn else [], turn.decision if turn else None)
        self.slots.update(data.get("slots") or {})
        ticket = build_ticket(self._problem, self._decisions, self._entries, self.slots,
                              outcome, reason, self._transfer)
        return self._call(ended_at=self.utc(event.wall), duration_s=round(event.t, 3),
                          end_reason=reason, outcome=outcome, slots=dict(self.slots),
                          summary=data.get("summary"), ticket=ticket) + self._qa_scores()

    def _ticket(self, event: Event, data: dict) -> list[Write]:
        """The final ticket (the LLM's, when it answered in time) replaces the rules'."""
        return self._call(ticket=data.get("ticket"))

    def _qa_scores(self) -> list[Write]:
        """The scorer's verdict on the finished call; a scorer that fails is logged and the
        call is stored without scores (never without its record)."""
        if self.scorer is None:
            return []
        try:
            scores = json_safe(self.scorer(self.events))
        except Exception:  # noqa: BLE001 - whatever breaks in scoring, the call is kept
            log.exception("call %s: QA scoring failed; stored without scores (`ivr qa score "
                          "%s --rescore` tries again)", self.call_id, self.call_id)
            return []
        return self._call(qa_scores=scores)


_HANDLERS = {
    "sip.invite": CallRows._invite,
    "call.start": CallRows._start,
    "sip.media": CallRows._media,
    "speech.start": CallRows._speech_start,
    "speech.end": CallRows._speech_end,
    "asr.final": CallRows._heard,
    "dtmf": CallRows._heard,
    "dialog.decision": CallRows._decision,
    "turn.continued": CallRows._continued,
    "llm.sentence": CallRows._llm_sentence,
    "bot.say": CallRows._say,
    "slot": CallRows._slot,
    "transfer.request": CallRows._transfer_request,
    "transfer.status": CallRows._transfer_status,
    "call.end": CallRows._end,
    "ticket": CallRows._ticket,
}
