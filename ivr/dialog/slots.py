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
import unicodedata

__all__ = ["parse_slot", "parse_digits", "parse_yes_no", "parse_date", "parse_phone",
           "parse_account", "parse_text", "DigitCollector"]

# ---- normalisation ------------------------------------------------------------------------------

_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"}
# Traditional -> simplified for the characters these parsers look at (Whisper sometimes writes
# traditional characters for Mandarin).
_TRAD = str.maketrans({"對": "对", "沒": "没", "錯": "错", "號": "号", "週": "周", "後": "后",
                       "兩": "两", "個": "个", "禮": "礼", "確": "确", "麼": "么", "這": "这",
                       "當": "当", "會": "会", "問": "问", "題": "题", "語": "语", "準": "准"})
_CJK = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"


def _prepare(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII), straight apostrophes, simplified Chinese."""
    text = unicodedata.normalize("NFKC", text)
    for curly, straight in _APOSTROPHES.items():
        text = text.replace(curly, straight)
    return text.translate(_TRAD)


_WORD = re.compile(rf"[{_CJK}]|\d+(?:st|nd|rd|th)\b|\d+|[a-z]+(?:'[a-z]+)*|\+")


def _tokens(text: str) -> list[str]:
    """Lower-case tokens: one per CJK character, words (apostrophes dropped: "don't" -> "dont"),
    digit runs, ordinals like "3rd", and "+"."""
    return [t.replace("'", "") for t in _WORD.findall(_prepare(text).lower())]


# ---- digits -------------------------------------------------------------------------------------

_UNITS = {"zero": 0, "oh": 0, "o": 0, "nought": 0, "naught": 0, "nil": 0, "one": 1, "two": 2,
          "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
          "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}
_REPEAT = {"double": 2, "triple": 3, "treble": 3}
# Words Whisper writes for a spoken digit; only taken as digits next to other digits.
_HOMOPHONES = {"won": "1", "too": "2", "to": "2", "for": "4", "fore": "4", "ate": "8"}
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}


def _single_digit(token: str) -> str | None:
    if token in _UNITS:
        return str(_UNITS[token])
    if token in _CN_DIGITS:
        return str(_CN_DIGITS[token])
    if len(token) == 1 and token.isdigit():
        return token
    return None


def _is_numeric(token: str | None) -> bool:
    return token is not None and (token.isdigit() or token in _UNITS or token in _TEENS
                                  or token in _TENS or token in _CN_DIGITS or token == "十"
                                  or token in _REPEAT)


def _spoken_digits(tokens: list[str]) -> str:
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
        elif tok in ("oh", "o") and not (_is_numeric(prev) or _is_numeric(nxt)):
            piece = None  # "Oh, I think it's..." is not a zero
        elif tok in _UNITS or tok in _CN_DIGITS:
            piece = _single_digit(tok)
            if tok in _CN_DIGITS and nxt == "十":  # 二十, 二十三
                unit = _single_digit(tokens[i + 2]) if i + 2 < len(tokens) else None
                unit = unit if unit is not None and tokens[i + 2] in _CN_DIGITS else None
                piece = f"{piece}{unit or '0'}"
                step = 3 if unit else 2
        elif tok == "十":  # 十, 十五
            unit = _single_digit(nxt) if nxt in _CN_DIGITS else None
            piece = f"1{unit or '0'}"
            step = 2 if unit else 1
        elif tok in _TEENS:
            piece = str(_TEENS[tok])
        elif tok in _TENS:
            unit = _UNITS.get(nxt or "")
            if unit and nxt not in ("oh", "o"):
                piece, step = str(_TENS[tok] + unit), 2
            else:
                piece = str(_TENS[tok])
        elif tok in _REPEAT and nxt is not None and _single_digit(nxt) is not None:
            piece, step = _single_digit(nxt) * _REPEAT[tok], 2
        elif tok in ("hundred", "thousand", "百", "千") and out and _is_numeric(prev):
            zeros = 2 if tok in ("hundred", "百") else 3
            out += "0" * zeros
            pad = zeros
            i += 1
            continue
        elif tok == "and" and pad:
            i += 1
            continue
        elif tok in _HOMOPHONES:
            before, after = _is_numeric(prev), _is_numeric(nxt)
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
    digits = _spoken_digits(_tokens(text))
    if not digits or (length is not None and len(digits) != length):
        return None
    return digits


# ---- yes / no -----------------------------------------------------------------------------------

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
       "it isnt", "it does not", "it did not", "i do not", "i did not", "nothing",
       "不", "不是", "不对", "没有", "没", "不行", "不用", "不要", "错", "错了", "不可以", "否",
       "不需要", "不正确", "没用", "不好"]
_UNSURE = ["maybe", "perhaps", "not sure", "im not sure", "dont know", "i dont know", "no idea",
           "possibly", "sometimes", "kind of", "sort of", "i guess", "unsure",
           "不知道", "不确定", "也许", "可能", "不清楚", "说不好", "不一定", "好像"]
# Digit-by-digit "yes"/"no" for keypad answers (1 = yes, 2 = no as in the survey node).
_KEY_ANSWER = {"1": "yes", "2": "no"}


def _phrase_table() -> list[tuple[list[str], str]]:
    table = [(_tokens(p), label) for label, phrases in (("yes", _YES), ("no", _NO),
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
    tokens = _tokens(text)
    if len(tokens) == 1 and tokens[0] in _KEY_ANSWER:
        return _KEY_ANSWER[tokens[0]]
    labels = _labels(tokens)
    if "unsure" in labels or len(labels) != 1:
        return None
    return labels.pop()


# ---- dates --------------------------------------------------------------------------------------

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = {name: i + 1 for i, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"])}
_MONTHS.update({name[:3]: num for name, num in list(_MONTHS.items())})
_MONTHS.update({"sept": 9})
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12,
             "thirteenth": 13, "fourteenth": 14, "fifteenth": 15, "sixteenth": 16,
             "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
             "thirtieth": 30}
_CN_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
               "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}


def _ordinal_text(text: str) -> str:
    """English with spoken numbers as digits: "twenty third of march" -> "23rd of march",
    "march three" -> "march 3", "in two days" -> "in 2 days"."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        w, nxt = words[i], words[i + 1] if i + 1 < len(words) else ""
        if w in _TENS and (nxt in _ORDINALS or _UNITS.get(nxt)):
            if nxt in _ORDINALS and _ORDINALS[nxt] < 10:
                out.append(f"{_TENS[w] + _ORDINALS[nxt]}th")
            elif nxt in _UNITS and nxt not in ("oh", "o"):
                out.append(str(_TENS[w] + _UNITS[nxt]))
            else:
                out.append(w)
                i += 1
                continue
            i += 2
            continue
        if w in _ORDINALS:
            out.append(f"{_ORDINALS[w]}th")
        elif w in _TENS:
            out.append(str(_TENS[w]))
        elif w in _TEENS:
            out.append(str(_TEENS[w]))
        elif w in _UNITS and w not in ("oh", "o"):
            out.append(str(_UNITS[w]))
        else:
            out.append(w)
        i += 1
    return " ".join(out)


def _shift_weekday(today: datetime.date, weekday: int, mode: str) -> datetime.date:
    """mode: 'next' (next calendar week), 'next2' (the week after), 'this' (this calendar
    week), 'coming' (first one after today)."""
    monday = today - datetime.timedelta(days=today.weekday())
    if mode == "next":
        return monday + datetime.timedelta(days=7 + weekday)
    if mode == "next2":
        return monday + datetime.timedelta(days=14 + weekday)
    if mode == "this":
        return monday + datetime.timedelta(days=weekday)
    return today + datetime.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _month_day(today: datetime.date, month: int, day: int,
               year: int | None) -> datetime.date | None:
    """That day and month in `year`, else the first one on or after today (skipping years
    where it does not exist, like February 29)."""
    if year is not None:
        try:
            return datetime.date(year, month, day)
        except ValueError:
            return None
    for y in range(today.year, today.year + 9):
        try:
            candidate = datetime.date(y, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _day_of_month(today: datetime.date, day: int) -> datetime.date | None:
    """The first date on or after today with that day of the month ("the 14th")."""
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = datetime.date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _cn_int(text: str) -> int | None:
    """An integer written in Chinese numerals or digits ("十二" 12, "二十" 20, "二〇二五" 2025)."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        head, _, tail = text.partition("十")
        if len(head) > 1 or len(tail) > 1:
            return None
        tens = _CN_DIGITS.get(head, None) if head else 1
        unit = _CN_DIGITS.get(tail, None) if tail else 0
        if tens is None or unit is None:
            return None
        return tens * 10 + unit
    if all(ch in _CN_DIGITS for ch in text):
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    return None


_ISO = re.compile(r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)")
_CN_NUM = "[0-9零〇一二两三四五六七八九十]"
_CN_DATE = re.compile(
    rf"(?:({_CN_NUM}{{4}})年)?({_CN_NUM}{{1,3}})月(?:份)?({_CN_NUM}{{1,3}})(?:日|号)?")
_CN_DAY = re.compile(rf"({_CN_NUM}{{1,3}})(?:日|号)")
_CN_WEEK = re.compile(r"(下下|下个|下|这个|这|本)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
_CN_RELATIVE = [("大后天", 3), ("后天", 2), ("明天", 1), ("明日", 1), ("今天", 0), ("今日", 0),
                ("昨天", -1)]

_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"(?:,?\s+(?:of\s+)?(\d{4}))?"
_EN_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}\b{_YEAR}")
_EN_DAY_MONTH = re.compile(rf"\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}(?![a-z]){_YEAR}")
_EN_NTH = re.compile(r"(?:\bthe\s+|^)(\d{1,2})(?:st|nd|rd|th)\b")
_EN_WEEKDAY = re.compile(r"\b(?:(next|this|coming)\s+(?:week\s+)?)?(?:on\s+)?("
                         + "|".join(_WEEKDAYS) + r")s?\b(\s+next\s+week|\s+after\s+next)?")
_EN_IN_DAYS = re.compile(r"\bin\s+(a|an|\d{1,3})\s+(day|days|week|weeks)\b")


def _parse_date_en(text: str, today: datetime.date) -> datetime.date | None:
    lowered = " ".join(re.sub(r"[^\w\s]", " ", text.lower().replace("'", "")).split())
    words = _ordinal_text(lowered)
    if "day after tomorrow" in words:
        return today + datetime.timedelta(days=2)
    match = _EN_MONTH_DAY.search(words)
    if match:
        return _month_day(today, _MONTHS[match[1]], int(match[2]),
                          int(match[3]) if match[3] else None)
    match = _EN_DAY_MONTH.search(words)
    if match:
        return _month_day(today, _MONTHS[match[2]], int(match[1]),
                          int(match[3]) if match[3] else None)
    match = _EN_WEEKDAY.search(words)
    if match:
        weekday = _WEEKDAYS.index(match[2])
        if match[3] and "after" in match[3]:
            mode = "next2"
        elif match[1] == "next" or match[3]:
            mode = "next"
        elif match[1] == "this":
            mode = "this"
        else:
            mode = "coming"
        return _shift_weekday(today, weekday, mode)
    match = _EN_IN_DAYS.search(words)
    if match:
        count = 1 if match[1] in ("a", "an") else int(match[1])
        return today + datetime.timedelta(days=count * (7 if match[2].startswith("week") else 1))
    for word, delta in (("tomorrow", 1), ("today", 0), ("tonight", 0), ("yesterday", -1)):
        if re.search(rf"\b{word}\b", words):
            return today + datetime.timedelta(days=delta)
    match = _EN_NTH.search(words)
    if match:
        return _day_of_month(today, int(match[1]))
    return None


def _parse_date_zh(text: str, today: datetime.date) -> datetime.date | None:
    compact = re.sub(r"\s+", "", text)
    match = _CN_DATE.search(compact)
    if match:
        year = _cn_int(match[1]) if match[1] else None
        month, day = _cn_int(match[2]), _cn_int(match[3])
        if month is None or day is None or (match[1] and year is None):
            return None
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return _month_day(today, month, day, year)
    match = _CN_WEEK.search(compact)
    if match:
        prefix = match[1] or ""
        mode = {"下下": "next2", "下个": "next", "下": "next", "这个": "this", "这": "this",
                "本": "this"}.get(prefix, "coming")
        return _shift_weekday(today, _CN_WEEKDAY[match[2]], mode)
    for word, delta in _CN_RELATIVE:
        if word in compact:
            return today + datetime.timedelta(days=delta)
    match = _CN_DAY.search(compact)
    if match:
        day = _cn_int(match[1])
        return _day_of_month(today, day) if day and 1 <= day <= 31 else None
    return None


def parse_date(text: str, today: datetime.date, language: str = "en") -> str | None:
    """An ISO date from ISO text, keypad YYYYMMDD, or English / Chinese dates relative to today."""
    prepared = _prepare(text).strip()
    if re.fullmatch(r"\d{8}", prepared):  # keypad entry YYYYMMDD
        try:
            day = datetime.date(int(prepared[:4]), int(prepared[4:6]), int(prepared[6:]))
            return day.isoformat()
        except ValueError:
            return None
    match = _ISO.search(prepared)
    if match:
        try:
            return datetime.date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        except ValueError:
            return None
    parsers = [_parse_date_zh, _parse_date_en]
    if not language.startswith("zh"):
        parsers.reverse()
    for parser in parsers:
        result = parser(prepared, today)
        if result is not None:
            return result.isoformat()
    return None


# ---- phone, account, text -----------------------------------------------------------------------

def parse_phone(text: str, length: int | None = None) -> str | None:
    """7-15 digits; a leading "+", "plus" or 加 is kept as "+"."""
    tokens = _tokens(text)
    first_numeric = next((i for i, t in enumerate(tokens) if _is_numeric(t)), len(tokens))
    plus = any(t in ("+", "plus", "加") for t in tokens[:first_numeric])
    digits = _spoken_digits(tokens)
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
_NUMBER_WORDS = set(_UNITS) | set(_TEENS) | set(_TENS) | {"hundred", "thousand"}


def parse_account(text: str, length: int | None = None) -> str | None:
    """6-16 letters and digits: codes as written ("AB-1234"), spelled letters ("A B 1 2 3 4"),
    NATO words ("alpha bravo"), spoken digits, "double"/"triple"; other words are skipped and the
    longest run of code pieces is taken ("my serial is SN 4 4 7 1 9 2" -> "SN447192")."""
    prepared = _prepare(text).replace("x-ray", "xray").replace("X-ray", "xray")
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
        if low in _NUMBER_WORDS or low in _REPEAT or low == "oh":
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
        if numbers and numbers[-1] in _REPEAT:
            repeat = _REPEAT[numbers.pop()]
        if numbers:
            out += _spoken_digits(numbers)
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
