"""faster-whisper's model with each turn's audio encoded once, and the language chosen among
those a plan allows.

Choosing the language of a turn needs the encoder's output, and so does decoding it; faster-
whisper computes it twice (once in `detect_language`, once in `transcribe`). A phone turn fits
in one 30 s window, whose encoding is most of a short turn's compute, so `OneEncodeWhisperModel`
keeps the last window it encoded (per thread) and hands it back when the same features come
again. Same features give the same output, so the memo can never be stale.

It also encodes a shorter window than whisper's 30 s when asked (`window_s`): faster-whisper pads
every turn's features to 30 s, and on two cores encoding that padding is most of a turn's
recognition. The encoder accepts fewer frames (CTranslate2 checks only the maximum); the
decoder then attends to the turn and at least `window_s` seconds of window. Measured on piper
and Kokoro callers through G.711 (`ivr bench asr-en`, `ivr bench asr-zh`; `--asr window_s=30`
for the full window), 10 s costs a third of the compute for English WER 6.7 -> 7.0 % and about
a point of Mandarin CER; at 8 s and below whisper loses the end of short turns and repeats
itself ("chest pain ... chest pain ..."), which is why a decode that loops is done again on the
full window (`WhisperASR`).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim


FULL_WINDOW_FRAMES = 3000       # whisper's 30 s, 100 mel frames a second
WINDOW_MARGIN_FRAMES = 100      # a turn longer than the window gets 1 s of padding after it


class OneEncodeWhisperModel(WhisperModel):
    """A `WhisperModel` whose `encode` returns the previous result for identical features, and
    encodes `window_s` seconds (or the turn and 1 s, if longer) instead of 30 s."""

    def __init__(self, *args, window_s: float = 30.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._last = threading.local()
        self._window = threading.local()
        self.window_frames = min(FULL_WINDOW_FRAMES, max(1, round(window_s * 100)))

    @property
    def shortened(self) -> bool:
        """Whether turns are encoded on less than whisper's 30 s window."""
        return self.window_frames < FULL_WINDOW_FRAMES

    @contextlib.contextmanager
    def full_window(self) -> Iterator[None]:
        """Encode whisper's whole 30 s window in this thread while inside."""
        self._window.full = True
        try:
            yield
        finally:
            self._window.full = False

    def _windowed(self, features: np.ndarray) -> np.ndarray:
        """`features` without the zero padding `pad_or_trim` added beyond the window. (Log-mel
        frames of audio, silence included, are never all exactly zero.)"""
        total = features.shape[-1]
        if self.window_frames >= total or getattr(self._window, "full", False):
            return features
        columns = np.flatnonzero(np.abs(features).reshape(-1, total).max(axis=0) > 0)
        content = int(columns[-1]) + 1 if columns.size else 1
        frames = max(self.window_frames, -(-(content + WINDOW_MARGIN_FRAMES) // 100) * 100)
        return features if frames >= total else np.ascontiguousarray(features[..., :frames])

    def encode(self, features: np.ndarray):
        features = self._windowed(features)
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
