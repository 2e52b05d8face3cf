"""Slot parsers on Whisper-style English and Chinese text and on keypad digits."""

from __future__ import annotations

import datetime

import pytest

from ivr.dialog.slot_numbers import digit_sounds
from ivr.dialog.slots import DigitCollector, parse_slot

WEDNESDAY = datetime.date(2025, 3, 12)  # a Wednesday


def slot(kind, text, length=None, language="en", today=WEDNESDAY):
    return parse_slot(kind, text, length, language, today)


@pytest.mark.parametrize("text,length,expected", [
    ("one two three four", 4, "1234"),
    ("One, two, three, four.", 4, "1234"),
    ("oh four double five", None, "0455"),
    ("triple 7 2", 4, "7772"),
    ("double oh seven", 3, "007"),
    ("four oh two", 3, "402"),
    ("Oh, I think it's 1 2 3 4.", 4, "1234"),      # a leading "oh" is not a zero
    ("12-34 56", 6, "123456"),
    ("1 2 3 4", 4, "1234"),
    ("My PIN is 4, 4, 2, 1.", 4, "4421"),
    ("twenty three forty five", 4, "2345"),
    ("five hundred and twelve", 3, "512"),
    ("一二三四", 4, "1234"),
    ("幺三八两零", 5, "13820"),
    ("零零七", 3, "007"),
    ("一 二 三，四五。", 5, "12345"),
    ("１２３４", 4, "1234"),          # full-width digits
    ("one two three", 4, None),      # wrong length
    ("I don't know", None, None),
    ("", None, None),
])
def test_digits(text, length, expected):
    assert slot("digits", text, length) == expected


def test_digit_homophones_only_between_digits():
    assert slot("digits", "one two for five", 4) == "1245"
    assert slot("digits", "I want to pay", None) is None


@pytest.mark.parametrize("text,heard", [
    ("以5987654321", "15987654321"),          # a lone yi starting the number, written as a word
    ("1862034779亿", "18620347791"),          # ... or ending it
    ("1588664寺", "15886644"),                # si after the last digit: 4
    ("13就00", "13900"),                       # between two digits, any digit's sound
    ("电话是以我88664", "电话是以我88664"),     # 以 before a word is no digit
    ("就13812345678", "就13812345678"),        # nor another digit's sound before the first
    ("是1381234567吧", "是1381234567吧"),      # 吧 after a number is a particle
    ("我的预约以后再说", "我的预约以后再说"),   # no digit anywhere: nothing read as one
])
def test_characters_that_sound_like_digits_are_read_as_digits_only_in_a_number(text, heard):
    assert digit_sounds(text) == heard


@pytest.mark.parametrize("text,expected", [
    ("Yes.", "yes"), ("Yeah.", "yes"), ("Yep", "yes"), ("Correct.", "yes"),
    ("That's right.", "yes"), ("That’s right", "yes"), ("Sure.", "yes"), ("Yes, it did.", "yes"),
    ("No.", "no"), ("Nope.", "no"), ("Not really.", "no"), ("Wrong.", "no"),
    ("That's not right.", "no"), ("No, it didn't.", "no"), ("It is not.", "no"),
    ("是", "yes"), ("是的", "yes"), ("对", "yes"), ("對", "yes"), ("好的", "yes"), ("没错", "yes"),
    ("不", "no"), ("不是", "no"), ("不对。", "no"), ("没有", "no"), ("沒有", "no"),
    ("Alright.", "yes"), ("I don't think so.", "no"), ("No, it doesn't.", "no"),
    ("1", "yes"), ("2", "no"),
    # ambiguous or unsure -> ask again
    ("maybe", None), ("I'm not sure", None), ("yes and no", None), ("hmm", None),
    ("不知道", None), ("是不是", None), ("", None),
])
def test_yes_no(text, expected):
    assert slot("yes_no", text) == expected


@pytest.mark.parametrize("text,expected", [
    ("2025-04-01", "2025-04-01"),
    ("20250401", "2025-04-01"),                   # keypad YYYYMMDD
    ("today", "2025-03-12"),
    ("Tomorrow, please.", "2025-03-13"),
    ("the day after tomorrow", "2025-03-14"),
    ("next Monday", "2025-03-17"),
    ("Monday next week", "2025-03-17"),
    ("next Friday", "2025-03-21"),                # the Friday of next week
    ("this Friday", "2025-03-14"),
    ("on Friday", "2025-03-14"),
    ("Wednesday", "2025-03-19"),                  # a bare weekday is the next one after today
    ("March 3rd", "2026-03-03"),                  # already past this year
    ("March 20th", "2025-03-20"),
    ("the 3rd of March", "2026-03-03"),
    ("20 March", "2025-03-20"),
    ("March the twenty first", "2025-03-21"),
    ("December 25th, 2026", "2026-12-25"),
    ("the 14th", "2025-03-14"),
    ("on the fourteenth", "2025-03-14"),
    ("the 2nd", "2025-04-02"),                    # past this month -> next month
    ("in two days", "2025-03-14"),
    ("in a week", "2025-03-19"),
    ("Feb 30", None),
    ("whenever suits you", None),
    ("wait a second", None),                      # an ordinal word without "the"
])
def test_date_english(text, expected):
    assert slot("date", text) == expected


@pytest.mark.parametrize("text,expected", [
    ("今天", "2025-03-12"),
    ("明天", "2025-03-13"),
    ("后天", "2025-03-14"),
    ("後天", "2025-03-14"),
    ("大后天", "2025-03-15"),
    ("下周一", "2025-03-17"),
    ("下星期三上午", "2025-03-19"),
    ("下礼拜天", "2025-03-23"),
    ("这周五", "2025-03-14"),
    ("周五", "2025-03-14"),
    ("3月5日", "2026-03-05"),
    ("三月五号", "2026-03-05"),
    ("3月20号", "2025-03-20"),
    ("十二月二十五号", "2025-12-25"),
    ("2025年4月1日", "2025-04-01"),
    ("二〇二六年一月十日", "2026-01-10"),
    ("15号", "2025-03-15"),
    ("十三月五号", None),
    ("随便", None),
])
def test_date_chinese(text, expected):
    assert slot("date", text, language="zh") == expected


def test_date_month_end_and_leap_year():
    assert slot("date", "the 31st", today=datetime.date(2025, 4, 2)) == "2025-05-31"
    assert slot("date", "February 29th", today=datetime.date(2025, 3, 1)) == "2028-02-29"
    assert slot("date", "next monday", today=datetime.date(2025, 12, 31)) == "2026-01-05"


@pytest.mark.parametrize("text,expected", [
    ("five five five one two three four", "5551234"),
    ("+1 (555) 123-4567", "+15551234567"),
    ("plus four four seven seven double oh nine one two three four five six", "+4477009123456"),
    ("My number is 0 7 7 0 0 9 0 0 1 2 3.", "07700900123"),
    ("一三八一二三四五六七八", "13812345678"),
    ("幺三八 幺二三四 五六七八", "13812345678"),
    ("加八六 138 1234 5678", "+8613812345678"),
    ("123", None),                               # too short
    ("1234567890123456", None),                  # too long
    ("I'd rather not say", None),
])
def test_phone(text, expected):
    assert slot("phone", text) == expected


def test_phone_length():
    assert slot("phone", "555 1234", length=7) == "5551234"
    assert slot("phone", "555 1234", length=10) is None


@pytest.mark.parametrize("text,expected", [
    ("A B 1 2 3 4", "AB1234"),
    ("AB1234", "AB1234"),
    ("ab-12345", "AB12345"),
    ("My serial number is SN 4 4 7 1 9 2.", "SN447192"),
    ("I think it's XK2231", "XK2231"),
    ("alpha bravo charlie one two three", "ABC123"),
    ("double A five five five nine", "AA5559"),
    ("account number 12345678", "12345678"),
    ("AB12", None),                              # too short
    ("ABCDEFGHIJ12345678", None),                # too long
    ("I don't know", None),
])
def test_account(text, expected):
    assert slot("account", text) == expected


def test_text():
    assert slot("text", "  The display says   E 1 7 1  ") == "The display says E 1 7 1"
    assert slot("text", "   ") is None


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown slot kind 'colour'"):
        slot("colour", "red")


def test_digit_collector_length_and_clear():
    collector = DigitCollector(length=4)
    assert [collector.push(d) for d in "12*1234"] == [None] * 6 + ["1234"]
    assert collector.buffer == ""          # ready for the next entry


def test_digit_collector_terminator():
    collector = DigitCollector()
    assert [collector.push(d) for d in "5551234#"] == [None] * 7 + ["5551234"]
    assert collector.push("#") is None     # nothing entered
    short = DigitCollector(length=6)
    assert [short.push(d) for d in "123#"] == [None, None, None, "123"]


def test_digit_collector_rejects_other_keys():
    with pytest.raises(ValueError):
        DigitCollector(4).push("A")
