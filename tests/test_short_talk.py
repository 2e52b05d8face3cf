"""Short talk at a question node. A caller closing the call ("okay, thanks", "that's all, bye",
没有了) asked nothing: they are thanked or said goodbye to, never counted as a question the bot
could not answer, and never handed to a person for it. A follow-up that leans on the last answer
("and what about the United States?") is asked about that answer's entry."""

from __future__ import annotations

import pytest

from ivr.dialog.actions import Hangup, Say, Transfer
from ivr.dialog.engine import DialogEngine
from ivr.dialog.guards import closing, follows_up
from ivr.dialplan.loader import load_dialplan
from ivr.events import EventLog, ManualClock
from ivr.kb.retriever import KBEntry, Retriever

from conftest import ROOT


@pytest.mark.parametrize("text,kind", [
    ("Okay, thanks.", "thanks"), ("thank you very much", "thanks"), ("好的，谢谢", "thanks"),
    ("thanks, bye", "goodbye"), ("no that's all, bye", "goodbye"), ("nothing else", "goodbye"),
    ("没有了，谢谢", "goodbye"), ("再见", "goodbye"),
    ("thank you, and what about data plans?", None), ("is that all?", None), ("okay", None),
    ("no", None), ("谢谢，那漫游怎么收费？", None), ("thanks for nothing, I want a refund", None),
    ("thanks for nothing, bye", None), ("nothing else, thanks", "goodbye"),
])
def test_what_closes_a_call(text, kind):
    assert closing(text) == kind


def at_questions(engines) -> DialogEngine:
    plan = load_dialplan(ROOT / "dialplans" / "acme-mobile.yaml").plan
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    dialog = DialogEngine(plan, Retriever(entries, engines.embedder, plan.answers.min_score),
                          None, EventLog(ManualClock()))
    dialog.start()
    return dialog


def test_thanks_after_an_answer_is_no_missed_question(engines):
    # it once counted as one: "okay, thanks" and then one question the line cannot answer
    # handed the caller to an agent (cannot_help)
    dialog = at_questions(engines)
    assert dialog.on_text("How much is roaming in Spain?", "en").reason == "kb_match"
    thanked = dialog.on_text("Okay, thanks.", "en")
    assert thanked.reason == "caller_thanks" and dialog.state.unresolved == 0
    assert [a.text for a in thanked.actions if isinstance(a, Say)] == [
        "You're welcome. Is there anything else I can help with?"]
    missed = dialog.on_text("What's the weather in Paris tomorrow?", "en")
    assert missed.reason == "out_of_scope" and not any(isinstance(a, Transfer)
                                                        for a in missed.actions)
    assert dialog.on_text("my phone was stolen yesterday, what do I do?", "en").reason \
        == "kb_match"


def test_goodbye_ends_the_call(engines):
    dialog = at_questions(engines)
    step = dialog.on_text("no that's all, bye", "en")
    assert step.reason == "caller_goodbye"
    assert isinstance(step.actions[-1], Hangup) and step.actions[-1].reason == "caller_goodbye"


@pytest.mark.parametrize("text,follow", [
    ("and what about the United States?", True), ("what if I'm in Japan?", True),
    ("那美国呢？", True), ("日本呢", True),
    ("How much is roaming in Spain?", False), ("what is a PUK code", False),
    ("and I also want to know how much the unlimited plan costs per month in total", False),
])
def test_what_leans_on_the_last_answer(text, follow):
    assert follows_up(text) is follow


def test_a_follow_up_is_asked_about_the_entry_just_answered(engines):
    dialog = at_questions(engines)
    assert dialog.on_text("How much is roaming in Spain?", "en").reason == "kb_match"
    asked = dialog.on_text("and what about the United States?", "en")
    assert asked.reason == "kb_confirm" and asked.evidence["asked_about"] == "roaming"
    assert asked.evidence["follow_up"] is True
    answered = dialog.on_text("yes", "en")
    assert answered.reason == "kb_match" and answered.evidence["entry"] == "roaming"
    # before any answer, the same words are a miss as before
    fresh = at_questions(engines)
    assert fresh.on_text("and what about the United States?", "en").reason == "out_of_scope"
