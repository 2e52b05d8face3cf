"""Offline drivers: recorded or scripted callers through a session in simulated time.

Frames advance a manual clock 20 ms at a time and the driver waits for model work to finish
before the next frame, so a run is deterministic and faster than real time, while event `wall`
stamps still give real stage latencies.

A paced run (`paced=True`, what `ivr talk` does) charges model work its measured time instead:
while work is in flight the clock advances no faster than the wall clock, and the caller's
frames keep coming meanwhile, so the bot's audio starts when a caller would really hear it.
Between turns, with nothing in flight, it still runs faster than real time.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, Mapping

from ivr.audio.frames import FRAME_BYTES, FRAME_MS, frames
from ivr.dialplan.loader import LoadedPlan
from ivr.events import Event, EventLog, ManualClock
from ivr.session.engines import Engines
from ivr.session.session import CallSession, TransferRequest

FRAME_S = FRAME_MS / 1000
SILENT = bytes(FRAME_BYTES)


@dataclass
class OfflineResult:
    """What the bot played, how the call ended, and what the session heard: `caller_audio` is
    frame-aligned with `bot_audio` (the two channels of a SIP call's stereo recording)."""

    bot_audio: bytes
    transfer: TransferRequest | None
    end_reason: str
    caller_audio: bytes = b""


@dataclass(frozen=True)
class ScriptTurn:
    """One thing a scripted caller does once the bot has finished speaking: speak `audio`
    (8 kHz PCM16, already through the phone codec) and/or press `keys`."""

    audio: bytes = b""
    keys: str = ""


class _OfflineCall:
    """Clock, frame ticks and how the call ended, shared by both drivers."""

    def __init__(self, session: CallSession, clock: ManualClock, paced: bool = False) -> None:
        self.session, self.clock, self.paced = session, clock, paced
        self._anchor: tuple[float, float] | None = None  # (wall, call time) work began at
        self.ended: list[str] = []
        self.transfers: list[TransferRequest] = []
        self.bot: list[bytes] = []
        self.caller: list[bytes] = []
        session.on_transfer = lambda r: (self.transfers.append(r), self.ended.append("transferred"))
        session.on_hangup = lambda reason: self.ended.append(f"bot_hangup:{reason}")

    async def start(self) -> None:
        self.session.start()
        if not self.paced:
            await self.session.settle()

    async def tick(self, frame: bytes, keys: str = "") -> None:
        for key in keys:
            self.session.dtmf(key)
        self.session.feed(frame)
        self.caller.append(frame)
        if self.paced:
            await self._keep_pace()
        else:
            await self.session.settle()
        bot = self.session.next_frame()
        self.session.played(bot)
        self.bot.append(bot or SILENT)
        self.clock.advance(FRAME_S)

    async def _keep_pace(self) -> None:
        """With work in flight, let this frame's 20 ms pass on the wall clock too (the work
        runs meanwhile); with none, go on at once."""
        if not self.session.working:
            self._anchor = None
            return
        if self._anchor is None:
            self._anchor = (time.perf_counter(), self.clock.now())
        wall, at = self._anchor
        await asyncio.sleep(max(0.0, wall + self.clock.now() + FRAME_S - at - time.perf_counter()))

    @property
    def bot_active(self) -> bool:
        s = self.session
        return s.bot_busy or s.transfer_pending or s.endpointer.in_speech

    async def finish(self, default_reason: str) -> OfflineResult:
        reason = self.ended[0] if self.ended else default_reason
        await self.session.close(reason)
        return OfflineResult(b"".join(self.bot), self.transfers[0] if self.transfers else None,
                             reason, b"".join(self.caller))


async def run_offline(session: CallSession, clock: ManualClock, caller_pcm: bytes,
                      max_tail_s: float = 30.0, keys: Mapping[int, str] | None = None,
                      hang_up: str | None = None, paced: bool = False) -> OfflineResult:
    """Feed `caller_pcm` (8 kHz PCM16, already through the phone codec), then silence until the
    bot has finished (or `max_tail_s`), and return what the bot played. A transfer or a hang-up
    the dialplan asks for ends the call.

    `keys` maps a frame number (20 ms each, from the greeting) to the keys pressed just before
    that frame (a recorded call's DTMF). With `hang_up` the caller hangs up, for that reason, as
    soon as `caller_pcm` is over instead of waiting for the bot. `paced`: model work takes its
    measured time on the call's clock (see the module doc)."""
    keys = keys or {}
    call = _OfflineCall(session, clock, paced)
    await call.start()
    audio = list(frames(caller_pcm))
    for number in range(max(len(audio), max(keys, default=-1) + 1)):
        await call.tick(audio[number] if number < len(audio) else SILENT, keys.get(number, ""))
        if call.ended:
            break
    if hang_up is not None and not call.ended:
        return await call.finish(hang_up)
    for _ in range(int(max_tail_s / FRAME_S)):
        if call.ended or not call.bot_active:
            break
        await call.tick(SILENT)
    return await call.finish("caller_audio_ended")


async def run_script(session: CallSession, clock: ManualClock, turns: list[ScriptTurn],
                     gap_s: float = 0.6, max_wait_s: float = 60.0,
                     end_reason: str = "script_done") -> OfflineResult:
    """A conversational caller: waits until the bot is quiet for `gap_s`, then takes its next
    turn; ends (with `end_reason`: the caller hangs up) when the script is done and the bot is
    quiet, or the bot ends the call."""
    call = _OfflineCall(session, clock)
    await call.start()
    for turn in turns:
        if not await _wait_quiet(call, gap_s, max_wait_s):
            break
        if turn.keys:
            await call.tick(SILENT, turn.keys)
        for frame in frames(turn.audio):
            await call.tick(frame)
            if call.ended:
                break
    await _wait_quiet(call, gap_s, max_wait_s)
    return await call.finish(end_reason)


async def _wait_quiet(call: _OfflineCall, gap_s: float, max_wait_s: float) -> bool:
    """Feed silence until the bot has been quiet for `gap_s`; False if the call ended."""
    quiet = 0.0
    for _ in range(int(max_wait_s / FRAME_S)):
        if call.ended:
            return False
        quiet = 0.0 if call.bot_active else quiet + FRAME_S
        if quiet >= gap_s:
            return True
        await call.tick(SILENT)
    return not call.ended


Drive = Callable[[CallSession, ManualClock], Awaitable[OfflineResult]]
"""Runs a started-to-finished call on a session in simulated time (`run_offline`, `run_script`)."""


def simulate(call_id: str, loaded: LoadedPlan, engines: Engines, drive: Drive, *,
             caller_number: str = "", now: datetime.datetime | None = None,
             events_path: Path | None = None,
             listener: Callable[[Event], None] | None = None,
             setup: Callable[[CallSession], None] | None = None
             ) -> tuple[OfflineResult, EventLog]:
    """One offline call on a fresh session and event log (written to `events_path`, replacing
    it, when given; `listener` sees each event; `setup` may adjust the session before the call
    starts): what `ivr talk`, QA replay and the recording of the replay regression calls
    share."""
    clock = ManualClock()
    if events_path is not None:
        events_path.unlink(missing_ok=True)
    events = EventLog(clock, events_path)
    if listener is not None:
        events.subscribe(listener)
    session = CallSession(call_id, loaded, engines, events, caller_number=caller_number, now=now)
    if setup is not None:
        setup(session)
    try:
        result = asyncio.run(drive(session, clock))
    finally:
        events.close()
    return result, events
