"""Events the caller places in the past ("my dad had a heart attack last year", 去年心脏病发作过)
or knows from the media.

A clinic's callers name old emergencies all day while booking the follow-up. A lexicon phrase
in a turn that carries a past-time expression is therefore no emergency on the lexicon's word
alone: the guard acts on it only if the learned net also finds the turn urgent by its own
threshold ("he had a stroke last year and now his face is drooping again" still is). Words of
recency ("just", 刚才) are not past-time expressions here: "he just collapsed" is now.

So are events the caller knows from the news or other media ("I saw on the news there was a fire
at one of your data centres", 新闻上说有人手机电池爆炸了): callers bring up what they saw on
television or read online to ask whether it touches them. Only words for the media count, not
"heard" or 听说 ("I heard a crash and he's not answering" is now).

In an interim result (the caller still talking) such a phrase is not acted on: it waits for the
end of the turn, where the whole turn is judged as above and as the evaluation judges it.
"""

from __future__ import annotations

import re

__all__ = ["from_the_media", "placed_in_past"]

_EN = re.compile(
    r"\b(?:last\s+(?:year|month|week|summer|winter|spring|autumn|fall|christmas|time)"
    r"|(?:years?|months?|weeks?|decades?)\s+ago|back\s+in|in\s+(?:19|20)\d\d|used\s+to"
    r"|history\s+of|previous(?:ly)?|a\s+while\s+back|(?:years|months)\s+back)\b",
    re.IGNORECASE)
_ZH = re.compile(r"去年|前年|上个?月|上個?月|上周|上週|上礼拜|上禮拜|上次|以前|那次|那一次"
                 r"|[0-9一二三四五六七八九十两兩几幾]+\s*年前|[0-9一二三四五六七八九十两兩几幾]+\s*个?個?月前"
                 r"|[0-9一二三四五六七八九十]+\s*月份|小时候|小時候|病史|既往")
_MEDIA_EN = re.compile(
    r"\b(?:news|newspapers?|headlines?|documentary|programme|program|article|telly|television"
    r"|tv|radio|youtube|tiktok|facebook|twitter|instagram|social\s+media"
    r"|(?:saw|seen|read|watched|posted)\s+(?:it\s+)?online)\b",
    re.IGNORECASE)
_MEDIA_ZH = re.compile(r"新闻|新聞|电视|電視|报道|報道|报纸|報紙|网上看|網上看|网上说|網上說|视频里|視頻裡"
                       r"|朋友圈|热搜|熱搜|微博|抖音|节目|節目|广播|廣播")


def placed_in_past(text: str) -> bool:
    """Whether `text` holds a past-time expression (English or Chinese)."""
    return _EN.search(text) is not None or _ZH.search(text) is not None


def from_the_media(text: str) -> bool:
    """Whether `text` speaks of the news or other media (English or Chinese)."""
    return _MEDIA_EN.search(text) is not None or _MEDIA_ZH.search(text) is not None
