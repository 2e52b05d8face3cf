"""Masks personal data in text before anything is written: card numbers, national IDs, phone
numbers, e-mail addresses and the dialplan's own patterns.

What is masked, and how:

* card numbers: 13-19 digits starting 2-6 (the card networks' ranges) that pass the Luhn check
  -> `[card ••••1234]` (the last four, as receipts print them);
* China's resident ID: 17 digits and a check character (0-9 or X) that matches ISO 7064
  MOD 11-2, with a real birth date in digits 7-14 -> `[id]`;
* phone numbers -> `[phone]`: "+" (or "plus") and 8-15 digits (E.164); "00" and 10-17 digits;
  any 10 digits (North American and most national formats); 11 digits starting 1 (a Chinese
  mobile 1[3-9]x, or 1 + a North American number) or 0 (a national trunk prefix); 12 digits
  starting 0 (Chinese landlines with a 4-digit area code); 86 and a Chinese mobile;
* any other run of 13 or more digits -> `[number]`: long digit strings in a call are
  identifiers, and a card number or ID the recogniser misheard by a digit fails its check;
* e-mail addresses, written or spoken ("jane dot doe at example dot com") -> `[email]`;
* the plan's patterns (regular expressions on the text as written) -> `[name]`;
* on a call (`Redactor.heard`), a number read out across two utterances (the caller paused
  between digit groups): both halves, wherever they are written, if the whole would be masked;
  and any number of 7-12 digits that ends an utterance, before the next one is heard.

Digits may be written ("4532 0151-1283 0366", full-width too) or spoken one by one in English
("four five three two", "double five", "oh") or Chinese (一二三, 幺, 〇); groups may be separated
by spaces, dashes, dots, brackets, or commas followed by a space (so the groups of "1,234,567"
are not read as one long number). The plan's patterns are applied first. A long run of digits
is searched for the longest masked number at each position, so a card number followed by its
expiry date is still found.

False positives, on purpose: runs of fewer than 10 digits are never masked (prices, dates,
times, PINs, short account and order numbers, 7-digit local phone numbers without an area
code), nor are quantities said as numbers ("five dollars", "twenty five", "一百二十"), nor digits
glued to letters ("AB1234", "5G", "10am": serial and model numbers). Any other 10-digit run is
taken for a phone number, and IMEIs (15 digits, Luhn) for card numbers: masking too much in a
record is the safe way to be wrong.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ivr.dialog.slot_numbers import CN_DIGITS, REPEAT, UNITS
from ivr.text.normalize import prepare

__all__ = ["Redactor", "luhn_ok", "cn_id_ok"]

_DIGIT_WORDS = "|".join(sorted(UNITS, key=len, reverse=True))
_CN = "".join(c for c in CN_DIGITS if c != "两")  # 两 counts things, it does not read digits
# One token of a number read out: digits (not glued to letters), a digit word (optionally
# repeated: "double five"), a Chinese digit, the ID's check letter X, or a leading "+"/"plus".
_TOKEN = re.compile(
    r"(?P<digits>(?<![A-Za-z0-9])[0-9]++(?=[xX](?![A-Za-z])|(?![A-Za-z])))"
    rf"|\b(?P<repeat>{'|'.join(REPEAT)})\s+(?P<repeated>{_DIGIT_WORDS})\b"
    rf"|\b(?P<word>{_DIGIT_WORDS})\b"
    rf"|(?P<cn>[{_CN}])"
    r"|(?P<x>(?<![A-Za-z])[xX](?![A-Za-z])|叉)"
    r"|(?P<plus>\+|\bplus\b)", re.IGNORECASE)
# What may stand between the tokens of one number.
_GAP = re.compile(r"(?:[\s\-–—./()]|[,，、](?=\s)|[，、])*")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")
_DOT = r"(?:\s+dot\s+|\.)"
_SPOKEN_EMAIL = re.compile(
    rf"\b\w+(?:{_DOT}\w+)*(?:\s*@\s*|\s+at\s+)\w+(?:{_DOT}\w+)*{_DOT}"
    r"(?:com|net|org|edu|gov|info|io|co|uk|us|ca|de|fr|cn|jp|au)\b", re.IGNORECASE)
# Words before "at ... dot com" that say where, not whose: "online at acme dot com" is a website.
_NOT_A_MAILBOX = frozenset("""online us visit site website web portal home shop store book pay
order apply register look find me them him her it here there app now today anytime
available""".split())


def _mailbox(match: re.Match) -> bool:
    """Whether a spoken "NAME at DOMAIN dot com" names a mailbox (not "online at ...")."""
    local = re.split(r"\s*@\s*|\s+at\s+", match.group(), maxsplit=1, flags=re.IGNORECASE)[0]
    return local.lower() not in _NOT_A_MAILBOX


_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MIN_MASKED = 10  # digits: nothing shorter is masked (see the module's false-positive policy)
_LONG = 13        # digits: any longer run is an identifier of some kind
_MAX_TOKENS = 20  # tokens in the longest card, ID or phone number: 19 digits and a "+"
_PIECE_MIN = 7    # digits: a number ending an utterance this long may be the start of a card
_LEAD_WORDS = 3   # words before the number that continues the last utterance ("and then 12")
_WORD = re.compile(r"[^\W\d_]+")


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def cn_id_ok(number: str) -> bool:
    """China's 18-character resident ID: region, a real birth date, ISO 7064 MOD 11-2 check."""
    if len(number) != 18 or not number[:17].isdigit() or number[0] == "0":
        return False
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    check = _CN_ID_CHECK[sum(int(c) * w for c, w in zip(number, _CN_ID_WEIGHTS)) % 11]
    return number[17].upper() == check


def _is_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def _is_phone(digits: str, plus: bool) -> bool:
    n = len(digits)
    if plus:
        return 8 <= n <= 15
    if digits.startswith("00"):
        return 10 <= n <= 17
    if n == 10:
        return True
    if n == 11:
        return digits[0] in "01"
    if n == 12:
        return digits[0] == "0"
    return n == 13 and digits.startswith("86") and _CN_MOBILE.fullmatch(digits[2:]) is not None


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    digits: str   # "" for "+", "X" for the ID's check letter
    plus: bool = False


def _tokens(text: str) -> Iterator[_Token]:
    for m in _TOKEN.finditer(text):
        if m["digits"]:
            yield _Token(m.start(), m.end(), m["digits"])
        elif m["repeat"]:
            yield _Token(m.start(), m.end(),
                         str(UNITS[m["repeated"].lower()]) * REPEAT[m["repeat"].lower()])
        elif m["word"]:
            yield _Token(m.start(), m.end(), str(UNITS[m["word"].lower()]))
        elif m["cn"]:
            yield _Token(m.start(), m.end(), str(CN_DIGITS[m["cn"]]))
        elif m["x"]:
            yield _Token(m.start(), m.end(), "X")
        else:
            yield _Token(m.start(), m.end(), "", plus=True)


def _runs(text: str) -> Iterator[list[_Token]]:
    """Tokens that read as one number: only separators between them."""
    run: list[_Token] = []
    for token in _tokens(text):
        if run and _GAP.fullmatch(text, run[-1].end, token.start) is None:
            yield run
            run = []
        run.append(token)
    if run:
        yield run


def _strong(window: list[_Token]) -> str | None:
    """`[id]` or `[card ••••1234]` for a number made of exactly these tokens, or None."""
    digits = "".join(t.digits for t in window)
    if len(digits) < _MIN_MASKED or any(t.plus for t in window):
        return None
    if cn_id_ok(digits):
        return "[id]"
    return f"[card ••••{digits[-4:]}]" if digits.isdigit() and _is_card(digits) else None


def _weak(window: list[_Token]) -> str | None:
    """`[phone]` or `[number]` for a number made of exactly these tokens, or None."""
    digits = "".join(t.digits for t in window)
    if len(digits) < _MIN_MASKED or not digits.isdigit() or any(t.plus for t in window[1:]):
        return None
    if _is_phone(digits, window[0].plus):
        return "[phone]"
    return "[number]" if len(digits) >= _LONG else None


def _longest(run: list[_Token], classify: Callable[[list[_Token]], str | None]
             ) -> Iterator[tuple[int, int, str]]:
    """(first, end, mask) token spans `classify` masks, left to right, the longest at each (of
    at most `_MAX_TOKENS`, so a long spoken run costs linear time)."""
    i = 0
    while i < len(run):
        for j in range(min(len(run), i + _MAX_TOKENS), i, -1):
            mask = classify(run[i:j])
            if mask:
                yield i, j, mask
                i = j
                break
        else:
            i += 1


def _number_masks(text: str, pieces: dict[str, str] | None = None
                  ) -> Iterator[tuple[int, int, str]]:
    """(start, end, mask) of every number to mask, left to right. Cards and IDs are looked for
    first, so a phone-shaped prefix ("Oh, 4532 0151 112...") cannot split a card number; phones
    and other long numbers in what is left. `pieces` are digit strings masked wherever they
    are read as a whole number or a token-aligned part of one (see `Redactor.heard`)."""
    strong = _strong
    if pieces:
        def strong(window: list[_Token]) -> str | None:
            return pieces.get("".join(t.digits for t in window)) or _strong(window)
    for run in _runs(text):
        if not pieces and sum(len(t.digits) for t in run) < _MIN_MASKED:
            continue
        done = 0
        for i, j, mask in [*_longest(run, strong), (len(run), len(run), "")]:
            for a, b, weak in _longest(run[done:i], _weak):
                start, end = run[done + a].start, run[done + b - 1].end
                if text[start - 1:start] == "(" and ")" in text[start:end]:
                    start -= 1  # "(415) 555-0123"
                yield start, end, weak
            if mask:
                yield run[i].start, run[j - 1].end, mask
            done = j


class Redactor:
    """Masks personal data in text and in event data (see the module's rules).

    `patterns` are the plan's extra (name, regular expression) pairs, masked as `[name]`.
    Text without a digit, a digit word or an "@" costs one regular-expression scan.
    """

    def __init__(self, patterns: Iterable[tuple[str, str]] = ()) -> None:
        self._patterns = [(re.compile(regex), f"[{name}]") for name, regex in patterns]
        self._pieces: dict[str, str] = {}    # digits -> mask, from `heard`
        self._tail: list[_Token] = []        # the number the last utterance ended with

    def heard(self, utterance: str) -> None:
        """Learn one caller utterance, in call order, before anything about it is written.

        A caller who pauses while reading a number out is cut into two turns, and neither half
        need look like a card number. So a number that runs on from the end of the previous
        utterance into the start of this one is masked in both halves if the whole would be
        masked (wherever either half is written later: summaries, tickets); and a number of
        `_PIECE_MIN` to 12 digits that ends this utterance is masked at once, in case it runs
        on (the first six digits of a card may be shown, more may not). Only a redactor of
        one call may hear utterances."""
        scan = utterance if utterance.isascii() else prepare(utterance)
        runs = list(_runs(scan))
        lead = runs[0] if runs and len(_WORD.findall(scan[:runs[0][0].start])) <= _LEAD_WORDS \
            else []
        if self._tail and lead:
            mask = _strong(self._tail + lead) or _weak(self._tail + lead)
            if mask:
                self._pieces["".join(t.digits for t in self._tail)] = mask.split(" ")[0] + "]" \
                    if mask.startswith("[card") else mask
                self._pieces["".join(t.digits for t in lead)] = mask
        last = runs[-1] if runs and not _WORD.search(scan[runs[-1][-1].end:]) else []
        digits = "".join(t.digits for t in last)
        self._tail = last
        if _PIECE_MIN <= len(digits) < _LONG and digits.isdigit() \
                and not any(m for _, _, m in _number_masks(scan[last[0].start:last[-1].end])):
            self._pieces.setdefault(digits, "[number]")

    def text(self, text: str) -> str:
        """`text` with every card number, ID, phone number, e-mail and plan pattern masked."""
        for regex, mask in self._patterns:
            text = regex.sub(lambda _, mask=mask: mask, text)
        if "@" in text or " at " in text:
            text = _EMAIL.sub("[email]", text)
            text = _SPOKEN_EMAIL.sub(lambda m: "[email]" if _mailbox(m) else m.group(), text)
        scan = text if text.isascii() else prepare(text)  # full-width digits, same length
        if _TOKEN.search(scan) is None:
            return text
        out, last = [], 0
        for start, end, mask in _number_masks(scan, self._pieces):
            out += [text[last:start], mask]
            last = end
        return "".join(out) + text[last:] if out else text

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) character spans of `text` that `text()` masks, in order, overlapping
        ones merged: where a transcript with word timings says what to beep in audio."""
        found = [m.span() for regex, _ in self._patterns for m in regex.finditer(text)]
        found += [m.span() for m in _EMAIL.finditer(text)]
        found += [m.span() for m in _SPOKEN_EMAIL.finditer(text) if _mailbox(m)]
        scan = text if text.isascii() else prepare(text)
        found += [(start, end) for start, end, _ in _number_masks(scan, self._pieces)]
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def value(self, value: Any) -> Any:
        """Strings masked inside any JSON-like value (dicts, lists); other values unchanged."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value
