"""Slots from free speech: a caller who says the day and the phone number in one sentence ("I'd
like to book next Wednesday, my number is 139 1234 5678") is not asked for them again; each
slot kind reads its own part of the sentence; yes/no confirmations are always asked."""

from __future__ import annotations

import datetime

import pytest

from ivr.dialog.actions import Say
from ivr.dialog.engine import DialogEngine
from ivr.dialog.menus import MenuMeaning
from ivr.dialog.slot_spans import Wanted, take_slots
from ivr.dialplan.loader import load_dialplan
from ivr.dialplan.model import SlotUnderstanding
from ivr.events import EventLog, ManualClock
from ivr.kb.retriever import KBEntry, Retriever
from ivr.qa.slot_eval import SlotRunner, evaluate_slots, load_slot_set

from conftest import ROOT, with_lookups

TUESDAY = datetime.date(2026, 12, 1)
NOON = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc)
BOOKING = [Wanted("appointment_date", "date"), Wanted("phone", "phone")]


@pytest.mark.parametrize("text,expected", [
    ("book me next Tuesday, my number is 138 1234 5678",
     {"appointment_date": "2026-12-08", "phone": "13812345678"}),
    # the day beside the month is the date's, not the phone number's first digits
    ("on December 18 13912345678 please",
     {"appointment_date": "2026-12-18", "phone": "13912345678"}),
    # the phone number's digits are not read as a day of the month
    ("my number is one three nine one two three four one five six eight, the 15th",
     {"appointment_date": "2026-12-15", "phone": "13912341568"}),
    ("plus four four seven seven double oh nine double oh one two three tomorrow",
     {"appointment_date": "2026-12-02", "phone": "+447700900123"}),
    ("我想预约下周三，我的手机号是一三九一二三四五六七八",
     {"appointment_date": "2026-12-09", "phone": "13912345678"}),
    ("取消12月18号的预约，手机号13800001111",
     {"appointment_date": "2026-12-18", "phone": "13800001111"}),
    ("I'd like to book an appointment", {}),
    ("my number is 123 45", {}),                    # too short for a phone number
])
def test_each_kind_reads_its_own_part_of_the_sentence(text, expected):
    language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"
    assert take_slots(text, BOOKING, language, TUESDAY) == expected


@pytest.fixture(scope="module")
def clinic():
    return load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml").plan


def dialog_at(plan, engines, node: str) -> tuple[DialogEngine, EventLog]:
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    events = EventLog(ManualClock())
    dialog = DialogEngine(plan, Retriever(entries, engines.embedder, plan.answers.min_score),
                          None, events, now=NOON, menus=MenuMeaning(plan, engines.embedder))
    dialog.state.node = node
    return dialog, events


def said(step) -> str:
    return " ".join(a.text for a in step.actions if isinstance(a, Say))


def test_a_booking_said_in_one_sentence_at_the_menu_goes_straight_to_the_confirmation(
        clinic, engines):
    dialog, events = dialog_at(clinic, engines, "main_menu")
    step = with_lookups(dialog, dialog.on_text("I'd like to book an appointment next Wednesday, "
                                               "my number is 139 1234 5678", "en"))
    assert step.reason == "menu_choice" and dialog.state.node == "book_confirm"
    assert dialog.state.slots == {"appointment_date": "2026-12-09", "phone": "13912345678"}
    assert "Shall I go ahead" in said(step) and "Which day" not in said(step)
    assert "mobile number" not in said(step)
    taken = [e.data for e in events.events if e.kind == "slot"]
    assert [(t["name"], t.get("heard_earlier")) for t in taken] == [
        ("appointment_date", True), ("phone", True)]
    # the confirmation is asked, never taken from the sentence; a "no" asks for the day again
    again = dialog.on_text("no", "en")
    assert dialog.state.node == "book_date" and "Which day" in said(again)


def test_a_slot_prompt_answered_with_the_next_slot_too_skips_that_prompt(clinic, engines):
    dialog, _ = dialog_at(clinic, engines, "book_date")
    step = with_lookups(dialog, dialog.on_text("next Friday, and my number is 188 1111 2222",
                                               "en"))
    assert step.reason == "slot_filled" and dialog.state.node == "book_confirm"
    assert dialog.state.slots == {"appointment_date": "2026-12-11", "phone": "18811112222"}


def test_a_slot_said_early_waits_for_its_node_and_is_then_not_asked(clinic, engines):
    dialog, _ = dialog_at(clinic, engines, "main_menu")
    step = dialog.on_text("I need to cancel my appointment on Thursday", "en")
    assert dialog.state.node == "cancel_phone" and "mobile number" in said(step)
    assert dialog.slots_heard_ahead() == {"appointment_date": "2026-12-03"}
    step = dialog.on_text("it's 135 4444 5555", "en")
    assert dialog.state.node == "cancel_confirm" and "Which day" not in said(step)
    assert dialog.state.slots == {"phone": "13544445555", "appointment_date": "2026-12-03"}


def test_what_was_said_for_one_choice_is_dropped_at_the_next_menu(clinic, engines):
    dialog, _ = dialog_at(clinic, engines, "book_date")
    dialog.state.heard = {"new_date": "2026-12-04"}        # said for a flow not taken
    with_lookups(dialog, dialog.on_text("tomorrow, my number is 138 1234 5678", "en"))
    dialog.on_text("yes", "en")                              # booked: on to "anything else?"
    assert dialog.state.node == "anything_else" and dialog.state.heard == {}


def test_free_speech_off_asks_for_each_slot_in_turn(clinic, engines):
    off = clinic.model_copy(update={"slots": SlotUnderstanding(free_speech=False)})
    dialog, _ = dialog_at(off, engines, "main_menu")
    step = dialog.on_text("I'd like to book next Wednesday, my number is 139 1234 5678", "en")
    assert dialog.state.node == "book_date" and "Which day" in said(step)
    assert dialog.state.slots == {}


FLOORS = {"slots_dev.yaml": (22, 3), "slots_holdout.yaml": (72, 7)}
"""Right items with free speech (at least) and without (at most), as measured on 2026-12-01:
dev 23/24 vs 3/24, held-out (written blind) 73/80 vs 7/80."""


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_the_shipped_clinic_plan_takes_one_sentence_bookings(name):
    runner = SlotRunner(load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml"))
    slot_set = load_slot_set(ROOT / "tests" / "data" / name)
    with_free_speech = sum(r.right for r in evaluate_slots(slot_set, runner))
    one_per_prompt = sum(r.right for r in evaluate_slots(slot_set, runner, free_speech=False))
    at_least, at_most = FLOORS[name]
    assert with_free_speech >= at_least and one_per_prompt <= at_most, \
        (with_free_speech, one_per_prompt)


def test_a_spoken_booking_through_the_phone_line_is_taken_in_one_turn(engines, voice_en):
    """Piper says the booking through G.711 into the clinic plan's call session (whisper, the
    guards, the dialog): the day and the number are taken from the one sentence, and "yes"
    books it."""
    from ivr.audio.g711 import phone_line
    from ivr.session.offline import ScriptTurn, run_script, simulate

    def spoken(text: str) -> bytes:
        return phone_line(b"".join(s.pcm for s in voice_en.speak_all(text)))

    turns = [ScriptTurn(audio=spoken("I'd like to book an appointment next Wednesday. My number "
                                     "is one three nine, one two three four, five six seven "
                                     "eight.")),
             ScriptTurn(audio=spoken("Yes please."))]
    sessions = []

    def drive(session, clock):
        sessions.append(session)
        return run_script(session, clock, turns, gap_s=0.8)

    clinic = load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml")
    _, events = simulate("free-speech-booking", clinic, engines, drive, now=NOON)
    slots = sessions[0].dialog.state.slots
    assert slots == {"appointment_date": "2026-12-09", "phone": "13912345678",
                     "book_confirmed": "yes"}, [e.data for e in events.of_kind("asr.final")]
    # the end of turn may take the pause after "Wednesday." for the end: the caller going on
    # continues the turn, and the slots are taken again from the whole
    joined = [e.t for e in events.of_kind("turn.continued")]
    taken = [e.data["name"] for e in events.of_kind("slot") if e.data.get("heard_earlier")
             and e.t >= max(joined, default=0.0)]
    assert taken == ["appointment_date", "phone"]
    assert not any("Which day" in e.data["text"] for e in events.of_kind("bot.say"))
