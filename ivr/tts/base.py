"""TTS interface: text in, 8 kHz PCM16 out, one sentence at a time.

A sentence is looked up in memory, then in the disk store (`ivr.tts.store`, when one is
attached), and only then synthesised; a synthesised sentence goes to both.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator, Literal

from ivr import metrics
from ivr.audio.frames import PHONE_RATE
from ivr.audio.resample import resample
from ivr.tts.sentences import split_sentences
from ivr.tts.store import DiskStore, voice_key

Source = Literal["memory", "disk", "synthesis"]


@dataclass(frozen=True)
class Speech:
    """Synthesised audio of one sentence at the phone rate."""

    text: str
    pcm: bytes
    compute_s: float
    source: Source = "synthesis"  # where the audio came from

    @property
    def audio_s(self) -> float:
        return len(self.pcm) / 2 / PHONE_RATE


REMEMBERED_SENTENCES = 512


class TTSEngine(ABC):
    """A voice. Implementations return PCM16 mono at their native rate; this class resamples once.

    The last `REMEMBERED_SENTENCES` sentences are kept: greetings, menus and approved answers
    repeat on every call, and a neural voice on two cores takes about as long as the audio."""

    name = "tts"

    def identity(self) -> dict[str, object] | None:
        """Everything that shapes this voice's audio (engine, model file hashes, voice, speed,
        library version), the disk store's key; None: never stored on disk."""
        return None

    def attach_store(self, store: DiskStore | None, key: str | None = None) -> None:
        """Keep synthesised sentences in `store` (None: memory only) under this voice's key
        (`key`: a key known otherwise, e.g. from the model service that owns the voice)."""
        if store is not None and key is None:
            identity = self.identity()
            key = voice_key(identity) if identity is not None else None
        self.__dict__["_disk"] = (store, key) if store is not None and key else None

    @property
    def stored_in(self) -> tuple[DiskStore, str] | None:
        """The disk store and this voice's key (its folder) there; None without one."""
        return self.__dict__.get("_disk")

    def speak(self, sentence: str) -> Speech:
        """One sentence at 8 kHz: from memory (`compute_s` 0), from the disk store, or
        synthesised (and then remembered in both)."""
        memory, lock = self._memory()
        with lock:
            known = memory.get(sentence)
            if known is not None:
                memory.move_to_end(sentence)
        metrics.TTS_CACHE.labels("memory", "hit" if known is not None else "miss").inc()
        if known is not None:
            return Speech(sentence, known, 0.0, "memory")
        started = time.perf_counter()
        pcm, source = self._fetch(sentence)
        self._remember(sentence, pcm)
        return Speech(sentence, pcm, time.perf_counter() - started, source)

    def _fetch(self, sentence: str) -> tuple[bytes, Source]:
        """A sentence not in memory: from the disk store, else synthesised (and stored)."""
        disk = self.__dict__.get("_disk")
        stored = disk[0].get(disk[1], sentence) if disk else None
        if disk:
            metrics.TTS_CACHE.labels("disk", "hit" if stored is not None else "miss").inc()
        if stored is not None:
            pcm, rate = stored
            return (pcm if rate == PHONE_RATE else resample(pcm, rate, PHONE_RATE)), "disk"
        pcm, source = self._produce(sentence)
        if disk:
            disk[0].put(disk[1], sentence, pcm, PHONE_RATE)
        return pcm, source

    def _produce(self, sentence: str) -> tuple[bytes, Source]:
        """A sentence in neither memory nor the disk store: synthesised at 8 kHz."""
        pcm, rate = self._synthesize_impl(sentence)
        return resample(pcm, rate, PHONE_RATE), "synthesis"

    def forget(self) -> None:
        """Drop the sentences held in memory (the disk store keeps its own)."""
        memory, lock = self._memory()
        with lock:
            memory.clear()

    def _remember(self, sentence: str, pcm: bytes) -> None:
        memory, lock = self._memory()
        with lock:
            memory[sentence] = pcm
            while len(memory) > REMEMBERED_SENTENCES:
                memory.popitem(last=False)

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
