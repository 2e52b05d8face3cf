"""QA replay: a recorded call's caller through the current dialplan and models, turn by turn
against the original.

`replay_call(call, plan, engines)` plays the caller's side of a recording through a fresh call
session in simulated time (the offline driver of `ivr talk`), with the keys the caller pressed
at the moments they were pressed, the same caller number and the same call time (business
hours), and returns a `ReplayResult`: both calls as `Turn`s and `compare()`'s `TurnDiff`s.
Both sides are read from their event records by the call store's own row builder
(`ivr.store.rows.CallRows`), so "a turn" means the same here as in `ivr calls show`.

Where to find recorded calls is `ivr.qa.replay_sources`; running many in parallel is
`ivr.qa.replay_runner`; the text and HTML reports are `ivr.qa.replay_report`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from ivr.audio.frames import FRAME_MS, PHONE_RATE
from ivr.dialplan.loader import LoadedPlan
from ivr.events import Event
from ivr.qa.replay_asr import TranscriptCache, cached_turn_judge
from ivr.qa.replay_voice import ReplayVoice, recorded_durations
from ivr.record import CallRecord, RecordError
from ivr.session.engines import Engines
from ivr.session.offline import run_offline, simulate
from ivr.session.session import CallSession
from ivr.store import schema
from ivr.store.outcome import CALLER_ENDED
from ivr.store.rows import CallRows
from ivr.text.normalize import simple_normalize

DECISION_FIELDS = ("node", "decision", "transfer")
"""A change in one of these is a changed decision (`ivr replay` exits 1)."""
WORDING_FIELDS = ("heard", "source", "said")
"""A change only in these is a change of wording: what was recognised or said, and whether the
LLM's phrasing or the approved text was spoken."""
CALL_FIELDS = ("outcome", "transfer")
"""The call's own result; a change is a changed decision too."""

_OFFLINE_HANGUP = "bot_hangup:"  # the offline driver's prefix for the plan's own hang-up


@dataclass(frozen=True)
class Turn:
    """One dialog step and what led to it: turn 0 is the greeting.

    `t`: seconds from the greeting to the caller's first word (or the decision). `decision`: the
    dialog's reason, with the knowledge-base entry it answered from. `source`: "llm" (the LLM's
    phrasing of an approved answer), "verbatim" (the approved answer as written), "prompt" (the
    plan's own words) or "" (nothing said). `transfer`: "target (reason)" when this turn handed
    the caller over.
    """

    idx: int
    t: float
    heard: str
    node: str
    decision: str
    source: str
    said: str
    transfer: str = ""

    def value(self, name: str) -> str:
        """A compared field as text."""
        return str(getattr(self, name))


@dataclass(frozen=True)
class CallView:
    """A call as replay compares it: its turns and how it ended."""

    turns: list[Turn]
    outcome: str
    end_reason: str
    transfer: str

    def value(self, name: str) -> str:
        return str(getattr(self, name))


@dataclass(frozen=True)
class TurnDiff:
    """Turn `idx` before and after (None: the turn exists on one side only) and which fields
    differ."""

    idx: int
    before: Turn | None
    after: Turn | None
    changed: tuple[str, ...]

    @property
    def decision_changed(self) -> bool:
        return any(name in DECISION_FIELDS for name in self.changed)

    @property
    def wording_changed(self) -> bool:
        return bool(self.changed) and not self.decision_changed


@dataclass(frozen=True)
class RecordedCall:
    """What replay takes from a recorded call: its record, the caller's audio, the caller's
    number, the plan it ran on and when it happened (None where nothing recorded it)."""

    record: CallRecord
    wav: Path
    started_at: dt.datetime | None = None

    @property
    def call_id(self) -> str:
        return str(self._start["call_id"])

    @property
    def caller_number(self) -> str:
        return str(self._start["caller"])

    @property
    def dialplan(self) -> str:
        """The plan's path as the call recorded it."""
        return str(self._start["dialplan"])

    @property
    def _start(self) -> Event:
        try:
            return self.record.one("call.start")
        except LookupError:
            raise RecordError(f"{self.record.events_path}: not a call record (no call.start "
                              "event)") from None

    @property
    def offset(self) -> float:
        """Call time of the recording's first frame: SIP calls start their clock at the INVITE
        and their recording (and greeting) with the media; offline calls at 0."""
        media = self.record.of("sip.media")
        return media[0].t if media else 0.0

    @property
    def keys(self) -> dict[int, str]:
        """The keys the caller pressed, by 20 ms frame of the recording."""
        keys: dict[int, str] = {}
        for event in self.record.of("dtmf"):
            frame = max(0, round((event.t - self.offset) * 1000 / FRAME_MS))
            keys[frame] = keys.get(frame, "") + str(event["digit"])
        return keys

    @property
    def hang_up(self) -> str | None:
        """How the caller ended the call, if they did (the replay ends the same way when the
        recording does)."""
        end = self.record.of("call.end")
        reason = str(end[-1]["reason"]) if end else ""
        return reason if reason in CALLER_ENDED else None


@dataclass
class ReplayResult:
    """A replayed call beside its original. `events` is the replay's own record."""

    call_id: str
    dialplan: str
    call_time: str
    original: CallView
    replayed: CallView
    diffs: list[TurnDiff]
    audio_s: float
    wall_s: float
    events: list[Event] = field(default_factory=list, repr=False)

    @property
    def call_changes(self) -> tuple[str, ...]:
        """The call-level fields (`CALL_FIELDS`) that differ."""
        return tuple(name for name in CALL_FIELDS
                     if self.original.value(name) != self.replayed.value(name))

    @property
    def decision_changed(self) -> bool:
        return bool(self.call_changes) or any(d.decision_changed for d in self.diffs)

    @property
    def wording_changed(self) -> bool:
        return not self.decision_changed and any(d.changed for d in self.diffs)


@dataclass(frozen=True)
class ReplayFailure:
    """A call that could not be replayed, and why (the message says what to do)."""

    call_id: str
    error: str


Replayed = ReplayResult | ReplayFailure
"""What replaying one call gives."""


def _comparable(name: str, value: str) -> str:
    return simple_normalize(value) if name in ("heard", "said") else value


def compare(original: Sequence[Turn], replayed: Sequence[Turn]) -> list[TurnDiff]:
    """Turn by turn (by position: the caller's audio and keys are the same on both sides), the
    fields of `DECISION_FIELDS` and `WORDING_FIELDS` that differ (text compared without case
    and punctuation)."""
    diffs = []
    for idx in range(max(len(original), len(replayed))):
        before = original[idx] if idx < len(original) else None
        after = replayed[idx] if idx < len(replayed) else None
        if before is None or after is None:
            changed = DECISION_FIELDS + WORDING_FIELDS
        else:
            changed = tuple(name for name in DECISION_FIELDS + WORDING_FIELDS
                            if _comparable(name, before.value(name))
                            != _comparable(name, after.value(name)))
        diffs.append(TurnDiff(idx, before, after, changed))
    return diffs


def call_view(events: Sequence[Event], offset: float = 0.0) -> CallView:
    """A call's turns and ending from its events (`offset`: call time of the greeting)."""
    rows = CallRows("replay", "replay", None, wall_offset=0.0)
    turns: list[dict[str, Any]] = []
    call: dict[str, Any] = {}
    partial = ""  # an emergency acted on before the caller finished has no asr.final
    for event in events:
        if event.kind == "asr.partial":
            partial = str(event["text"])
        if event.kind == "call.end" and str(event["reason"]).startswith(_OFFLINE_HANGUP):
            # as the SIP driver records it: the plan's reason for hanging up
            event = replace(event, data={**event.data,
                                         "reason": event["reason"][len(_OFFLINE_HANGUP):]})
        for write in rows.on_event(event):
            if write.table is schema.turns and write.key is None:
                turns.append(dict(write.values))
            elif write.table is schema.turns:
                turns[write.key["idx"]].update(write.values)
            elif write.table is schema.calls:
                call.update(write.values)
        if event.kind == "dialog.decision":
            turns[-1]["caller_text"] = turns[-1]["caller_text"] or partial
            partial = ""
        if event.kind == "transfer.request" and turns:
            turns[-1]["transfer"] = f"{event['target']} ({event['reason']})"
    outcome = call.get("outcome")
    transfer = (f"{call['transfer_target']} ({call['transfer_reason']})"
                if call.get("transfer_target") else "")
    return CallView([_turn(row, offset) for row in turns],
                    outcome.value if outcome is not None else "(not ended)",
                    call.get("end_reason") or "", transfer)


def _turn(row: dict[str, Any], offset: float) -> Turn:
    entry = (row.get("evidence") or {}).get("entry")
    source = {"llm": "llm", "approved": "verbatim"}.get(row.get("answer_source") or "",
                                                         "prompt" if row.get("bot_text") else "")
    return Turn(row["idx"], round(row["t_start"] - offset, 2), row.get("caller_text", ""),
                row.get("node") or "", row["decision"] + (f" ({entry})" if entry else ""),
                source, row.get("bot_text", ""), row.get("transfer", ""))


def _cache_turns(session: CallSession, cache: TranscriptCache) -> None:
    session.turn_judge = cached_turn_judge(session.turn_judge, cache)


def replay_engines(call: RecordedCall, engines: Engines) -> Engines:
    """`engines` with the bot's voices replaced by `ReplayVoice`s that play each sentence as long
    as `call` recorded it (no synthesis); models, indexes and caches stay shared."""
    durations = recorded_durations(call.record.events)
    return dataclasses.replace(
        engines, voices={lang: ReplayVoice(voice, durations)  # type: ignore[misc]
                         for lang, voice in engines.voices.items()},
        prompt_audio={})


def replay_call(call: RecordedCall, plan: LoadedPlan, engines: Engines,
                at: dt.datetime | None = None, synthesise: bool = False,
                cache: TranscriptCache | None = None) -> ReplayResult:
    """Play `call`'s caller through `plan` on `engines` in simulated time and compare.

    The call happens at `at`, else when it was recorded, else now (business hours). The bot's
    sentences play for as long as the recording says without being synthesised
    (`ivr.qa.replay_voice`), unless `synthesise`. With `cache` the end-of-turn model's results
    are kept there (`ivr.qa.replay_asr`; pass `engines` with a `CachedASR` for recognition)."""
    if not synthesise:
        engines = replay_engines(call, engines)
    caller = call.record.caller_audio(call.wav)
    when = at or call.started_at
    call_time = (f"{when.isoformat(timespec='minutes')} ({'given' if at else 'recorded'})"
                 if when else "now (the record has no call time)")
    started = time.perf_counter()
    result, events = simulate(
        call.call_id, plan, engines,
        lambda session, clock: run_offline(session, clock, caller, keys=call.keys,
                                           hang_up=call.hang_up),
        caller_number=call.caller_number, now=when,
        setup=(lambda session: _cache_turns(session, cache)) if cache is not None else None)
    wall_s = time.perf_counter() - started
    original = call_view(call.record.events, call.offset)
    replayed = call_view(events.events)
    return ReplayResult(call.call_id, str(plan.path), call_time, original, replayed,
                        compare(original.turns, replayed.turns),
                        round(len(result.caller_audio) / 2 / PHONE_RATE, 2), round(wall_s, 2),
                        list(events.events))
