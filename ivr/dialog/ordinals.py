"""Which of the options the bot just named a caller's reply picks by position: "the first
one", "the latter", "第二个"."""

from __future__ import annotations

from ivr.text.normalize import prepare, tokenize

_EN = ({"first", "1st", "former"}, {"second", "2nd", "latter", "last"})
_EN_SHORT = ({"one"}, {"two", "other"})   # only a short reply: "I have two questions" is none
_ZH = (("第一", "前一个", "前面", "前者", "头一个"), ("第二", "后一个", "后面", "后者", "最后"))
SHORT_REPLY = 4  # tokens


def ordinal_choice(text: str, language: str) -> int | None:
    """0 for the first of two options, 1 for the second, None when the reply names neither
    (or both)."""
    if language == "zh":
        simplified = prepare(text)
        hits = {i for i, words in enumerate(_ZH) if any(w in simplified for w in words)}
    else:
        words = {token.norm for token in tokenize(text)}
        hits = {i for i in range(2) if words & _EN[i]}
        if not hits and len(words) <= SHORT_REPLY:   # "the other one": "one" is no position
            hits = {i for i in range(2) if words & _EN_SHORT[i]}
    return hits.pop() if len(hits) == 1 else None
