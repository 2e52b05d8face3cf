"""Offline driver: play recorded caller audio through a session in simulated time.

Frames advance a manual clock 20 ms at a time and the driver waits for model work to finish
before the next frame, so a run is deterministic and faster than real time, while event `wall`
stamps still give real stage latencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.audio.frames import FRAME_BYTES, FRAME_MS, frames
from ivr.events import ManualClock
from ivr.session.session import CallSession, TransferRequest

FRAME_S = FRAME_MS / 1000


@dataclass
class OfflineResult:
    bot_audio: bytes
    transfer: TransferRequest | None
    end_reason: str
    caller_frames: int = 0
    extra: dict = field(default_factory=dict)


async def run_offline(session: CallSession, clock: ManualClock, caller_pcm: bytes,
                      max_tail_s: float = 30.0) -> OfflineResult:
    """Feed `caller_pcm` (8 kHz PCM16, already through the phone codec), then silence until the
    bot has finished (or `max_tail_s`), and return what the bot played."""
    transferred: list[TransferRequest] = []
    session.on_transfer = transferred.append
    bot: list[bytes] = []

    async def tick(frame: bytes) -> None:
        session.feed(frame)
        await session.settle()
        bot.append(session.next_frame() or bytes(FRAME_BYTES))
        clock.advance(FRAME_S)

    session.start()
    await session.settle()
    caller = list(frames(caller_pcm))
    for frame in caller:
        await tick(frame)
        if transferred:
            break
    silent, tail_frames = bytes(FRAME_BYTES), int(max_tail_s / FRAME_S)
    for _ in range(tail_frames):
        if transferred or not (session.bot_busy or session.transfer_pending
                                   or session.endpointer.in_speech):
            break
        await tick(silent)
    reason = "transferred" if transferred else "caller_audio_ended"
    await session.close(reason)
    return OfflineResult(b"".join(bot), transferred[0] if transferred else None, reason,
                         caller_frames=len(caller))
