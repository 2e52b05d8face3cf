"""Keep only model sentences that the approved answer (or the retrieved passages) support: a
small model invents facts."""

from __future__ import annotations

import re

from ivr.text.normalize import content_units

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def is_supported(sentence: str, passage: str, min_overlap: float = 0.75) -> bool:
    """True when every number in `sentence` is in `passage` and most of its content is too."""
    if not set(_NUMBER.findall(sentence)) <= set(_NUMBER.findall(passage)):
        return False
    return _covered(sentence, passage, min_overlap)


def _covered(sentence: str, passage: str, min_overlap: float) -> bool:
    """Most of the sentence's content words (Chinese: character pairs) occur in `passage`."""
    units = content_units(sentence)
    if not units:
        return True  # "Sure!" carries no claim
    return len(units & content_units(passage)) / len(units) >= min_overlap


_WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen".split())}
_WORD_NUMBERS.update({w: 10 * i for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)})
_SCALES = {"hundred": 100, "thousand": 1000, "十": 10, "百": 100, "千": 1000, "万": 10000}
_CHINESE_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"两": 2}
_NUMBER_RUN = re.compile(r"\d+(?:[.,]\d+)*|[零一二两三四五六七八九十百千万]+|[a-z]+", re.I)
_NAME = re.compile(r"(?<=[\s(\"'])(?!I\b)[A-Z][\w-]*|\b[A-Z]{2,}\w*|\b(?=\w*\d)(?=\w*[A-Za-z])\w+")


def numbers(text: str) -> set[float]:
    """The numbers `text` states, in digits ("15", "3.5", "1,000"), English words ("fifteen",
    "thirty five", "two hundred") or Chinese numerals ("十五", "两")."""
    found: set[float] = set()
    words: list[str] = []

    def word_run_end() -> None:
        if words:
            found.add(_word_value(words))
            words.clear()

    last_end = 0
    for match in _NUMBER_RUN.finditer(text):
        token = match.group(0)
        if text[last_end:match.start()].strip(" -"):   # "five, two": two numbers
            word_run_end()
        last_end = match.end()
        if token[0].isdigit():
            word_run_end()
            found.add(float(token.replace(",", "")))
        elif token[0] in _CHINESE_DIGITS or token[0] in _SCALES:
            word_run_end()
            found.add(_word_value(list(token)))
        elif token.lower() in _WORD_NUMBERS or (words and token.lower() in _SCALES):
            words.append(token.lower())
        else:
            word_run_end()
    word_run_end()
    return found


def _word_value(parts: list[str]) -> float:
    """"thirty five" -> 35, "two hundred" -> 200, 二十五 -> 25."""
    total, current = 0, 0
    for part in parts:
        if part in _SCALES:
            total += max(current, 1) * _SCALES[part]
            current = 0
        else:
            current += _WORD_NUMBERS.get(part, _CHINESE_DIGITS.get(part, 0))
    return float(total + current)


def is_grounded(sentence: str, source: str, min_overlap: float = 0.75) -> bool:
    """`is_supported` for retrieved text, stricter about claims: every number (in digits,
    words or Chinese numerals, so "3" matches "three") and every name (a capitalised word inside
    the sentence, an acronym, a code like E2011) must occur in `source`."""
    if not numbers(sentence) <= numbers(source):
        return False
    source_words = set(re.findall(r"[\w-]+", source.lower()))
    if any(name.lower() not in source_words for name in _NAME.findall(sentence)):
        return False
    return _covered(sentence, source, min_overlap)
