"""ASR interface: one method to implement; the public wrapper adds timing, the corrections every
recogniser's Mandarin needs (`question_particle`) and the phantom guard. Being in the wrapper,
they apply to cached recognitions too (`ivr.qa.replay_asr`)."""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

from ivr.asr.guard import PhantomGuard

_SCOLDED = "挨被别又在要会敢就想该欠找讨对互谩怒大痛辱叫咒责打"
"""Characters that make a turn-final 骂 the verb "scold" (挨骂, 别骂, 辱骂...), not a question."""
_MEANING_TO = "要想去来会敢"
"""Words of intent in the same clause ("我要在网上骂"): the 骂 may be meant."""
_FINAL_MA = re.compile(rf"(?<=[^{_SCOLDED}\s，,。])骂[\s。？?！!]*$")


def question_particle(text: str) -> str:
    """Whisper writes the question particle 吗 (ma) as 骂 (mà, "to scold") at the end of a
    Mandarin question ("请问你们周末开门骂。"), which the guard reads as anger at the caller's
    first words. A turn that ends in 骂 with nobody scolded there (no object after it, none of
    挨骂, 别骂, 辱骂..., no intent such as 要 or 想 in its last clause) ends in 吗 and a question
    mark; callers who scold mostly say whom (骂你们, 骂人)."""
    match = _FINAL_MA.search(text)
    if match is None:
        return text
    clause = re.split(r"[，,。！!？?]", text[:match.start()])[-1]
    return text if any(ch in clause for ch in _MEANING_TO) else text[:match.start()] + "吗？"


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
        if hyp.language == "zh":
            hyp = replace(hyp, text=question_particle(hyp.text))
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
