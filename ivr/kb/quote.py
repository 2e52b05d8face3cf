"""Answers quoted from a plan's documents: the one or two sentences that answer the question,
said as written.

The embedded CPU model (SmolLM2-135M) cannot be trusted to read a manual: on the hardware
line's development questions nearly every sentence it wrote failed the grounding check, and
some that passed were wrong ("three short beeps" -> "a power supply failure"). Quoting cannot
invent anything. Every sentence of the best passages is scored against the question: the e5
cosine of the sentence (embedded with its passage's title and headings) plus a small share for
the question's words it holds (BM25 over sentences, relative to the best) and for stating the
numbers the question names ("three short beeps"). The best sentence is said, and the next best
with it when it scores nearly as well ("how long until my refund" is answered by the sentence
on returns and the one on refunds); a code's section of up to three sentences is said whole, in
its order ("E1410": what it means, then what to do). Nothing is quoted when the best scores under
the plan's `documents.quote_min_score`; and only sentences that state what the question asks
for are candidates: a price, an amount or a time, in the unit it names ("how much does a 2U
server cost" is not answered by its weight, nor "how many watts" by kilograms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ivr.dialog.grounding import numbers
from ivr.kb.bm25 import BM25
from ivr.kb.documents import Chunk, codes
from ivr.kb.embedder import Embedder
from ivr.kb.index import DocumentIndex

LEXICAL_WEIGHT = 0.03
NUMBER_BONUS = 0.03
HEADING_BONUS = 0.03    # for a sentence under a heading naming the code the question names
SECOND_MARGIN = 0.025   # a second sentence is said when it scores this close to the best
PASSAGES = 4            # sentences are taken from this many of the best passages
SECTION_SENTENCES = 3   # a code's section this short is said whole

_ASKS_PRICE = re.compile(
    r"\b(cost|costs|price|prices|priced|fee|fees|charge|charges|charged|pay|expensive|cheap)\b"
    r"|\bhow much (is|are|does|do|will|would|did)\b|多少钱|费用|价格|价钱|收费|几块|贵")
# asking what something costs, not how to pay, whether it is charged or how much a bill
# comes to ("how can I pay my bill", "will I be charged for roaming in Canada", "how much is
# my bill" are answered without a price)
_ASKS_COST = re.compile(
    r"\b(cost|costs|price|prices|priced|fee|fees)\b|多少钱|费用|价格|价钱|收费")
_STATES_PRICE = re.compile(
    r"\b(euros?|dollars?|pounds?|cents?|percent|free|no charge|no cost)\b|[%€$£]"
    r"|元|块|免费|不收费", re.IGNORECASE)
_ASKS_AMOUNT = re.compile(
    r"\bhow (long|many|much|far|soon|often|old|big|heavy|tall|wide|deep|high)\b|\bwhat time\b"
    # "when" asking a time ("when will...", "when is..."), not joining a clause ("what does it
    # mean when the power supply light is amber")
    r"|^\W*when\b|\bwhen (will|would|do|does|did|is|are|was|were|can|could|should|shall)\b"
    r"|多久|多长|多少|几[天个点年月周次分]|什么时候")


# a unit the question names must be the unit the sentence states: "how many watts does a 1U
# server draw" is not answered by its weight in kilograms
_UNITS = tuple(re.compile(p) for p in (
    r"\b(watts?|kw|kilowatts?)\b|功率|瓦",
    r"\b(volts?|voltage)\b|电压|伏",
    r"\b(kilos?|kilograms?|kg|weigh|weighs|weight|heavy)\b|重|公斤",
    r"\b(centimet(?:re|er)s?|millimet(?:re|er)s?|met(?:re|er)s?|inch|inches|cm|mm)\b|厘米|毫米|米",
    r"\b(degrees?|celsius|temperature)\b|温度|度",
))


@dataclass(frozen=True)
class Quote:
    """What to say (the document's own sentences), the passages they come from and how well
    the best one scored."""

    sentences: tuple[str, ...]
    chunks: tuple[Chunk, ...]
    score: float
    sure: bool = True   # False: under the quote bar, good enough to offer by its section


def wants_amount(question: str) -> str:
    """"price" when the question asks what something costs, "amount" when it asks how long,
    how many, how much or when, else ""."""
    lowered = question.lower()
    if _ASKS_PRICE.search(lowered):
        return "price"
    return "amount" if _ASKS_AMOUNT.search(lowered) else ""


def answers_cost(question: str, answer: str) -> bool:
    """Whether `answer` states a price where `question` asks what something costs ("how much
    does a flu shot cost" is not answered by when flu shots are given)."""
    return not _ASKS_COST.search(question.lower()) or states("price", answer)


def states(kind: str, sentence: str) -> bool:
    """Whether `sentence` states what a question of `kind` (`wants_amount`) asks for."""
    if kind == "price":
        return bool(_STATES_PRICE.search(sentence))
    return bool(numbers(sentence)) if kind == "amount" else True


def same_units(question: str, sentence: str) -> bool:
    """Whether `sentence` speaks of every kind of unit `question` names (watts, volts,
    weight, length, temperature)."""
    question, sentence = question.lower(), sentence.lower()
    return all(unit.search(sentence) for unit in _UNITS if unit.search(question))


class Quoter:
    """Picks the sentences of `index` that answer a question; `min_score` as above; from
    `confirm_score` up to it, the sentences are returned as not sure (to offer by their
    section, "is your question about ...?")."""

    def __init__(self, index: DocumentIndex, embedder: Embedder, min_score: float,
                 confirm_score: float | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.min_score = min_score
        self.confirm_score = min_score if confirm_score is None else confirm_score
        # the headings count as words of each sentence: "E2011" is in the heading only
        self._bm25 = BM25([f"{index.chunks[row].place}: {text}" for row, text in index.sentences])
        self._rows = np.array([row for row, _ in index.sentences], dtype=int)
        # and the numbers named there: "E1410" names the sentences under its heading
        self._numbers = [numbers(f"{index.chunks[row].place}: {text}")
                         for row, text in index.sentences]

    def quote(self, question: str, passages: list[int]) -> Quote | None:
        """The sentences of the passages at `passages` (rows, best first; the first
        `PASSAGES` are read) that answer `question`, or None. Only sentences that state what
        the question asks for (a price, an amount) are candidates, and only those under a
        heading naming a code the question names, where one does."""
        kind = wants_amount(question)
        said_codes = codes(question)
        headed = [row for row in passages[:PASSAGES]
                  if self.index.chunks[row].headed_by(said_codes)]
        # a code the caller said is answered from its own section, not from a sentence that
        # only mentions it ("...an error code starting with E, for example E1410")
        within = np.isin(self._rows, headed or passages[:PASSAGES]) & np.array(
            [states(kind, text) and same_units(question, text)
             for _, text in self.index.sentences], dtype=bool)
        if not within.any():
            return None
        cosine = self.index.sentence_vectors @ self.embedder.queries([question])[0]
        lexical = self._bm25.scores(question)
        lexical = lexical / lexical.max() if lexical.max() > 0 else lexical
        asked = numbers(question)
        states_asked = np.array([bool(asked) and asked <= stated for stated in self._numbers])
        score = np.where(within, cosine + LEXICAL_WEIGHT * lexical + NUMBER_BONUS * states_asked
                         + HEADING_BONUS * bool(headed), -1.0)
        order = [int(i) for i in np.argsort(-score, kind="stable")[:2] if within[i]]
        if score[order[0]] < min(self.min_score, self.confirm_score):
            return None
        if len(order) > 1 and score[order[0]] - score[order[1]] >= SECOND_MARGIN:
            order = order[:1]
        best = float(score[order[0]])
        if headed:
            section = [int(i) for i in np.flatnonzero(self._rows == self._rows[order[0]])]
            if len(section) <= SECTION_SENTENCES:
                order = section     # what the code means and what to do, as the manual says it
        said = [self.index.sentences[i] for i in order]
        return Quote(tuple(text for _, text in said),
                     tuple(dict.fromkeys(self.index.chunks[row] for row, _ in said)),
                     round(best, 3), best >= self.min_score)
