"""Dates from caller speech (English and Chinese), relative to today."""

from __future__ import annotations

import datetime
import re

from ivr.dialog.slot_numbers import CN_DIGITS, TEENS, TENS, UNITS, prepare

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = {name: i + 1 for i, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"])}
_MONTHS.update({name[:3]: num for name, num in list(_MONTHS.items())})
_MONTHS.update({"sept": 9})
MONTH_NAMES = frozenset(_MONTHS)
"""English month names and their short forms, lower case."""
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
        if w in TENS and (nxt in _ORDINALS or UNITS.get(nxt)):
            if nxt in _ORDINALS and _ORDINALS[nxt] < 10:
                out.append(f"{TENS[w] + _ORDINALS[nxt]}th")
            elif nxt in UNITS and nxt not in ("oh", "o"):
                out.append(str(TENS[w] + UNITS[nxt]))
            else:
                out.append(w)
                i += 1
                continue
            i += 2
            continue
        if w in _ORDINALS:
            out.append(f"{_ORDINALS[w]}th")
        elif w in TENS:
            out.append(str(TENS[w]))
        elif w in TEENS:
            out.append(str(TEENS[w]))
        elif w in UNITS and w not in ("oh", "o"):
            out.append(str(UNITS[w]))
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
        tens = CN_DIGITS.get(head, None) if head else 1
        unit = CN_DIGITS.get(tail, None) if tail else 0
        if tens is None or unit is None:
            return None
        return tens * 10 + unit
    if all(ch in CN_DIGITS for ch in text):
        return int("".join(str(CN_DIGITS[ch]) for ch in text))
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
    prepared = prepare(text).strip()
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
