"""ASR interface: one method to implement; the public wrapper adds timing and the phantom guard."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ivr.asr.guard import PhantomGuard


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard in one caller utterance.

    `rejected` names why the guard threw the text away (the caller said nothing usable);
    `text` is then empty and `raw_text` keeps what the model produced, for QA.
    """

    text: str
    language: str
    no_speech_prob: float
    avg_logprob: float
    audio_s: float
    compute_s: float
    raw_text: str = ""
    rejected: str | None = None

    @property
    def rtf(self) -> float:
        return self.compute_s / self.audio_s if self.audio_s else 0.0


@dataclass(frozen=True)
class Word:
    """One recognised word and where it lies in the audio (seconds from its start)."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Hypothesis:
    """Raw model output before the guard."""

    text: str
    language: str
    no_speech_prob: float
    avg_logprob: float


class ASREngine(ABC):
    """Speech to text for 8 kHz (or any rate) PCM16 mono utterances."""

    name = "asr"
    # Whether `transcribe(..., careful=True)` decodes differently (and slower): a second reading
    # of a turn whose first one did not fit what the dialog waited for.
    careful_decoding = False

    def __init__(self, guard: PhantomGuard | None = None) -> None:
        self.guard = guard or PhantomGuard()

    def transcribe(self, pcm: bytes, rate: int, languages: tuple[str, ...] = (),
                   careful: bool = False) -> Transcript:
        """Recognise one utterance. `languages`: one fixes it, several restrict detection to them.
        `careful`: the engine's slower, more thorough decoding, where it has one."""
        audio_s = len(pcm) / 2 / rate
        started = time.perf_counter()
        quiet = self.guard.too_quiet(pcm)
        hyp = Hypothesis("", languages[0] if languages else "", 1.0, 0.0) if quiet \
            else self._transcribe_impl(pcm, rate, languages, careful)
        compute_s = time.perf_counter() - started
        reason = "silence" if quiet else self.guard.reject_reason(hyp.text, hyp.no_speech_prob, hyp.avg_logprob)
        return Transcript(text="" if reason else hyp.text.strip(), language=hyp.language,
                          no_speech_prob=hyp.no_speech_prob, avg_logprob=hyp.avg_logprob,
                          audio_s=audio_s, compute_s=compute_s, raw_text=hyp.text.strip(),
                          rejected=reason)

    @abstractmethod
    def _transcribe_impl(self, pcm: bytes, rate: int, languages: tuple[str, ...],
                         careful: bool = False) -> Hypothesis:
        """Run the model on one utterance."""
