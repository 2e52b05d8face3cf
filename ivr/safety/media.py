"""Events the caller knows from the news or other media: "I saw on the news there was a fire at
one of your data centres", 新闻上说有人手机电池爆炸了.

Callers bring up what they saw on television or read online to ask whether it touches them (their
phone model, their hosting, the clinic's opening). A lexicon phrase in such a turn is therefore
no emergency on the lexicon's word alone: as with an event placed in the past
(`ivr.safety.past`), the guard acts on it only if the learned net also finds the turn urgent by
its own threshold. Only words for the media count, not "heard" or 听说 ("I heard a crash and
he's not answering" is now).
"""

from __future__ import annotations

import re

__all__ = ["from_the_media"]

_EN = re.compile(
    r"\b(?:news|newspapers?|headlines?|documentary|programme|program|article|telly|television"
    r"|tv|radio|youtube|tiktok|facebook|twitter|instagram|social\s+media"
    r"|(?:saw|seen|read|watched|posted)\s+(?:it\s+)?online)\b",
    re.IGNORECASE)
_ZH = re.compile(r"新闻|新聞|电视|電視|报道|報道|报纸|報紙|网上看|網上看|网上说|網上說|视频里|視頻裡"
                 r"|朋友圈|热搜|熱搜|微博|抖音|节目|節目|广播|廣播")


def from_the_media(text: str) -> bool:
    """Whether `text` speaks of the news or other media (English or Chinese)."""
    return _EN.search(text) is not None or _ZH.search(text) is not None
