"""Keep only model sentences that the approved answer supports (a small model invents facts)."""

from __future__ import annotations

import re

from ivr.text.normalize import content_units

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def is_supported(sentence: str, passage: str, min_overlap: float = 0.75) -> bool:
    """True when every number in `sentence` is in `passage` and most of its content is too."""
    if not set(_NUMBER.findall(sentence)) <= set(_NUMBER.findall(passage)):
        return False
    units = content_units(sentence)
    if not units:
        return True  # "Sure!" carries no claim
    return len(units & content_units(passage)) / len(units) >= min_overlap
