"""Denials: a caller saying what is not happening ("nothing's on fire, the charger just smells
warm", 我不是想不开，就是想把号销了), which service they no longer want ("I don't want the
insurance anymore", 预约我不要了), that they are better ("I'm feeling a lot better", 我好多了) or
that all is well after a mishap ("the dog chewed the cable, everyone's fine", 现在已经止住了).
The guard judges the urgency of a turn without the words of its denials (`denials.yaml`), so
neither the lexicon ("on fire", 想不开) nor the learned net, which reads the danger words and not
the "not" (and "I don't want ... anymore" or "I feel better" as a suicidal person's words), sends
a calm caller to emergency help; what the caller says besides is judged as usual ("nobody's hurt
yet but he has a knife", "I feel better now that I've written the letters to my kids").
"""

from __future__ import annotations

import re
from pathlib import Path

from ivr.safety.expressions import find_expressions
from ivr.text.normalize import has_cjk

__all__ = ["without_denials"]

_DATA = Path(__file__).with_name("denials.yaml")


def without_denials(text: str) -> tuple[str, list[str]]:
    """(`text` less the words of its denials, the denials found); `text` itself when there are
    none."""
    found = find_expressions(_DATA, text)
    if not found:
        return text, []
    kept, start = [], 0
    for first, end in found:
        kept.append(text[start:first])
        start = end
    kept.append(text[start:])
    joiner = "" if has_cjk(text) else " "
    rest = re.sub(r"\s+", " ", joiner.join(k.strip() for k in kept)).strip(" ,.，。！!？?")
    rest = re.sub(r"([,，])(?:\s*[,，])+", r"\1", rest)   # "no, , I just want ..." -> "no, I ..."
    return rest, [text[first:end] for first, end in found]
