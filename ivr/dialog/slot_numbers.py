"""Number words shared by the slot parsers, their tokenizer, and the digits parser."""

from __future__ import annotations

import re

from ivr.text.normalize import CJK_CHARS as _CJK, pinyin, prepare

# ---- normalisation ------------------------------------------------------------------------------

TOKEN = re.compile(rf"[{_CJK}]|\d+(?:st|nd|rd|th)\b|\d+|[a-z]+(?:'[a-z]+)*|\+")
"""One token of prepared, lower-cased text (see `tokenize`)."""


def tokenize(text: str) -> list[str]:
    """Lower-case tokens: one per CJK character, words (apostrophes dropped: "don't" -> "dont"),
    digit runs, ordinals like "3rd", and "+"."""
    return [t.replace("'", "") for t in TOKEN.findall(prepare(text).lower())]


# ---- digits -------------------------------------------------------------------------------------

UNITS = {"zero": 0, "oh": 0, "o": 0, "nought": 0, "naught": 0, "nil": 0, "one": 1, "two": 2,
          "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}
REPEAT = {"double": 2, "triple": 3, "treble": 3}
# Words Whisper writes for a spoken digit; only taken as digits next to other digits.
_HOMOPHONES = {"won": "1", "too": "2", "to": "2", "for": "4", "fore": "4", "ate": "8"}
CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}


# Toneless syllables of the Chinese digits (幺 is how 1 is read out in phone numbers). Whisper writes
# a digit said alone as another character with its sound ("以5987654321" for 一五九...).
_DIGIT_SOUNDS = {"ling": "0", "yi": "1", "yao": "1", "er": "2", "san": "3", "si": "4", "wu": "5",
                 "liu": "6", "qi": "7", "ba": "8", "jiu": "9"}
_DIGIT_CHARS = frozenset("0123456789") | frozenset(CN_DIGITS)
_PARTICLES = frozenset("吧")   # "是138...吧": a sentence's last sound, not an 8


def digit_sounds(text: str) -> str:
    """`text` with each Chinese character that sounds like a digit written as that digit where
    it stands in a read-out number: between two digits (13就00 -> 13900), after the last one
    (1862034779亿 -> 18620347791), or as a 1 that starts one (以5987 -> 15987: mainland mobile
    numbers start with 1, and whisper writes a lone yi as a word); not 吧 after a number, a
    particle, nor another digit before the first (就138 is "just 138"). A guess: the slot
    parsers take it only when it gives the length a node waits for."""
    chars = list(text)
    for i, ch in enumerate(chars):
        digit = None if ch in _DIGIT_CHARS else _DIGIT_SOUNDS.get(pinyin(ch))
        before = i > 0 and chars[i - 1] in _DIGIT_CHARS
        after = i + 1 < len(chars) and chars[i + 1] in _DIGIT_CHARS
        if digit is not None and ((before and (after or ch not in _PARTICLES))
                                  or (after and digit == "1")):
            chars[i] = digit
    return "".join(chars)


def _single_digit(token: str) -> str | None:
    if token in UNITS:
        return str(UNITS[token])
    if token in CN_DIGITS:
        return str(CN_DIGITS[token])
    if len(token) == 1 and token.isdigit():
        return token
    return None


def is_numeric(token: str | None) -> bool:
    return token is not None and (token.isdigit() or token in UNITS or token in TEENS
                                  or token in TENS or token in CN_DIGITS or token == "十"
                                  or token in REPEAT)


def spoken_digits(tokens: list[str]) -> str:
    """The digits said in `tokens` ("oh four double five" -> "0455", "二十三" -> "23",
    "five hundred" -> "500"); other words are skipped."""
    out = ""
    pad = 0  # trailing zeros of "hundred"/"thousand" that the next number may fill
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        prev = tokens[i - 1] if i > 0 else None
        piece: str | None = None
        step = 1
        if tok.isdigit():
            piece = tok
        elif tok in ("oh", "o") and not (is_numeric(prev) or is_numeric(nxt)):
            piece = None  # "Oh, I think it's..." is not a zero
        elif tok in UNITS or tok in CN_DIGITS:
            piece = _single_digit(tok)
            if tok in CN_DIGITS and nxt == "十":  # 二十, 二十三
                unit = _single_digit(tokens[i + 2]) if i + 2 < len(tokens) else None
                unit = unit if unit is not None and tokens[i + 2] in CN_DIGITS else None
                piece = f"{piece}{unit or '0'}"
                step = 3 if unit else 2
        elif tok == "十":  # 十, 十五
            unit = _single_digit(nxt) if nxt in CN_DIGITS else None
            piece = f"1{unit or '0'}"
            step = 2 if unit else 1
        elif tok in TEENS:
            piece = str(TEENS[tok])
        elif tok in TENS:
            unit = UNITS.get(nxt or "")
            if unit and nxt not in ("oh", "o"):
                piece, step = str(TENS[tok] + unit), 2
            else:
                piece = str(TENS[tok])
        elif tok in REPEAT and nxt is not None and _single_digit(nxt) is not None:
            piece, step = _single_digit(nxt) * REPEAT[tok], 2
        elif tok in ("hundred", "thousand", "百", "千") and out and is_numeric(prev):
            zeros = 2 if tok in ("hundred", "百") else 3
            out += "0" * zeros
            pad = zeros
            i += 1
            continue
        elif tok == "and" and pad:
            i += 1
            continue
        elif tok in _HOMOPHONES:
            before, after = is_numeric(prev), is_numeric(nxt)
            if (before and after) or (tok not in ("to", "for") and (before or after)):
                piece = _HOMOPHONES[tok]
        if piece is None:
            pad = 0
        elif pad and len(piece) <= pad:
            out = out[:len(out) - len(piece)] + piece
            pad = 0
        else:
            out += piece
            pad = 0
        i += step
    return out


def parse_digits(text: str, length: int | None = None) -> str | None:
    """Digits from words, digit strings ("12-34 56") or Chinese (一二三, 幺, 两, 零)."""
    digits = spoken_digits(tokenize(text))
    if not digits or (length is not None and len(digits) != length):
        return None
    return digits


# ---- yes / no -----------------------------------------------------------------------------------
