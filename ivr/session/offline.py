"""Offline drivers: recorded or scripted callers through a session in simulated time.

Frames advance a manual clock 20 ms at a time and the driver waits for model work to finish
before the next frame, so a run is deterministic and faster than real time, while event `wall`
stamps still give real stage latencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.audio.frames import FRAME_BYTES, FRAME_MS, frames
from ivr.events import ManualClock
from ivr.session.session import CallSession, TransferRequest

FRAME_S = FRAME_MS / 1000
SILENT = bytes(FRAME_BYTES)


@dataclass
class OfflineResult:
    bot_audio: bytes
    transfer: TransferRequest | None
    end_reason: str


@dataclass(frozen=True)
class ScriptTurn:
    """One thing a scripted caller does once the bot has finished speaking: speak `audio`
    (8 kHz PCM16, already through the phone codec) and/or press `keys`."""

    audio: bytes = b""
    keys: str = ""


class _OfflineCall:
    """Clock, frame ticks and how the call ended, shared by both drivers."""

    def __init__(self, session: CallSession, clock: ManualClock) -> None:
        self.session, self.clock = session, clock
        self.ended: list[str] = []
        self.transfers: list[TransferRequest] = []
        self.bot: list[bytes] = []
        session.on_transfer = lambda r: (self.transfers.append(r), self.ended.append("transferred"))
        session.on_hangup = lambda reason: self.ended.append(f"bot_hangup:{reason}")

    async def start(self) -> None:
        self.session.start()
        await self.session.settle()

    async def tick(self, frame: bytes, keys: str = "") -> None:
        for key in keys:
            self.session.dtmf(key)
        self.session.feed(frame)
        await self.session.settle()
        self.bot.append(self.session.next_frame() or SILENT)
        self.clock.advance(FRAME_S)

    @property
    def bot_active(self) -> bool:
        s = self.session
        return s.bot_busy or s.transfer_pending or s.endpointer.in_speech

    async def finish(self, default_reason: str) -> OfflineResult:
        reason = self.ended[0] if self.ended else default_reason
        await self.session.close(reason)
        return OfflineResult(b"".join(self.bot), self.transfers[0] if self.transfers else None,
                             reason)


async def run_offline(session: CallSession, clock: ManualClock, caller_pcm: bytes,
                      max_tail_s: float = 30.0) -> OfflineResult:
    """Feed `caller_pcm` (8 kHz PCM16, already through the phone codec), then silence until the
    bot has finished (or `max_tail_s`), and return what the bot played. A transfer or a hang-up
    the dialplan asks for ends the call."""
    call = _OfflineCall(session, clock)
    await call.start()
    for frame in frames(caller_pcm):
        await call.tick(frame)
        if call.ended:
            break
    for _ in range(int(max_tail_s / FRAME_S)):
        if call.ended or not call.bot_active:
            break
        await call.tick(SILENT)
    return await call.finish("caller_audio_ended")


async def run_script(session: CallSession, clock: ManualClock, turns: list[ScriptTurn],
                     gap_s: float = 0.6, max_wait_s: float = 60.0) -> OfflineResult:
    """A conversational caller: waits until the bot is quiet for `gap_s`, then takes its next
    turn; ends when the script is done and the bot is quiet, or the bot ends the call."""
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
    return await call.finish("script_done")


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
