"""The bot's voice during QA replay: the recorded durations, without synthesising.

Replay compares what the bot decided and said (text), never how it sounded, so synthesising every
sentence again (on two cores about as slow as the audio itself) buys nothing. What the session
does need is how long each sentence plays and how loud it is: playout length decides when the
caller's words fall on a speaking bot (barge-in, backchannels, no-input timers), and the bot's
level sets the echo gate. So each sentence is, in order of preference:

1. the real audio, when the voice already has it without synthesis (the TTS disk store that the
   model service keeps warm, `ivr.tts.store`);
2. a stand-in as long as the recording says the original call played it (its `bot.say` events),
   so timings are those the caller actually met;
3. a stand-in as long as the text at the recorded call's own speaking rate (a sentence the
   original never said: a changed plan).

A stand-in is a constant signal at `STAND_IN_DBFS`, about the loudest 20 ms frame of the shipped
voices, so the echo gate (`SessionConfig.echo_margin_db` below the bot's loudest frame) stays
where real speech puts it.
"""

from __future__ import annotations

import statistics
from typing import Iterable, Iterator

import numpy as np

from ivr.audio.frames import FRAME_BYTES, PHONE_RATE
from ivr.events import Event
from ivr.tts.base import Speech, TTSEngine
from ivr.tts.sentences import split_sentences
from ivr.tts.store import DiskStore, default_root, voice_key

STAND_IN_DBFS = -10.0
"""Level of a stand-in sentence: piper's loudest frames measure -9 to -10 dBFS."""
DEFAULT_S_PER_CHAR = 0.06
"""Speaking rate when the recording has no sentence to learn it from (piper: ~0.058 s/char)."""

_AMPLITUDE = int(32768 * 10 ** (STAND_IN_DBFS / 20))
_STAND_IN_FRAME = np.tile(np.array([_AMPLITUDE, -_AMPLITUDE], "<i2"),
                          FRAME_BYTES // 4).tobytes()  # a square wave: RMS = amplitude


def recorded_durations(events: Iterable[Event]) -> dict[str, float]:
    """Seconds each sentence played in a recorded call (`bot.say` text -> audio_s)."""
    return {str(e["text"]): float(e["audio_s"]) for e in events
            if e.kind == "bot.say" and "audio_s" in e.data}


def stand_in(seconds: float) -> bytes:
    """`seconds` of stand-in audio (whole 20 ms frames, at least one)."""
    count = max(1, round(seconds * PHONE_RATE * 2 / FRAME_BYTES))
    return _STAND_IN_FRAME * count


class ReplayVoice:
    """A voice for replay: real audio only where it costs no synthesis, else a stand-in as long
    as the recording (or the text) says. Duck-types the part of `TTSEngine` a session uses."""

    name = "replay"

    def __init__(self, real: TTSEngine | None, durations: dict[str, float],
                 store: DiskStore | None = None) -> None:
        self.durations = durations
        rates = [d / len(t) for t, d in durations.items() if len(t) >= 8]
        self.s_per_char = statistics.median(rates) if rates else DEFAULT_S_PER_CHAR
        self._stored = _store_of(real, store) if real is not None else None

    def speak(self, sentence: str) -> Speech:
        """`sentence` from the disk store, else a stand-in of its recorded or estimated length
        (`source` says which: "disk", "memory" for a recorded length, "synthesis" never)."""
        if self._stored is not None:
            found = self._stored[0].get(self._stored[1], sentence)
            if found is not None and found[1] == PHONE_RATE:
                return Speech(sentence, found[0], 0.0, "disk")
        seconds = self.durations.get(sentence)
        if seconds is None:
            seconds = len(sentence) * self.s_per_char
        return Speech(sentence, stand_in(seconds), 0.0, "memory")

    def speak_all(self, text: str) -> Iterator[Speech]:
        """Sentence by sentence, as `TTSEngine.speak_all`."""
        for sentence in split_sentences(text):
            yield self.speak(sentence)


def _store_of(real: TTSEngine, store: DiskStore | None) -> tuple[DiskStore, str] | None:
    """Where `real` keeps synthesised sentences: its own store, else `store` (default: the
    default store folder, read only) under the voice's key; None when there is none."""
    if real.stored_in is not None:
        return real.stored_in
    identity = real.identity()
    if identity is None:
        return None
    store = store or DiskStore(default_root(), read_only=True)
    return (store, voice_key(identity)) if (store.root / voice_key(identity)).is_dir() else None
