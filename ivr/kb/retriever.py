"""Find the knowledge-base entry a caller's question is about, or decide there is none."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivr.kb.embedder import Embedder


@dataclass(frozen=True)
class KBEntry:
    """One answerable topic: ways callers ask it, and the approved answer per language."""

    id: str
    questions: tuple[str, ...]
    answer: dict[str, str]


@dataclass(frozen=True)
class Match:
    """`entry`: the best entry when it scores `min_score`, else None; `nearest`: the best
    entry whatever its score (None only without entries); `second`: the runner-up entry, which
    scores `runner_up` (None with fewer than two entries)."""

    entry: KBEntry | None
    score: float
    runner_up: float
    nearest: KBEntry | None = None
    second: KBEntry | None = None


class Retriever:
    """Scores a caller turn against every question variant (symmetric query-query similarity,
    which separates topics better than query-passage for short FAQ questions) and the answers.

    A match needs `min_score`: e5 similarities are compressed (unrelated text scores ~0.75-0.8),
    so the threshold is calibrated on the shipped examples, not guessed.
    """

    def __init__(self, entries: list[KBEntry], embedder: Embedder, min_score: float) -> None:
        self.entries = entries
        self.embedder = embedder
        self.min_score = min_score
        self._owner: list[int] = []
        texts: list[str] = []
        for index, entry in enumerate(entries):
            for question in entry.questions:
                texts.append(question)
                self._owner.append(index)
        self._vectors = embedder.queries(texts) if texts else np.zeros((0, 1), np.float32)

    def ranked(self, text: str) -> list[tuple[KBEntry, float]]:
        """Every entry with its score for `text`, best first (what `search` picks from)."""
        if not self.entries or not text.strip():
            return []
        vector = self.embedder.queries([text])[0]
        best = best_per_owner(self._vectors @ vector, self._owner, len(self.entries))
        return [(self.entries[i], float(best[i])) for i in np.argsort(-best, kind="stable")]

    def search(self, text: str, topics: frozenset[str] | None = None) -> Match:
        """Best entry for `text`, among `topics` (entry ids) when given."""
        if not self.entries or not text.strip():
            return Match(None, 0.0, 0.0)
        vector = self.embedder.queries([text])[0]
        best_per_entry = best_per_owner(self._vectors @ vector, self._owner, len(self.entries))
        if topics:
            best_per_entry[[e.id not in topics for e in self.entries]] = -1.0
        index, best, runner_up, second = top_two(best_per_entry)
        nearest = self.entries[index]
        return Match(nearest if best >= self.min_score else None, best, runner_up, nearest,
                     self.entries[second] if second is not None else None)


def best_per_owner(scores: np.ndarray, owners: list[int], count: int) -> np.ndarray:
    """Each of `count` owners' best score among its rows (-1 for an owner without rows)."""
    best = np.full(count, -1.0)
    np.maximum.at(best, owners, scores)
    return best


def top_two(best: np.ndarray) -> tuple[int, float, float, int | None]:
    """(index of the best, its score, the runner-up's score or 0 when there is none, the
    runner-up's index or None)."""
    order = np.argsort(best)[::-1]
    if len(order) < 2:
        return int(order[0]), float(best[order[0]]), 0.0, None
    return int(order[0]), float(best[order[0]]), float(best[order[1]]), int(order[1])
