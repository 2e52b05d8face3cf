"""Several slots from one caller sentence: "book me for next Tuesday, my number is 138 1234 5678".

Each slot kind reads its own part of the sentence, and a part one kind has read is hidden from the
others: a phone number's digits never become a day of the month, and "December 18" never becomes
the first two digits of a phone number. Kinds are read in a fixed order, the most specific first:
phone numbers (runs of 7-15 spoken digits), then digit strings of a given length, then dates,
then account codes. Yes/no answers and free text are never taken from a sentence said for
something else: they answer one question, and only that question.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from ivr.dialog.slot_dates import MONTH_NAMES, parse_date
from ivr.dialog.slot_numbers import CN_DIGITS, REPEAT, TOKEN, is_numeric, spoken_digits
from ivr.dialog.slots import parse_account
from ivr.text.normalize import prepare

FREE_SPEECH_KINDS = frozenset({"phone", "digits", "date", "account"})
"""Slot kinds whose values may be taken from a sentence said at another prompt."""

_PLUS = frozenset({"+", "plus", "加"})
_SOFT_ZERO = frozenset({"oh", "o"})                      # a zero only between other digits
_DATE_AFTER = frozenset({"st", "nd", "rd", "th", "of", "号", "日", "月"})   # "18 of March", 18号


@dataclass(frozen=True)
class Wanted:
    """A slot whose value may be in the sentence."""

    slot: str
    kind: str
    length: int | None = None


@dataclass(frozen=True)
class _Run:
    """Consecutive number words of the sentence: their digits and where they are."""

    digits: str
    start: int          # character offsets in the prepared, lower-cased sentence
    end: int
    plus: bool


def take_slots(text: str, wanted: list[Wanted], language: str,
               today: datetime.date) -> dict[str, str]:
    """The values of the `wanted` slots found in `text` (slots not found are absent)."""
    sentence = prepare(text).lower()
    hidden: list[tuple[int, int]] = []
    found: dict[str, str] = {}
    runs = _number_runs(sentence)
    for want in sorted(wanted, key=lambda w: _ORDER.index(w.kind) if w.kind in _ORDER else 9):
        if want.kind == "phone":
            value = _take_run(runs, hidden, lambda r: 7 <= len(r.digits) <= 15 and (
                want.length is None or len(r.digits) == want.length), plus=True)
        elif want.kind == "digits" and want.length is not None:
            value = _take_run(runs, hidden, lambda r: len(r.digits) == want.length)
        elif want.kind == "date":
            value = parse_date(_without(sentence, hidden), today, language)
        elif want.kind == "account":
            value = parse_account(_without(sentence, hidden), want.length)
        else:
            value = None
        if value is not None:
            found[want.slot] = value
    return found


_ORDER = ["phone", "digits", "date", "account"]


def _number_runs(sentence: str) -> list[_Run]:
    """Runs of number tokens; a day next to a month name ("december 18", "18 of march") and a
    lone "oh" are not part of one."""
    tokens = [(m.group(), m.start(), m.end()) for m in TOKEN.finditer(sentence)]
    runs: list[_Run] = []
    current: list[int] = []

    def close() -> None:
        if current:
            words = [tokens[i][0] for i in current]
            before = tokens[current[0] - 1][0] if current[0] > 0 else ""
            runs.append(_Run(spoken_digits(words), tokens[current[0]][1],
                             tokens[current[-1]][2], before in _PLUS))
            current.clear()

    for i, (word, _, _) in enumerate(tokens):
        prev = tokens[i - 1][0] if i > 0 else ""
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else ""
        if word in _SOFT_ZERO:
            number = is_numeric(prev) or is_numeric(nxt)
        elif word in REPEAT:
            number = is_numeric(nxt)
        else:
            number = is_numeric(word)
        day_of_month = word.isdigit() and len(word) <= 2 and (prev in MONTH_NAMES or nxt in MONTH_NAMES
                                                              or nxt in _DATE_AFTER)
        chinese_date = word in CN_DIGITS and nxt in _DATE_AFTER
        if number and not day_of_month and not chinese_date:
            current.append(i)
        else:
            close()
    close()
    return runs


def _take_run(runs: list[_Run], hidden: list[tuple[int, int]], fits,
              plus: bool = False) -> str | None:
    """The longest visible run that `fits`, now hidden from the other kinds."""
    visible = [r for r in runs if fits(r) and not any(s < r.end and r.start < e
                                                     for s, e in hidden)]
    if not visible:
        return None
    best = max(visible, key=lambda r: len(r.digits))
    hidden.append((best.start, best.end))
    return ("+" if plus and best.plus else "") + best.digits


def _without(sentence: str, hidden: list[tuple[int, int]]) -> str:
    """The sentence with the hidden parts blanked (offsets of the rest unchanged)."""
    for start, end in hidden:
        sentence = sentence[:start] + " " * (end - start) + sentence[end:]
    return sentence
