"""TTS interface: text in, 8 kHz PCM16 out, one sentence at a time."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
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


REMEMBERED_SENTENCES = 512


class TTSEngine(ABC):
    """A voice. Implementations return PCM16 mono at their native rate; this class resamples once.

    The last `REMEMBERED_SENTENCES` sentences are kept: greetings, menus and approved answers
    repeat on every call, and a neural voice on two cores takes about as long as the audio."""

    name = "tts"

    def speak(self, sentence: str) -> Speech:
        """Synthesise one sentence at 8 kHz (or return it from memory, `compute_s` 0)."""
        memory, lock = self._memory()
        with lock:
            known = memory.get(sentence)
            if known is not None:
                memory.move_to_end(sentence)
                return Speech(sentence, known, 0.0)
        started = time.perf_counter()
        pcm, rate = self._synthesize_impl(sentence)
        pcm = resample(pcm, rate, PHONE_RATE)
        with lock:
            memory[sentence] = pcm
            while len(memory) > REMEMBERED_SENTENCES:
                memory.popitem(last=False)
        return Speech(sentence, pcm, time.perf_counter() - started)

    def _memory(self) -> tuple[OrderedDict[str, bytes], threading.Lock]:
        # Created on first use: engines do not call a base __init__.
        if "_spoken" not in self.__dict__:
            self.__dict__.setdefault("_spoken", (OrderedDict(), threading.Lock()))
        return self.__dict__["_spoken"]

    def speak_all(self, text: str) -> Iterator[Speech]:
        """Sentence by sentence, so playout can start after the first."""
        for sentence in split_sentences(text):
            yield self.speak(sentence)

    @abstractmethod
    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        """PCM16 mono bytes and their sample rate."""
