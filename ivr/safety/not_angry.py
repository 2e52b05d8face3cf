"""Callers who say they are not angry: "I'm not angry or anything, I just want to know how to
file a complaint", 我不是生气啊，就想问问在哪投诉. ("No offence, but..." and 不是冲你 are left
out: angry callers say them before a complaint about the company.)

The learned net hears the complaint words and not the "not" (0.655 angry on that Chinese turn),
so such a turn is no hostile one on the net's word alone: hostile words, the voice and anger
over several turns still count, and the net may still find the caller frustrated.
"""

from __future__ import annotations

import re

__all__ = ["says_not_angry"]

_EN = re.compile(r"\b(?:i'm|i am|im)\s+(?:really\s+|honestly\s+)?not\s+(?:angry|mad|upset|cross"
                 r"|complaining)\b", re.IGNORECASE)
_ZH = re.compile(r"我(?:也|真的?)?(?:不是|并不是|没有?)(?:在)?(?:生气|发火)|我不生气")


def says_not_angry(text: str) -> bool:
    """Whether the caller says in `text` that they are not angry (English or Chinese)."""
    return _EN.search(text) is not None or _ZH.search(text) is not None
