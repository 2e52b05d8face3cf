"""Plain questions for information: "where exactly are you guys", "what time do you close",
你们诊所具体在什么位置啊, 你们收不收医保啊.

The learned net hears a caller who asks "where are you" or "你们...在哪啊" as a hostile one (of
its training turns, 290 hostile Chinese ones address 你们, 73 of them as a question, against 7
calm turns with 你们 and 啊): on 2026-12-05, 14 of 40 calm Chinese service questions of the form
你们 ... 啊 and 4 of 10 English ones were taken for hostile turns and handed over. Such a question
is therefore no hostile turn on the net's word alone; hostile words, the voice, or anger over
several turns still are. A "why" or "how come" question, a complaint (怎么又, 还没) and a
rhetorical one (能不能办事, 是不是有病, 凭什么, 有没有搞错) are not plain questions: the net keeps
its word on them.
"""

from __future__ import annotations

import re

from ivr.text.normalize import pattern_form

__all__ = ["asks_for_information"]

_MAX_WORDS, _MAX_CJK = 12, 22
# English: a question that opens (after a greeting or "so") with a word asking where, when,
# what time, how much, whether there is something ("do you even listen?", "are you deaf?" are
# left to the net)
_OPENERS = (r"(?:(?:so|ok|okay|hi|hello|hey|um|uh|er|and|yeah|right|sorry|excuse me|please"
            r"|quick question|just wondering|seriously)\W+)*")
_EN = re.compile(rf"^{_OPENERS}(?:where|when|what time|what days?|what hours|how much|how long"
                 r"|how far|which|is there|are there)\b")
# Chinese: asking where, when, how much, whether something is offered or accepted
_ZH_ASKS = re.compile(r"哪|几点|几号|星期几|周几|多少|多久|多长时间|多远|什么时候|什么位置|什么地方"
                      r"|地址|电话是|有没有|能用|可以用"
                      r"|怎么(?:收费|开通|买|办理|预约|去|走|坐)"
                      # any A-not-A question (收不收, 开不开; 说不说 for a misheard 收不收), but not
                      # 是不是 and 能不能, which angry callers ask too (你们是不是想把我的钱吞了)
                      r"|([\u4e00-\u9fff])(?<![是能不])不\1")
_ZH_NOT_PLAIN = re.compile(r"怎么(?:又|老|还|总|一直|回事|搞|了)|还没|凭什么|干什么|搞什么|到底想"
                           r"|能不能办|有病|搞错|为什么|难道|讲不讲理|讲不讲道理|要不要脸|让不让人"
                           # 有没有脑子, 有没有良心: an insult in a question's form
                           r"|脑子|良心|人性|素质|王法|天理")
_CLAUSE_BREAK = re.compile(r"[，,；;。.!！]")


def asks_for_information(text: str) -> bool:
    """Whether `text` is one short plain question for information (see the module doc)."""
    language, plain = pattern_form(text.strip())
    if language == "zh":
        body = plain.rstrip("？?！!。. ")
        cjk = sum(1 for ch in body if "\u4e00" <= ch <= "\u9fff")
        return (cjk <= _MAX_CJK and not _CLAUSE_BREAK.search(body)
                and _ZH_ASKS.search(body) is not None and not _ZH_NOT_PLAIN.search(body))
    words = re.findall(r"[a-z']+", plain)
    return 0 < len(words) <= _MAX_WORDS and _EN.search(plain) is not None
