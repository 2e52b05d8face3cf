"""TTS interface: text in, 8 kHz PCM16 out, one sentence at a time."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator

from ivr.audio.frames import PHONE_RATE
from ivr.audio.resample import resample
from ivr.tts.sentences import split_sentences


@dataclass(frozen=True)
class Speech:
    """Synthesised audio of one sentence at the phone rate."""

    text: str
    pcm: bytes
    compute_s: float

    @property
    def audio_s(self) -> float:
        return len(self.pcm) / 2 / PHONE_RATE


class TTSEngine(ABC):
    """A voice. Implementations return PCM16 mono at their native rate; this class resamples once."""

    name = "tts"

    def speak(self, sentence: str) -> Speech:
        """Synthesise one sentence at 8 kHz."""
        started = time.perf_counter()
        pcm, rate = self._synthesize_impl(sentence)
        pcm = resample(pcm, rate, PHONE_RATE)
        return Speech(sentence, pcm, time.perf_counter() - started)

    def speak_all(self, text: str) -> Iterator[Speech]:
        """Sentence by sentence, so playout can start after the first."""
        for sentence in split_sentences(text):
            yield self.speak(sentence)

    @abstractmethod
    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        """PCM16 mono bytes and their sample rate."""
