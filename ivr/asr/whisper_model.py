"""faster-whisper's model with each turn's audio encoded once, and the language chosen among
those a plan allows.

Choosing the language of a turn needs the encoder's output, and so does decoding it; faster-
whisper computes it twice (once in `detect_language`, once in `transcribe`). A phone turn fits
in one 30 s window, whose encoding is most of a short turn's compute, so `OneEncodeWhisperModel`
keeps the last window it encoded (per thread) and hands it back when the same features come
again. Same features give the same output, so the memo can never be stale.
"""

from __future__ import annotations

import threading

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim


class OneEncodeWhisperModel(WhisperModel):
    """A `WhisperModel` whose `encode` returns the previous result for identical features."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._last = threading.local()

    def encode(self, features: np.ndarray):
        last = getattr(self._last, "pair", None)
        if last is not None and last[0].shape == features.shape and np.array_equal(last[0],
                                                                                  features):
            return last[1]
        output = super().encode(features)
        self._last.pair = (features, output)
        return output

    def language_probs(self, audio: np.ndarray) -> dict[str, float]:
        """Language probabilities of the first 30 s of `audio` (16 kHz float), from the very
        window `transcribe` decodes first (so its encoding is reused there)."""
        features = self.feature_extractor(audio)
        window = pad_or_trim(features[:, :max(features.shape[-1] - 1, 1)])
        results = self.model.detect_language(self.encode(window))[0]
        return {token[2:-2]: prob for token, prob in results}


def choose_language(probs: dict[str, float], allowed: tuple[str, ...],
                    switch_min_prob: float | None) -> str:
    """The turn's language among `allowed` (the plan's, main one first).

    `switch_min_prob` None: the most likely allowed language. Otherwise the main language is kept
    unless another allowed one is at least this likely: a short Mandarin answer ("是的") is often
    scored as English by whisper, while a caller who really speaks English scores it high."""
    if not allowed:
        return max(probs, key=probs.get) if probs else "en"
    scored = sorted(((probs.get(lang, 0.0), lang) for lang in allowed), reverse=True)
    if switch_min_prob is None:
        return scored[0][1]
    main = allowed[0]
    other = next(((p, lang) for p, lang in scored if lang != main), None)
    return other[1] if other is not None and other[0] >= switch_min_prob else main
