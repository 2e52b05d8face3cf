"""The bot must not interrupt itself on its own echo: its audio comes back down the line about
20 dB quieter and ~60 ms late, mixed with whatever the caller says."""

from __future__ import annotations

import asyncio

import numpy as np

from ivr.audio.frames import FRAME_BYTES, frames
from ivr.audio.g711 import phone_line
from ivr.events import EventLog, ManualClock
from ivr.session.session import CallSession

from conftest import transcribe, words

ECHO_DELAY_FRAMES = 3   # 60 ms
ECHO_GAIN = 0.1         # -20 dB


def echo_call(engines, plan, caller_pcm: bytes, seconds: float = 12.0):
    """A call whose line returns the bot's own audio (delayed, attenuated) on top of the caller."""
    clock = ManualClock()
    events = EventLog(clock)
    session = CallSession("echo", plan, engines, events)
    caller = list(frames(caller_pcm))
    bot: list[bytes] = []

    async def run():
        session.start()
        await session.settle()
        for i in range(int(seconds / 0.02)):
            mine = np.frombuffer(caller[i] if i < len(caller) else bytes(FRAME_BYTES), "<i2")
            echoed = (np.frombuffer(bot[i - ECHO_DELAY_FRAMES], "<i2")
                      if i >= ECHO_DELAY_FRAMES else np.zeros(FRAME_BYTES // 2))
            line = np.clip(mine.astype(np.float32) + ECHO_GAIN * echoed, -32768, 32767)
            session.feed(phone_line(line.astype("<i2").tobytes()))
            await session.settle()
            bot.append(session.next_frame() or bytes(FRAME_BYTES))
            clock.advance(0.02)
        await session.close("test")

    asyncio.run(run())
    return b"".join(bot), events


def test_echo_alone_never_barges_in(engines, demo_plan):
    bot, events = echo_call(engines, demo_plan, b"")
    assert not events.of_kind("barge_in") and not events.of_kind("speech.start")
    assert {"reached", "mobile", "help"} <= words(transcribe(engines, bot[:8000 * 2 * 5]))


def test_a_caller_talking_over_the_echo_still_barges_in(engines, demo_plan, voice_en):
    from ivr.qa.synth import synth_caller

    caller = synth_caller(voice_en, [(1.0, "I lost my phone yesterday.")])
    _, events = echo_call(engines, demo_plan, caller)
    assert len(events.of_kind("barge_in")) == 1
    decision = next(e.data for e in events.of_kind("dialog.decision") if e.data.get("entry"))
    assert decision["entry"] == "lost_phone"
