"""Keep only model sentences that the approved answer supports (a small model invents facts)."""

from __future__ import annotations

import re

from ivr.asr.guard import normalize

_STOP = frozenset("""a an the and or but if of to in on at for with by from is are was were be been
it its this that these those you your we our us i me my can will would could should do does did
have has had not no yes so as up out about into than then there here just also very please
any all more most some such only own same too""".split())
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_CJK = re.compile(r"[\u3400-\u9fff]")


def _content_units(text: str) -> set[str]:
    """Content words, or character bigrams for Chinese text (no word boundaries)."""
    norm = normalize(text)
    if _CJK.search(norm):
        chars = "".join(_CJK.findall(norm))
        return {chars[i:i + 2] for i in range(len(chars) - 1)}
    return {w.rstrip("s") for w in norm.split() if w not in _STOP and len(w) > 2}


def is_supported(sentence: str, passage: str, min_overlap: float = 0.75) -> bool:
    """True when every number in `sentence` is in `passage` and most of its content is too."""
    if not set(_NUMBER.findall(sentence)) <= set(_NUMBER.findall(passage)):
        return False
    units = _content_units(sentence)
    if not units:
        return True  # "Sure!" carries no claim
    return len(units & _content_units(passage)) / len(units) >= min_overlap
