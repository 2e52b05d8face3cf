"""The guard net's third voice: a softmax layer over the words, word pairs and character 2-4-grams
of the normalised caller text, hashed into `BUCKETS` columns.

The e5 embedding hears meaning but blurs wording: "it's getting tiresome" and "I'm tired of
living" sit close. Surface n-grams keep what the embedding smooths over, and Chinese character
n-grams work without word boundaries. Alone the n-grams are weaker than the embedding; averaged
with it they caught more urgent turns at the same calm false-alarm rate on a development set
that neither was fit on (see README, hand-off guards).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ivr.text.normalize import normalize_text

__all__ = ["BUCKETS", "NgramLayer", "NgramRows", "features", "softmax"]

BUCKETS = 1 << 18
CHAR_GRAMS = (2, 3, 4)


def features(text: str) -> np.ndarray:
    """The distinct hashed n-gram columns of `text` (crc32: the same in every process)."""
    norm = normalize_text(text)
    words = norm.split()
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    padded = f" {norm} "
    grams += [f"c:{padded[i:i + n]}" for n in CHAR_GRAMS for i in range(len(padded) - n + 1)
              if padded[i:i + n].strip()]
    return np.unique(np.array([zlib.crc32(g.encode()) % BUCKETS for g in grams], np.int64))


class NgramRows:
    """A batch of texts as a sparse matrix of their n-grams, each row of unit length (what the
    layer multiplies, and what training fits it on)."""

    def __init__(self, texts: list[str]) -> None:
        columns = [features(t) for t in texts]
        self.count = len(texts)
        self.rows = np.repeat(np.arange(len(texts)), [len(c) for c in columns])
        self.columns = np.concatenate(columns) if columns else np.zeros(0, np.int64)
        self.values = np.concatenate([np.full(len(c), 1 / np.sqrt(max(len(c), 1)))
                                      for c in columns]) if columns else np.zeros(0)

    def times(self, weights: np.ndarray) -> np.ndarray:
        """(texts, classes): each row times `weights.T`."""
        parts = weights[:, self.columns].T * self.values[:, None]
        return np.stack([np.bincount(self.rows, weights=parts[:, k], minlength=self.count)
                         for k in range(weights.shape[0])], axis=1)

    def transposed_times(self, errors: np.ndarray) -> np.ndarray:
        """(classes, BUCKETS): the gradient of the weights for per-row `errors`."""
        parts = errors[self.rows] * self.values[:, None]
        return np.stack([np.bincount(self.columns, weights=parts[:, k], minlength=BUCKETS)
                         for k in range(errors.shape[1])])


@dataclass(frozen=True)
class NgramLayer:
    """softmax(W x + b) over the hashed n-grams x of a text."""

    weights: np.ndarray   # (classes, BUCKETS)
    bias: np.ndarray      # (classes,)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text."""
        logits = NgramRows(texts).times(self.weights) + self.bias
        return softmax(logits)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)
