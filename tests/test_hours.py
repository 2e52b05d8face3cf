"""Business hours: time zones with daylight saving, holidays, 24:00, overnight spans."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.dialplan.hours import describe, is_open, schedule
from ivr.dialplan.model import Hours

UTC = datetime.timezone.utc


def at(*args, tz=UTC):
    return datetime.datetime(*args, tzinfo=tz)


def hours(**kwargs):
    kwargs.setdefault("closed_node", "closed")
    return Hours(**kwargs)


NEW_YORK = hours(timezone="America/New_York", open={"mon-fri": "09:00-17:00"})


@pytest.mark.parametrize("now,expected", [
    # Winter (EST, UTC-5): 09:00 local is 14:00 UTC.
    (at(2025, 1, 15, 13, 59), False),
    (at(2025, 1, 15, 14, 0), True),
    (at(2025, 1, 15, 21, 59), True),
    (at(2025, 1, 15, 22, 0), False),
    # Summer (EDT, UTC-4): 09:00 local is 13:00 UTC.
    (at(2025, 7, 16, 12, 59), False),
    (at(2025, 7, 16, 13, 0), True),
    (at(2025, 7, 16, 20, 59), True),
    (at(2025, 7, 16, 21, 0), False),
])
def test_daylight_saving_is_followed(now, expected):
    assert is_open(NEW_YORK, now) is expected


def test_dst_change_day():
    # Monday 2025-03-10 is the first weekday after New York moved to EDT (Sunday 2025-03-09).
    assert is_open(NEW_YORK, at(2025, 3, 10, 13, 30))
    assert not is_open(NEW_YORK, at(2025, 3, 7, 13, 30))   # Friday before: still 08:30 EST
    london = hours(timezone="Europe/London", open={"sun": "00:00-24:00"})
    # 2025-03-30 01:30 local does not exist; 00:30 UTC is 00:30 GMT, 01:30 UTC is 02:30 BST.
    assert is_open(london, at(2025, 3, 30, 0, 30)) and is_open(london, at(2025, 3, 30, 22, 59))
    assert not is_open(london, at(2025, 3, 30, 23, 0))      # already Monday 00:00 BST


def test_other_offsets_are_converted():
    tokyo = ZoneInfo("Asia/Tokyo")
    assert is_open(NEW_YORK, at(2025, 7, 17, 2, 0, tz=tokyo))  # Wed 13:00 in New York
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(NEW_YORK, datetime.datetime(2025, 7, 16, 13, 0))


def test_holidays_close_all_day():
    plan = hours(timezone="Europe/Berlin", open={"mon-sun": "00:00-24:00"},
                 holidays=["2025-12-25"])
    assert is_open(plan, at(2025, 12, 24, 22, 59))             # 23:59 on the 24th in Berlin
    assert not is_open(plan, at(2025, 12, 24, 23, 0))          # 00:00 on the 25th in Berlin
    assert not is_open(plan, at(2025, 12, 25, 12, 0))
    assert not is_open(plan, at(2025, 12, 25, 22, 59))
    assert is_open(plan, at(2025, 12, 25, 23, 0))              # 00:00 on the 26th


def test_24_00_is_end_of_day():
    plan = hours(open={"fri": "18:00-24:00"})
    assert is_open(plan, at(2025, 3, 14, 23, 59, 59))           # Friday
    assert not is_open(plan, at(2025, 3, 15, 0, 0))             # Saturday
    assert not is_open(plan, at(2025, 3, 14, 17, 59))


def test_closed_and_unnamed_days():
    plan = hours(open={"mon-fri": "09:00-17:00", "sat": "closed"})
    assert not is_open(plan, at(2025, 3, 15, 12, 0))            # Saturday: closed
    assert not is_open(plan, at(2025, 3, 16, 12, 0))            # Sunday: not listed
    assert is_open(plan, at(2025, 3, 14, 12, 0))                # Friday


def test_single_day_overrides_range():
    plan = hours(open={"mon-fri": "09:00-17:00", "wed": "closed", "fri": "09:00-12:00"})
    assert not is_open(plan, at(2025, 3, 12, 10, 0))            # Wednesday
    assert is_open(plan, at(2025, 3, 13, 16, 0))                # Thursday
    assert is_open(plan, at(2025, 3, 14, 11, 0)) and not is_open(plan, at(2025, 3, 14, 13, 0))
    reverse = hours(open={"sat": "10:00-14:00", "mon-sun": "closed"})
    assert is_open(reverse, at(2025, 3, 15, 11, 0)) and not is_open(reverse, at(2025, 3, 17, 11, 0))


def test_overnight_and_wrapping_ranges():
    plan = hours(open={"fri-sat": "22:00-06:00"})
    assert is_open(plan, at(2025, 3, 14, 23, 0))                # Friday night
    assert is_open(plan, at(2025, 3, 15, 5, 59))                # Saturday morning (from Friday)
    assert is_open(plan, at(2025, 3, 16, 3, 0))                 # Sunday morning (from Saturday)
    assert not is_open(plan, at(2025, 3, 14, 3, 0))             # Friday morning (Thursday closed)
    assert not is_open(plan, at(2025, 3, 15, 12, 0))
    weekend = hours(open={"fri-mon": "10:00-16:00"})
    assert [day is not None for day in schedule(weekend)] == [True, False, False, False, True,
                                                              True, True]


def test_describe():
    plan = hours(timezone="Europe/London",
                 open={"mon-fri": "09:00-17:30", "sat": "10:00-14:00", "sun": "closed"},
                 holidays=["2025-12-26", "2025-12-25"])
    assert describe(plan) == ("mon-fri 09:00-17:30, sat 10:00-14:00, sun closed (Europe/London); "
                              "closed on 2025-12-25, 2025-12-26")
    assert describe(hours(open={"mon-sun": "00:00-24:00"})) == "mon-sun 24 hours (UTC)"
