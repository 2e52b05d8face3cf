"""The learned second net over the multilingual e5 sentence embeddings the product already
ships, trained by `python -m ivr.safety.train` on `training/*.tsv` and shipped as data
(`model/guard_head.npz`: weights, bias, classes, the training turns' embeddings and labels, the
n-gram layer, the per-class thresholds calibrated on the development sets, and the sha256 of the
training data).

Its probabilities blend three voices: a softmax layer over the embedding and the votes of the
nearest training turns (k nearest by cosine, weighted by similarity, class-balanced), in equal
parts, with a softmax layer over the text's hashed word and character n-grams
(`ivr.safety.ngrams`) at `NGRAM_WEIGHT`. The embedding layer draws one straight line per class
through the embedding space, the neighbours keep the local exceptions it smooths over ("I don't
need a person" near requests for one), the n-grams keep the wording the embedding blurs. On a development set none was fit on, each blend
caught more urgent turns at the same calm false-alarm rate than its parts.

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
from ivr.safety.ngrams import NgramLayer, softmax

__all__ = ["NET_CLASSES", "HEAD_PATH", "Head", "SemanticNet", "load_head"]

NET_CLASSES = ("emergency", "self_harm", "human", "angry", "frustrated", "neutral")
HEAD_PATH = Path(__file__).parent / "model" / "guard_head.npz"


NEIGHBOURS = 10
NEIGHBOUR_TEMPERATURE = 0.05   # similarity differences of 0.05 weigh e times more
NGRAM_WEIGHT = 0.25            # the n-gram voice's share; the embedding's two voices share the rest


@dataclass(frozen=True)
class Head:
    """A softmax layer, softmax(W x + b) for an L2-normalised embedding x, averaged with the
    class-balanced votes of the `NEIGHBOURS` nearest `memory` rows (the training turns'
    embeddings, labelled by `memory_labels`) when a memory is given, and with the `ngrams` layer
    over the texts when one is given."""

    classes: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    thresholds: dict[str, float]
    training_sha256: str
    memory: np.ndarray | None = None
    memory_labels: np.ndarray | None = None
    ngrams: NgramLayer | None = None

    def probabilities(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text and its embedding."""
        vectors = np.atleast_2d(vectors)
        voices = [softmax(vectors @ self.weights.T + self.bias)]
        if self.memory is not None and self.memory_labels is not None:
            voices.append(self._neighbour_votes(vectors))
        meaning = sum(voices) / len(voices)
        if self.ngrams is None:
            return meaning
        return (1 - NGRAM_WEIGHT) * meaning + NGRAM_WEIGHT * self.ngrams.probabilities(texts)

    def _neighbour_votes(self, vectors: np.ndarray) -> np.ndarray:
        similarity = vectors @ self.memory.T
        k = min(NEIGHBOURS, similarity.shape[1] - 1)
        nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
        close = np.take_along_axis(similarity, nearest, axis=1)
        weight = np.exp((close - close.max(axis=1, keepdims=True)) / NEIGHBOUR_TEMPERATURE)
        votes = np.zeros((len(vectors), len(self.classes)))
        for row in range(len(vectors)):
            np.add.at(votes[row], self.memory_labels[nearest[row]], weight[row])
        counts = np.bincount(self.memory_labels, minlength=len(self.classes)).astype(float)
        votes *= counts.mean() / np.maximum(counts, 1)    # a big class is no likelier neighbour
        return votes / votes.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(self.thresholds)
        extra = {} if self.memory is None else {
            "memory": self.memory.astype(np.float16), "memory_labels": self.memory_labels}
        if self.ngrams is not None:
            extra.update(ngram_weights=self.ngrams.weights.astype(np.float16),
                          ngram_bias=self.ngrams.bias)
        np.savez_compressed(path, classes=np.array(self.classes), weights=self.weights,
                            bias=self.bias, threshold_names=np.array(names),
                            threshold_values=np.array([self.thresholds[n] for n in names]),
                            training_sha256=np.array(self.training_sha256), **extra)


@lru_cache(maxsize=4)
def load_head(path: Path = HEAD_PATH) -> Head:
    """The shipped head (read once per process)."""
    with np.load(path) as data:
        thresholds = dict(zip((str(n) for n in data["threshold_names"]),
                              (float(v) for v in data["threshold_values"])))
        memory = ((data["memory"].astype(np.float32), data["memory_labels"].astype(np.intp))
                  if "memory" in data else (None, None))
        ngrams = (NgramLayer(data["ngram_weights"], data["ngram_bias"])
                  if "ngram_weights" in data else None)
        return Head(tuple(str(c) for c in data["classes"]), data["weights"], data["bias"],
                    thresholds, str(data["training_sha256"]), *memory, ngrams)


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
        probs = self.head.probabilities(self.embedder.queries([text]), [text])[0]
        return {c: float(p) for c, p in zip(self.head.classes, probs)}

    def threshold(self, name: str) -> float:
        """The calibrated threshold for `name` (urgent, human, angry, frustrated)."""
        return self.head.thresholds[name]

    def thresholds(self) -> dict[str, float]:
        """Every calibrated threshold, including the optional lexicon vetoes (urgent_veto,
        human_veto) that a head trained before them lacks."""
        return self.head.thresholds
