"""Business hours: is the hotline open at a given instant, and a one-line description.

Rules (`Hours.open` maps day keys to spans):
  * a key is one day ("sat") or a range ("mon-fri"; a range may wrap: "fri-mon");
  * the span is "HH:MM-HH:MM" in the hotline's time zone, or "closed"; an end of 24:00 means the
    end of the day; an end earlier than the start runs past midnight into the next day
    ("22:00-06:00"); a span with equal start and end is empty;
  * when several keys name a day, the most specific wins: a single day beats a range, a shorter
    range beats a longer one (so "mon-fri: 09:00-17:00" with "wed: closed" closes Wednesdays);
  * days no key names are closed; a holiday (YYYY-MM-DD, local date) is closed all day, including
    the early-morning tail of the previous evening's overnight span.
The instant is converted to `Hours.timezone` with zoneinfo, so daylight saving time is followed.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from ivr.dialplan.model import DAYS, Hours

__all__ = ["is_open", "describe", "schedule"]

_END_OF_DAY = 24 * 60


def _days(key: str) -> list[int]:
    """Weekday numbers (Monday 0) a key names: "sat", "mon-fri", "fri-mon"."""
    parts = key.split("-")
    first, last = DAYS.index(parts[0]), DAYS.index(parts[-1])
    return [(first + i) % 7 for i in range((last - first) % 7 + 1)]


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return min(int(hours) * 60 + int(minutes), _END_OF_DAY)


def schedule(hours: Hours) -> list[tuple[int, int] | None]:
    """The span that applies to each weekday (Monday first) as (start, end) minutes after
    midnight, end possibly <= start for an overnight span; None when closed."""
    chosen: list[tuple[int, str] | None] = [None] * 7  # (specificity, span)
    for key, span in hours.open.items():
        days = _days(key)
        for day in days:
            current = chosen[day]
            if current is None or len(days) <= current[0]:
                chosen[day] = (len(days), span)
    result: list[tuple[int, int] | None] = []
    for entry in chosen:
        if entry is None or entry[1] == "closed":
            result.append(None)
            continue
        start, end = entry[1].split("-")
        result.append((_minutes(start), _minutes(end)))
    return result


def is_open(hours: Hours, now: datetime.datetime) -> bool:
    """True when the hotline is open at the instant `now` (which must be timezone-aware)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("is_open needs a timezone-aware datetime (e.g. datetime.now(UTC))")
    local = now.astimezone(ZoneInfo(hours.timezone))
    if local.date().isoformat() in hours.holidays:
        return False
    minute = local.hour * 60 + local.minute
    spans = schedule(hours)
    today = spans[local.weekday()]
    if today is not None:
        start, end = today
        if start < end and start <= minute < end:
            return True
        if end < start and minute >= start:  # overnight span, evening part
            return True
    yesterday = spans[(local.weekday() - 1) % 7]
    if yesterday is not None:
        start, end = yesterday
        if end < start and minute < end:  # overnight span from yesterday, morning part
            return True
    return False


def describe(hours: Hours) -> str:
    """One line for people: "mon-fri 09:00-17:00, sat 10:00-14:00, sun closed (Europe/London);
    closed on 2025-12-25"."""
    spans = schedule(hours)
    groups: list[tuple[int, int, tuple[int, int] | None]] = []
    for day, span in enumerate(spans):
        if groups and groups[-1][2] == span and groups[-1][1] == day - 1:
            groups[-1] = (groups[-1][0], day, span)
        else:
            groups.append((day, day, span))
    parts = []
    for first, last, span in groups:
        days = DAYS[first] if first == last else f"{DAYS[first]}-{DAYS[last]}"
        if span is None:
            parts.append(f"{days} closed")
        elif span[0] == span[1]:
            parts.append(f"{days} closed")
        elif span == (0, _END_OF_DAY):
            parts.append(f"{days} 24 hours")
        else:
            parts.append(f"{days} {_hhmm(span[0])}-{_hhmm(span[1])}")
    text = f"{', '.join(parts)} ({hours.timezone})"
    if hours.holidays:
        text += f"; closed on {', '.join(sorted(hours.holidays))}"
    return text


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
