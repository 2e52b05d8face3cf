"""Okapi BM25 over passages: the lexical half of document retrieval (rare words, codes, names
that embeddings blur)."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from ivr.text.normalize import CJK_CHARS, STOPWORDS, is_cjk, stem, to_simplified

_TERM = re.compile(rf"[{CJK_CHARS}]|[^\W_{CJK_CHARS}]+")


def terms(text: str) -> list[str]:
    """Index terms: English word stems without stop words (codes such as "E2011" kept whole);
    Chinese characters and character pairs (no word boundaries to rely on)."""
    out: list[str] = []
    previous = ""
    for match in _TERM.finditer(to_simplified(text.lower())):
        word = match.group(0)
        if is_cjk(word):
            out += [word, previous + word] if previous else [word]
            previous = word
            continue
        previous = ""
        if word not in STOPWORDS:
            out.append(stem(word))
    return out


class BM25:
    """Scores every passage for a query (k1, b: the usual Okapi constants)."""

    def __init__(self, passages: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._counts = [Counter(terms(p)) for p in passages]
        lengths = np.array([sum(c.values()) for c in self._counts], dtype=np.float64)
        self._norm = k1 * (1 - b + b * lengths / max(lengths.mean(), 1.0)) if len(lengths) \
            else lengths
        df = Counter(term for counts in self._counts for term in counts)
        n = len(passages)
        self._idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def scores(self, query: str) -> np.ndarray:
        """One score per passage (0 where no query term occurs)."""
        out = np.zeros(len(self._counts))
        for term in set(terms(query)):
            idf = self._idf.get(term)
            if idf is None:
                continue
            tf = np.array([counts.get(term, 0) for counts in self._counts], dtype=np.float64)
            out += idf * tf * (self.k1 + 1) / (tf + self._norm)
        return out
