"""Slot parsers: recognised caller speech (Whisper text, English or Chinese) or DTMF keys turned
into typed slot values.

Every parser takes the raw text and returns the canonical value as a string, or None when the
input is not understood (the dialog then re-prompts). Canonical forms:

  digits   "0412"                 only the digits; must have exactly `length` digits when given
  yes_no   "yes" / "no"           None when both, neither, or unsure ("maybe", "不知道")
  date     "2025-03-05"           ISO date, relative to `today` for "tomorrow", "下周一", ...
  phone    "+8613812345678"       7-15 digits, "+" kept when said ("plus", "+", 加)
  account  "AB1234"               6-16 upper-case letters and digits
  text     "anything said"        stripped, whitespace collapsed, non-empty

Both languages are always understood (Whisper may answer in English on a Chinese call and the
reverse); `language` is only a hint. Relative weekdays follow calendar weeks starting on Monday:
"next monday" / 下周一 is the Monday of next week, "this friday" / 这周五 the Friday of this week,
and a bare "monday" / 周一 the first Monday after today.
"""

from __future__ import annotations

import datetime
import re

from ivr.dialog.slot_dates import parse_date
from ivr.dialog.slot_numbers import (REPEAT, TEENS, TENS, UNITS, is_numeric, parse_digits,
                                     prepare, spoken_digits, tokenize)

__all__ = ["parse_slot", "parse_digits", "parse_yes_no", "parse_date", "parse_phone",
           "parse_account", "parse_text", "DigitCollector"]

_YES = ["yes", "yeah", "yea", "yep", "yup", "ya", "yah", "correct", "thats correct", "right",
        "thats right", "that is right", "sure", "of course", "absolutely", "definitely",
        "affirmative", "ok", "okay", "certainly", "exactly", "indeed", "it did", "it does",
        "it is", "i did", "i do", "alright", "all right", "i have", "i think so", "yes please",
        "it worked", "it works", "uh huh", "please do",
        "go ahead", "true", "sounds good",
        "是", "是的", "对", "对的", "好", "好的", "没错", "没问题", "没有问题", "可以", "行", "嗯",
        "有", "正确", "确定", "对啊", "是啊", "当然", "需要", "要"]
_NO = ["no", "nope", "nah", "not", "not really", "wrong", "incorrect", "negative", "never",
       "no way", "dont", "doesnt", "didnt", "isnt", "wasnt", "havent", "hasnt", "cant",
       "cannot", "not right", "not correct", "thats wrong", "thats not right", "it is not",
       "it isnt", "it does not", "it did not", "i do not", "i did not", "nothing", "none",
       "neither", "none of them", "neither of them", "neither one",
       "不", "不是", "不对", "没有", "没", "不行", "不用", "不要", "错", "错了", "不可以", "否",
       "不需要", "不正确", "没用", "不好"]
_UNSURE = ["maybe", "perhaps", "not sure", "im not sure", "dont know", "i dont know", "no idea",
           "possibly", "sometimes", "kind of", "sort of", "i guess", "unsure",
           "不知道", "不确定", "也许", "可能", "不清楚", "说不好", "不一定", "好像"]
# Digit-by-digit "yes"/"no" for keypad answers (1 = yes, 2 = no as in the survey node).
_KEY_ANSWER = {"1": "yes", "2": "no"}

def _phrase_table() -> list[tuple[list[str], str]]:
    table = [(tokenize(p), label) for label, phrases in (("yes", _YES), ("no", _NO),
                                                         ("unsure", _UNSURE)) for p in phrases]
    return sorted(table, key=lambda item: -len(item[0]))

_PHRASES = _phrase_table()

def _labels(tokens: list[str]) -> set[str]:
    """Labels of the longest phrases found left to right ("not really" beats "really",
    没错 beats 没, 不是 beats 是)."""
    found: set[str] = set()
    i = 0
    while i < len(tokens):
        for words, label in _PHRASES:
            if tokens[i:i + len(words)] == words:
                found.add(label)
                i += len(words)
                break
        else:
            i += 1
    return found

def parse_yes_no(text: str) -> str | None:
    tokens = tokenize(text)
    if len(tokens) == 1 and tokens[0] in _KEY_ANSWER:
        return _KEY_ANSWER[tokens[0]]
    labels = _labels(tokens)
    if "unsure" in labels or len(labels) != 1:
        return None
    return labels.pop()

def parse_phone(text: str, length: int | None = None) -> str | None:
    """7-15 digits; a leading "+", "plus" or 加 is kept as "+"."""
    tokens = tokenize(text)
    first_numeric = next((i for i, t in enumerate(tokens) if is_numeric(t)), len(tokens))
    plus = any(t in ("+", "plus", "加") for t in tokens[:first_numeric])
    digits = spoken_digits(tokens)
    if not 7 <= len(digits) <= 15 or (length is not None and len(digits) != length):
        return None
    return ("+" if plus else "") + digits

_NATO = {"alpha": "A", "alfa": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E",
         "foxtrot": "F", "golf": "G", "hotel": "H", "india": "I", "juliet": "J", "juliett": "J",
         "kilo": "K", "lima": "L", "mike": "M", "november": "N", "oscar": "O", "papa": "P",
         "quebec": "Q", "romeo": "R", "sierra": "S", "tango": "T", "uniform": "U",
         "victor": "V", "whiskey": "W", "whisky": "W", "xray": "X", "yankee": "Y", "zulu": "Z",
         # How Whisper writes some spoken letter names.
         "bee": "B", "dee": "D", "gee": "G", "jay": "J", "kay": "K", "cue": "Q", "queue": "Q",
         "tee": "T", "vee": "V", "zed": "Z", "zee": "Z", "aitch": "H", "ess": "S", "eff": "F"}
_ACCOUNT_WORD = re.compile(r"[A-Za-z0-9]+(?:['-][A-Za-z0-9]+)*")
_NUMBER_WORDS = set(UNITS) | set(TEENS) | set(TENS) | {"hundred", "thousand"}

def parse_account(text: str, length: int | None = None) -> str | None:
    """6-16 letters and digits: codes as written ("AB-1234"), spelled letters ("A B 1 2 3 4"),
    NATO words ("alpha bravo"), spoken digits, "double"/"triple"; other words are skipped and the
    longest run of code pieces is taken ("my serial is SN 4 4 7 1 9 2" -> "SN447192")."""
    prepared = prepare(text).replace("x-ray", "xray").replace("X-ray", "xray")
    runs: list[list[tuple[str, str]]] = [[]]  # items: ("chars", "AB") / ("num", "five")
    for raw in _ACCOUNT_WORD.findall(prepared):
        if "'" in raw:  # "it's", "don't": a word, not part of a code
            runs.append([])
            continue
        parts = raw.split("-")
        if len(parts) > 1 and all(p.lower() in _NUMBER_WORDS for p in parts):
            runs[-1].extend(("num", p.lower()) for p in parts)
            continue
        if len(parts) > 1:
            runs[-1].append(("chars", "".join(parts).upper()))
            continue
        low = raw.lower()
        if low in _NUMBER_WORDS or low in REPEAT or low == "oh":
            runs[-1].append(("num", low))
        elif len(raw) == 1 or any(ch.isdigit() for ch in raw) or (raw.isupper() and raw != "OK"):
            runs[-1].append(("chars", raw.upper()))
        elif low in _NATO:
            runs[-1].append(("chars", _NATO[low]))
        elif low == "and" and runs[-1] and runs[-1][-1] == ("num", "hundred"):
            continue
        else:
            runs.append([])
    best = ""
    for run in runs:
        value = _flatten(run)
        if len(value) > len(best):
            best = value
    if not re.fullmatch(r"[A-Z0-9]{6,16}", best) or (length is not None and len(best) != length):
        return None
    return best

def _flatten(run: list[tuple[str, str]]) -> str:
    """One code from a run: spoken numbers become digits, "double"/"triple" repeat the next
    digit or letter."""
    out, numbers = "", []
    for kind, value in run + [("end", "")]:
        if kind == "num":
            numbers.append(value)
            continue
        repeat = 1
        if numbers and numbers[-1] in REPEAT:
            repeat = REPEAT[numbers.pop()]
        if numbers:
            out += spoken_digits(numbers)
            numbers = []
        if kind == "chars":
            out += value * repeat if len(value) == 1 else value
    return out

def parse_text(text: str) -> str | None:
    cleaned = " ".join(text.split())
    return cleaned or None

# ---- common entry -------------------------------------------------------------------------------

def parse_slot(kind: str, text: str, length: int | None, language: str,
               today: datetime.date) -> str | None:
    """The typed value of `text` for a collect node's slot kind, or None when not understood."""
    if kind == "digits":
        return parse_digits(text, length)
    if kind == "yes_no":
        return parse_yes_no(text)
    if kind == "date":
        return parse_date(text, today, language)
    if kind == "phone":
        return parse_phone(text, length)
    if kind == "account":
        return parse_account(text, length)
    if kind == "text":
        return parse_text(text)
    raise ValueError(f"unknown slot kind '{kind}', expected one of: "
                     f"digits, yes_no, date, phone, account, text")

# ---- keypad entry -------------------------------------------------------------------------------

class DigitCollector:
    """Collects DTMF keys for one slot: `push` returns the value once `length` digits are in (or
    `#` is pressed, or `max_length` is reached); `*` starts over."""

    def __init__(self, length: int | None = None, terminator: str = "#", clear: str = "*",
                 max_length: int = 32) -> None:
        if length is not None and not 1 <= length <= max_length:
            raise ValueError(f"length must be 1..{max_length}, got {length}")
        self.length = length
        self.terminator = terminator
        self.clear = clear
        self.max_length = max_length
        self._buffer = ""

    @property
    def buffer(self) -> str:
        """Digits entered so far."""
        return self._buffer

    def reset(self) -> None:
        self._buffer = ""

    def push(self, digit: str) -> str | None:
        if digit == self.clear:
            self._buffer = ""
            return None
        if digit == self.terminator:
            value, self._buffer = self._buffer, ""
            return value or None
        if len(digit) != 1 or not digit.isdigit() or not digit.isascii():
            raise ValueError(f"not a DTMF digit: {digit!r}")
        self._buffer += digit
        if len(self._buffer) == (self.length or self.max_length):
            value, self._buffer = self._buffer, ""
            return value
        return None
