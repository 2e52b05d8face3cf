"""The learned second net: a softmax head over the multilingual e5 sentence embeddings the
product already ships, trained by `python -m ivr.safety.train` on `training/*.tsv` and shipped
as data (`model/guard_head.npz`: weights, bias, classes, the per-class thresholds calibrated on
the development set, and the sha256 of the training data).

Keyword lists miss how people describe emergencies ("dad's lips are blue and he's gasping");
the net hears meaning, in English and Chinese alike, on interim and final text. It runs beside
the lexicon, never instead of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ivr.kb.embedder import Embedder

__all__ = ["NET_CLASSES", "HEAD_PATH", "Head", "SemanticNet", "load_head"]

NET_CLASSES = ("emergency", "self_harm", "human", "angry", "frustrated", "neutral")
HEAD_PATH = Path(__file__).parent / "model" / "guard_head.npz"


@dataclass(frozen=True)
class Head:
    """A softmax layer: probabilities = softmax(W x + b) for an L2-normalised embedding x."""

    classes: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    thresholds: dict[str, float]
    training_sha256: str

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities, one row per embedding."""
        logits = np.atleast_2d(vectors) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(self.thresholds)
        np.savez_compressed(path, classes=np.array(self.classes), weights=self.weights,
                            bias=self.bias, threshold_names=np.array(names),
                            threshold_values=np.array([self.thresholds[n] for n in names]),
                            training_sha256=np.array(self.training_sha256))


@lru_cache(maxsize=4)
def load_head(path: Path = HEAD_PATH) -> Head:
    """The shipped head (read once per process)."""
    with np.load(path) as data:
        thresholds = dict(zip((str(n) for n in data["threshold_names"]),
                              (float(v) for v in data["threshold_values"])))
        return Head(tuple(str(c) for c in data["classes"]), data["weights"], data["bias"],
                    thresholds, str(data["training_sha256"]))


class SemanticNet:
    """Class probabilities of caller text. Give it a `CachingEmbedder` so the interim, final
    and interjection checks of one utterance (and the knowledge-base search) embed it once."""

    def __init__(self, embedder: Embedder, head: Head | None = None) -> None:
        self.embedder = embedder
        self.head = head or load_head()

    def scores(self, text: str) -> dict[str, float]:
        """{class: probability} for `text` (all zero for empty text)."""
        if not text.strip():
            return {c: 0.0 for c in self.head.classes}
        probs = self.head.probabilities(self.embedder.queries([text]))[0]
        return {c: float(p) for c, p in zip(self.head.classes, probs)}

    def threshold(self, name: str) -> float:
        """The calibrated threshold for `name` (urgent, human, angry, frustrated)."""
        return self.head.thresholds[name]
