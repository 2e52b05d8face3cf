"""The Chinese clinic line at the dialog level: turns given as recognised text (what whisper base
outputs), so every branch of the plan is checked quickly. Mandarin callers by audio, through the
whole call session, are in test_chinese_audio.py."""

from __future__ import annotations

import datetime

import pytest

from ivr.dialog.actions import Say, Transfer
from ivr.dialog.engine import DialogEngine
from ivr.dialplan.loader import load_dialplan
from ivr.events import EventLog, ManualClock
from ivr.kb.retriever import KBEntry, Retriever

from conftest import ROOT, with_lookups

WEDNESDAY_10AM = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.timezone.utc)  # 10:00 CST


@pytest.fixture()
def dialog(engines):
    loaded = load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml")
    plan = loaded.plan
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    engine = DialogEngine(plan, Retriever(entries, engines.embedder, plan.answers.min_score),
                          None, EventLog(ManualClock()), now=WEDNESDAY_10AM)
    return engine


def spoken(step) -> str:
    return " ".join(a.text for a in step.actions if isinstance(a, Say))


def test_greets_in_chinese_first_and_books_an_appointment(dialog):
    start = dialog.start()
    assert "预约" in spoken(start) and dialog.state.node == "main_menu"
    dialog.on_text("我要预约", "zh")
    assert dialog.state.node == "book_date"
    with_lookups(dialog, dialog.on_text("明天上午", "zh"))   # the free times: no service here
    assert dialog.state.slots["appointment_date"] == "2026-11-26"
    dialog.on_text("一三八一二三四五六七八", "zh")
    assert dialog.state.slots["phone"] == "13812345678"
    done = dialog.on_text("对", "zh")
    assert dialog.state.slots["book_confirmed"] == "yes"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in spoken(done))


def test_chinese_emergency_mid_menu_transfers_to_emergency(dialog):
    dialog.start()
    step = dialog.on_text("我爸爸胸口痛，喘不上气", "zh")
    transfer = step.transfer
    assert isinstance(transfer, Transfer) and transfer.reason == "emergency"
    assert transfer.target == dialog.plan.transfer.emergency


def test_english_caller_gets_english_prompts_on_the_same_line(dialog):
    dialog.start()
    step = dialog.on_text("I want to make an appointment", "en")
    assert dialog.state.language == "en" and dialog.state.node == "book_date"
    assert spoken(step).isascii()


def test_asking_for_a_person_in_chinese(dialog):
    dialog.start()
    step = dialog.on_text("帮我转人工", "zh")
    assert step.transfer is not None and step.reason == "caller_asked_for_human"


@pytest.mark.parametrize("text,misread,reads", [
    ("我的手机号是138123455678", True, False),    # a digit gained: 12 for an 11-digit mobile
    ("一三九零零一二二三三", True, False),          # a digit lost: 10 digits, still a number
    ("我的手机号是13812345678", False, True),
    ("+44 7700 900123", False, True),              # a foreign number keeps its own length
    ("我要转人工", False, False),                   # no number read out: nothing to read again
    ("一二三", False, False),                      # too few digits to be a try at the number
    # whisper wrote a digit as a word with its sound: read so where that gives 11 digits
    ("以5987654321", False, True),
    ("我的手机号是1862034779亿", False, True),
    ("以598765432", True, False),                  # 10 digits even so: read again, read back
    ("是1381234567吧", True, False),               # 吧 is a particle, not an 8
])
def test_a_mobile_number_of_another_length_is_worth_a_careful_second_reading(
        dialog, text, misread, reads):
    dialog.start()
    dialog.on_text("我要取消预约", "zh")
    assert dialog.state.node == "cancel_phone"
    assert dialog.misread_number(text) is misread
    assert dialog.reads_number(text) is reads
    step = dialog.on_text(text, "zh")
    # what the careful reading cannot mend is read back for a yes or no, not taken unasked
    assert step.reason == ("slot_filled" if reads else "number_check" if misread
                           else step.reason), step
    assert ("phone" in dialog.state.slots) is reads
    if reads and not text.startswith("+"):
        assert len(dialog.state.slots["phone"]) == 11 and dialog.state.slots["phone"][0] == "1"


def test_a_number_of_unusual_length_is_read_back_and_kept_on_yes(dialog):
    dialog.start()
    dialog.on_text("我要取消预约", "zh")
    step = dialog.on_text("一三九零零一二二三三", "zh")
    assert spoken(step) == "我听到的号码是一三九，零零一二，二三三，一共10位。请问对吗？"
    assert "phone" not in dialog.state.slots
    dialog.on_text("对", "zh")
    assert dialog.state.slots["phone"] == "1390012233"     # a landline, say: the caller's word
    assert dialog.state.node == "cancel_date"


def test_a_number_read_back_wrongly_is_asked_again_and_heard_anew(dialog):
    dialog.start()
    dialog.on_text("I'd like to cancel my appointment", "en")
    assert dialog.state.node == "cancel_phone"
    step = dialog.on_text("one three nine zero zero one two two three three", "en")
    assert spoken(step) == "I heard 1 3 9, 0 0 1, 2 2 3 3. That's 10 digits. Is that right?"
    again = dialog.on_text("no", "en")
    assert again.reason == "number_refused" and dialog.state.node == "cancel_phone"
    # the line garbled the spoken number: the keypad is asked for, not the same words again
    assert spoken(again) == ("Sorry about that. Please key in the number on your keypad, then "
                             "press the hash key.") and "phone" not in dialog.state.slots
    dialog.on_text("1 3 9 0 0 1 1 2 2 3 3", "en")            # said again: 11 digits, taken
    assert dialog.state.slots["phone"] == "13900112233"


def test_a_refused_read_back_asks_for_the_keypad_and_keyed_digits_fill_the_slot(dialog):
    dialog.start()
    dialog.on_text("我要取消预约", "zh")
    dialog.on_text("一三九零零一二二三三", "zh")
    again = dialog.on_text("不对", "zh")
    assert spoken(again) == "抱歉。请用电话按键输入号码，以井号键结束。"
    for key in "13900112233#":
        step = dialog.on_dtmf(key)
    assert dialog.state.slots["phone"] == "13900112233" and dialog.state.node == "cancel_date"
    assert step.reason == "slot_filled"


def test_a_second_refused_read_back_gives_up_as_the_node_says(dialog):
    dialog.start()
    dialog.on_text("我要取消预约", "zh")
    for _ in range(2):                                      # the node's two retries
        dialog.on_text("一三九零零一二二三三", "zh")
        dialog.on_text("不对", "zh")
    dialog.on_text("一三九零零一二二三三", "zh")
    step = dialog.on_text("不对", "zh")
    assert step.reason == "number_refused_gave_up" and dialog.state.node != "cancel_phone"


def test_a_number_said_ahead_at_another_length_is_read_back_at_its_node(dialog):
    dialog.start()
    step = dialog.on_text("我要取消预约，手机号一三九零零一二二三三", "zh")
    assert dialog.state.node == "cancel_phone" and step.actions[-1].text.startswith("我听到的号码是")
    dialog.on_text("是的", "zh")
    assert dialog.state.slots["phone"] == "1390012233"


def test_a_keyed_number_is_taken_as_keyed(dialog):
    dialog.start()
    dialog.on_text("我要取消预约", "zh")
    for key in "1390012233#":
        step = dialog.on_dtmf(key)
    assert step.reason == "slot_filled" and dialog.state.slots["phone"] == "1390012233"


def test_only_a_node_waiting_for_a_number_asks_for_a_second_reading(dialog):
    dialog.start()
    assert dialog.state.node == "main_menu"
    assert not dialog.misread_number("我的手机号是138123455678")
    dialog.on_text("我要预约", "zh")
    assert dialog.state.node == "book_date"
    assert not dialog.misread_number("十二月一二三四号")
