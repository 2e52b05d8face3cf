"""Events the caller places in the past: "my dad had a heart attack last year", 去年心脏病发作过.

A clinic's callers name old emergencies all day while booking the follow-up. A lexicon phrase
in a turn that carries a past-time expression is therefore no emergency on the lexicon's word
alone: the guard acts on it only if the learned net also finds the turn urgent by its own
threshold ("he had a stroke last year and now his face is drooping again" still is). Words of
recency ("just", 刚才) are not past-time expressions here: "he just collapsed" is now.
"""

from __future__ import annotations

import re

__all__ = ["placed_in_past"]

_EN = re.compile(
    r"\b(?:last\s+(?:year|month|week|summer|winter|spring|autumn|fall|christmas|time)"
    r"|(?:years?|months?|weeks?|decades?)\s+ago|back\s+in|in\s+(?:19|20)\d\d|used\s+to"
    r"|history\s+of|previous(?:ly)?|a\s+while\s+back|(?:years|months)\s+back)\b",
    re.IGNORECASE)
_ZH = re.compile(r"去年|前年|上个?月|上個?月|上周|上週|上礼拜|上禮拜|上次|以前|那次|那一次"
                 r"|[0-9一二三四五六七八九十两兩几幾]+\s*年前|[0-9一二三四五六七八九十两兩几幾]+\s*个?個?月前"
                 r"|[0-9一二三四五六七八九十]+\s*月份|小时候|小時候|病史|既往")


def placed_in_past(text: str) -> bool:
    """Whether `text` holds a past-time expression (English or Chinese)."""
    return _EN.search(text) is not None or _ZH.search(text) is not None
