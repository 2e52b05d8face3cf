"""Character error rate of Mandarin recognition, after simplification.

Both the reference and the hypothesis are compared as Chinese characters only: traditional
characters folded to simplified ones (`to_simplified`), Arabic digits read as Chinese numerals
(`digits_as_hanzi`: "12月3号" = "十二月三号", a phone number digit by digit), Latin letters
lower-cased, punctuation and spaces dropped. The rate is edit operations over reference
characters, summed over a set before dividing (so long turns weigh more than short ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from ivr.text.normalize import digits_as_hanzi, to_simplified

_NOT_WORD = re.compile(r"[\W_]+")


def cer_text(text: str) -> str:
    """`text` as CER compares it: simplified, digits as numerals, no punctuation or spaces."""
    return _NOT_WORD.sub("", digits_as_hanzi(to_simplified(text)).lower())


@dataclass(frozen=True)
class Errors:
    """Edit operations against a reference of `chars` characters."""

    edits: int
    chars: int

    def __add__(self, other: Errors) -> Errors:
        return Errors(self.edits + other.edits, self.chars + other.chars)

    @property
    def rate(self) -> float:
        return self.edits / self.chars if self.chars else 0.0


def char_errors(reference: str, hypothesis: str) -> Errors:
    """Substitutions, insertions and deletions turning `reference` into `hypothesis`."""
    ref, hyp = cer_text(reference), cer_text(hypothesis)
    return Errors(Levenshtein.distance(ref, hyp), len(ref))
