"""Hybrid passage retrieval over a plan's documents: BM25 and e5 rankings fused.

Reciprocal rank fusion (1 / (60 + rank) summed over both rankings) orders the passages, so a
rare word or error code (BM25) and a paraphrase or a question in another language (e5) both
find their passage. Whether the documents answer at all is decided on the e5 similarity of the
best passage, which, unlike fused ranks, is comparable across questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ivr.kb.bm25 import BM25
from ivr.kb.documents import Chunk, approx_tokens, codes
from ivr.kb.embedder import Embedder
from ivr.dialplan.loader import LoadedPlan
from ivr.kb.index import DocumentIndex, build_index
from ivr.kb.quote import Quote, Quoter
from ivr.text.normalize import has_cjk

RRF_K = 60
RECENT_SEARCHES = 32

_DIGIT_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
                "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_DIGIT = r"(?:\d+|" + "|".join(_DIGIT_WORDS) + r")"
# a letter (not the words "a" and "I") and three digits or more said one by one
_SPOKEN_CODE = re.compile(rf"\b(?![ai]\b)([a-z])((?:[\s-]+{_DIGIT}\b){{3,}})", re.IGNORECASE)


@dataclass(frozen=True)
class Passage:
    """A retrieved passage with its scores."""

    chunk: Chunk
    similarity: float
    bm25: float
    fused: float

    def evidence(self) -> dict:
        """For the dialog decision event: where the passage is and how it scored."""
        return {"document": self.chunk.source, "heading": " > ".join(self.chunk.headings),
                "similarity": round(self.similarity, 3), "bm25": round(self.bm25, 2),
                "fused": round(self.fused, 4)}


@dataclass(frozen=True)
class PassageMatch:
    """The passages for a question (best first) and whether they are good enough to answer;
    `quote`: the sentences to say, where the plan's documents answer by quoting."""

    passages: tuple[Passage, ...]
    score: float
    answerable: bool
    quote: Quote | None = None
    near: Quote | None = None   # a quote under the bar, to offer by its section


class PassageRetriever:
    """Searches a `DocumentIndex`; `min_score` is the calibrated e5 similarity the best
    passage needs (`cross_language_min_score` when one of question and passage is Chinese and
    the other is not: e5 scores across languages run lower), `top` how many passages an answer
    may use, within `prompt_tokens`. With a `quoter`, the documents answer only what it finds
    sentences for."""

    def __init__(self, index: DocumentIndex, embedder: Embedder, min_score: float,
                 cross_language_min_score: float, top: int = 3, prompt_tokens: int = 500,
                 quoter: Quoter | None = None) -> None:
        self.index = index
        self.quoter = quoter
        self.embedder = embedder
        self.min_score = min_score
        self.cross_language_min_score = cross_language_min_score
        self.top = top
        self.prompt_tokens = prompt_tokens
        self._bm25 = BM25([c.indexed_text for c in index.chunks])
        # A question is searched up to three times (its answer, the section offered when none
        # is sure, the sentence said on the caller's yes): recent results are kept, per plan.
        self.search = lru_cache(maxsize=RECENT_SEARCHES)(self._search)

    def heads_section(self, text: str) -> bool:
        """Whether `text` names a code (said or written: "E 1 6 2 4", "E1624") that heads a
        section of the documents."""
        named = codes(written_codes(text))
        return bool(named) and any(chunk.headed_by(named) for chunk in self.index.chunks)

    def _search(self, text: str) -> PassageMatch:
        """The best passages for `text` (English or Chinese, documents in either)."""
        if not self.index.chunks or not text.strip():
            return PassageMatch((), 0.0, False)
        text = written_codes(text)
        similarity = self.index.vectors @ self.embedder.queries([text])[0]
        lexical = self._bm25.scores(text)
        fused = _rrf(similarity) + _rrf(lexical)
        order = [int(i) for i in np.argsort(-fused, kind="stable")]
        named = codes(text)
        if named:   # a section headed by a code the caller said ("E1410: ...") comes first
            order.sort(key=lambda i: not self.index.chunks[i].headed_by(named))
        chosen: list[Passage] = []
        tokens = 0
        for i in order[:self.top]:
            chunk = self.index.chunks[i]
            tokens += approx_tokens(chunk.text)
            if chosen and tokens > self.prompt_tokens:
                break
            chosen.append(Passage(chunk, float(similarity[i]), float(lexical[i]), float(fused[i])))
        best = max(chosen, key=lambda p: p.similarity)
        needed = self.cross_language_min_score if has_cjk(text) != has_cjk(best.chunk.text) \
            else self.min_score
        # a section headed by the code the caller said is theirs, however e5 scores it
        answerable = best.similarity >= needed or bool(named) and any(
            p.chunk.headed_by(named) for p in chosen)
        if self.quoter is None or not answerable or has_cjk(text) != has_cjk(best.chunk.text):
            # across languages the documents' sentences cannot be quoted: the LLM answers
            return PassageMatch(tuple(chosen), best.similarity, answerable)
        quote = self.quoter.quote(text, order)
        if quote is not None and not quote.sure:
            return PassageMatch(tuple(chosen), best.similarity, False, near=quote)
        return PassageMatch(tuple(chosen), best.similarity, quote is not None, quote)


def written_codes(text: str) -> str:
    """`text` with error codes and model numbers said letter and digit by letter and digit ("E
    1 4 1 0", "e two zero one one", as a recogniser writes them) written as documents write
    them: "E1410", "E2011"."""
    def joined(m: re.Match) -> str:
        said = re.split(r"[\s-]+", m.group(2).strip(" -"))
        return m.group(1).upper() + "".join(_DIGIT_WORDS.get(w.lower(), w) for w in said)
    return _SPOKEN_CODE.sub(joined, text)


def _rrf(scores: np.ndarray) -> np.ndarray:
    """Reciprocal-rank contribution of one ranking; passages scoring 0 (no query word for BM25)
    are not ranked at all."""
    out = np.zeros(len(scores))
    order = np.argsort(-scores, kind="stable")
    ranked = order[scores[order] > 0]
    out[ranked] = 1.0 / (RRF_K + 1 + np.arange(len(ranked)))
    return out


def plan_documents(loaded: LoadedPlan, embedder: Embedder) -> PassageRetriever | None:
    """The retriever over a plan's documents, its persisted index loaded (or built, with a log
    line, where missing or out of date); None for a plan without documents."""
    settings = loaded.plan.documents
    if settings is None:
        return None
    index, _ = build_index(loaded, embedder)
    quoter = Quoter(index, embedder, settings.quote_min_score, settings.quote_confirm_score) \
        if settings.answer == "quote" else None
    return PassageRetriever(index, embedder, settings.min_score,
                            settings.cross_language_min_score, settings.passages,
                            settings.prompt_tokens, quoter)
