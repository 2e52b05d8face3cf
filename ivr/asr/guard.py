"""Guard against text Whisper invents on silence and noise ("Thank you.", "you")."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from ivr.text.normalize import simple_normalize

# Phrases Whisper is known to hallucinate on non-speech (subtitle-credit training data).
PHANTOM_PHRASES = frozenset({
    "thank you", "thank you very much", "thanks for watching", "thank you for watching",
    "you", "bye", "bye bye", "so", "okay", "oh", "uh", "um", "hmm", "the end",
    "please subscribe", "subtitles by the amara org community", "谢谢", "谢谢观看", "字幕",
    "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
})


def repetitive(text: str, max_compression: float = 2.4) -> bool:
    """A decoding loop ("王 王 王 ...", "语语语..."): longer than 20 characters and compressing
    better than speech does."""
    data = simple_normalize(text).encode()
    return len(data) > 20 and len(data) / len(zlib.compress(data)) > max_compression


@dataclass
class PhantomGuard:
    """Decides whether recognised text is real caller speech.

    A known phantom phrase is rejected only when the model itself doubts there was speech
    (`no_speech_prob` above `phantom_no_speech`) or its confidence is low, so a caller who really
    says "thank you" clearly is still heard.
    """

    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    phantom_no_speech: float = 0.15
    phantom_logprob: float = -0.5
    silence_dbfs: float = -50.0
    max_compression: float = 2.4  # "王 王 王 王 ..." loops compress far better than speech
    phrases: frozenset[str] = field(default=PHANTOM_PHRASES)

    def too_quiet(self, pcm: bytes) -> bool:
        """True when the utterance has no energy worth sending to the model."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        if samples.size == 0:
            return True
        rms = float(np.sqrt(np.mean(samples ** 2))) / 32768.0
        return rms <= 10 ** (self.silence_dbfs / 20)

    def reject_reason(self, text: str, no_speech_prob: float, avg_logprob: float) -> str | None:
        norm = simple_normalize(text)
        if not norm:
            return "empty"
        if no_speech_prob > self.no_speech_threshold and avg_logprob < self.logprob_threshold:
            return "no_speech"
        if repetitive(norm, self.max_compression):
            return "repetitive"
        if norm in self.phrases and (no_speech_prob > self.phantom_no_speech
                                     or avg_logprob < self.phantom_logprob):
            return "phantom_phrase"
        return None
