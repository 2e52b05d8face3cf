"""What short talk means: a backchannel ("mhm"), a request to stop, the caller closing the
call ("thanks", "that's all, bye"), or a follow-up that leans on the last answer ("and what
about Japan?")."""

from __future__ import annotations

import re

from ivr.text.normalize import simple_normalize


BACKCHANNELS = frozenset({
    "ok", "okay", "okay okay", "mhm", "mm", "mmhmm", "mm hmm", "hmm", "uh huh", "uhhuh", "yeah",
    "yes", "yep", "right", "sure", "alright", "all right", "i see", "got it", "uh", "um", "嗯", "好",
    "好的", "对", "是", "是的", "哦",
})


def is_backchannel(text: str) -> bool:
    """True for a listener's "mhm"/"okay" that acknowledges the bot rather than interrupting it."""
    return simple_normalize(text).replace("-", " ") in BACKCHANNELS


STOP_PHRASES = frozenset({"stop", "wait", "hold on", "no", "no no", "sorry", "excuse me",
                          "one moment", "等一下", "停", "不是"})


def is_stop_request(text: str) -> bool:
    """True for a caller asking the bot to stop talking (and then listen)."""
    return simple_normalize(text) in STOP_PHRASES


# English closings: every word from this vocabulary, with a thanks or goodbye marker among them
# ("okay, thank you very much", "no that's all, bye"); a question or a topic word is not one.
_CLOSING_WORDS = frozenset({
    "ok", "okay", "alright", "all", "right", "great", "perfect", "lovely", "brilliant", "awesome",
    "cool", "good", "fine", "thanks", "thank", "you", "very", "much", "so", "a", "lot", "cheers",
    "many", "bye", "goodbye", "no", "nope", "that", "s", "thats", "is", "it", "was", "helpful",
    "nothing", "else", "um", "uh", "oh", "yeah", "yes", "for", "your", "the", "help", "then",
    "have", "nice", "day", "i", "needed", "just", "wanted", "to", "know",
})
_THANKS = frozenset({"thanks", "thank", "cheers"})
_GOODBYE = frozenset({"bye", "goodbye"})
_DONE = (("that", "s", "all"), ("thats", "all"), ("that", "is", "all"), ("that", "s", "it"),
         ("thats", "it"), ("nothing", "else"))   # as simple_normalize writes them
# Chinese: the whole turn, punctuation aside, is one of these
_ZH_THANKS = frozenset({"谢谢", "谢谢你", "谢谢您", "多谢", "好的谢谢", "嗯谢谢", "好谢谢", "太好了谢谢",
                        "好的谢谢你", "好的谢谢您", "知道了谢谢", "明白了谢谢", "行谢谢"})
_ZH_GOODBYE = frozenset({"再见", "拜拜", "谢谢再见", "好的再见", "没有了", "没有了谢谢", "没事了",
                         "没事了谢谢", "就这些", "就这些谢谢", "没有别的了", "没有其他问题了",
                         "没有了再见", "好的谢谢再见"})


def closing(text: str) -> str | None:
    """"goodbye" when the caller ends the call ("thanks, bye", "that's all", 没有了), "thanks" when
    they only thank the bot ("okay, thank you very much", 好的谢谢), else None (anything more is a
    new turn: "thanks, and what about the US?")."""
    norm = simple_normalize(text)
    joined = norm.replace(" ", "")
    if joined in _ZH_GOODBYE:
        return "goodbye"
    if joined in _ZH_THANKS:
        return "thanks"
    words = norm.split()
    if not words or not set(words) <= _CLOSING_WORDS or any(
            w == "nothing" and words[i + 1:i + 2] != ["else"] for i, w in enumerate(words)):
        return None   # "thanks for nothing" is no thanks
    done = any(tuple(words[i:i + len(p)]) == p for p in _DONE for i in range(len(words)))
    if _GOODBYE & set(words) or done:
        return "goodbye"
    return "thanks" if _THANKS & set(words) else None


_FOLLOW_UP_EN = re.compile(r"^(?:(?:and|so|okay|ok|um|uh)\s+)*(?:(?:what|how)\s+about|what\s+if|"
                           r"and\s+(?:in|for|on|with|if|from|to)|same\s+(?:for|in|with))\b")
_FOLLOW_UP_WORDS = 8


def follows_up(text: str) -> bool:
    """A short turn that only makes sense after the last answer: "and what about the United
    States?", "what if I'm in Japan?", "那美国呢？", "日本呢"."""
    norm = simple_normalize(text)
    if not norm or len(norm.split()) > _FOLLOW_UP_WORDS:
        return False
    joined = norm.replace(" ", "")
    if joined.endswith("呢") and len(joined) <= 10:
        return True
    return _FOLLOW_UP_EN.match(norm) is not None
