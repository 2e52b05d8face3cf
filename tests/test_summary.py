"""Tests for ivr.dialog.summary: the hand-over note for the human agent."""

from __future__ import annotations

import asyncio

import pytest

from ivr.safety.anger import AngerAssessment
from ivr.dialog.summary import (SHORT_MAX, AgentSummary, SummaryTurn, ascii_safe, build_summary,
                                llm_summary, mood_label)
from ivr.errors import EngineTimeout

TURNS = [("How much does roaming cost in Spain?", "Roaming in the European Union is included."),
         ("No, my bill says forty euros for roaming in Spain!",
          "I'm sorry, I can't help with that here."),
         ("Agent!", "Let me put you through to a colleague who can help.")]


def header_safe(text: str) -> bool:
    return all(32 <= ord(c) < 127 for c in text) and not set(text) & set('"\\<>')


def test_deterministic_summary_fields() -> None:
    s = build_summary(TURNS, {"account": "A-12345", "name": "José Núñez"},
                      "caller_asked_for_human", "frustrated", "en")
    assert s.reason == "caller_asked_for_human" and s.mood == "frustrated" and s.source == "rules"
    assert s.wants.startswith("How much does roaming cost in Spain?")
    assert "latest: Agent!" in s.wants
    assert s.tried == ("said: Roaming in the European Union is included.",
                       "said: I'm sorry, I can't help with that here.")   # not the hand-over line
    assert "name=José Núñez" in s.caller and "account=A-12345" in s.caller
    for part in ("Reason: caller asked for a person", "mood frustrated", "Wants: How much",
                 "Bot tried: said: Roaming", "Turns: 3"):
        assert part in s.full
    assert s.short.startswith("reason=caller_asked_for_human; mood=frustrated; lang=en; "
                              "acct=A-12345")
    assert "said=How much does roaming cost in Spain?" in s.short
    assert build_summary(TURNS, {"account": "A-12345"}, "caller_asked_for_human", "frustrated",
                         "en") == build_summary(TURNS, {"account": "A-12345"},
                                                "caller_asked_for_human", "frustrated", "en")


def test_structured_turns_name_the_knowledge_entries_tried() -> None:
    turns = [SummaryTurn("How do I pay my bill?", "You can pay in the app.", "answer", "kb_match",
                         "pay_bill"),
             SummaryTurn("And roaming?", "Roaming in the EU is included.", "answer", "kb_match",
                         "roaming"),
             SummaryTurn("Something else entirely", "I can't help with that.", "say",
                         "out_of_scope"),
             SummaryTurn("I can't breathe", "Connecting you to emergency help.", "transfer",
                         "emergency")]
    s = build_summary(turns, {}, "emergency", None, "en")
    assert s.tried == ("answered from KB 'pay_bill'", "answered from KB 'roaming'",
                       "said it could not help")
    assert "kb=pay_bill,roaming" in s.short and "Reason: possible emergency" in s.full
    assert s.caller == "unknown caller" and s.mood == "calm"


def test_short_form_is_header_safe_and_bounded() -> None:
    evil = 'I said "\r\nX-Injected: yes\\ <sip:evil@x> ' + "blah " * 100
    s = build_summary([(evil, "")], {"account": "1\r\n2"}, "cannot_help", "angry", "en")
    assert len(s.short) <= SHORT_MAX and header_safe(s.short)
    assert "\r" not in s.short and "\n" not in s.short and "X-Injected" in s.short
    assert s.short.endswith("...")


def test_chinese_call_summary() -> None:
    s = build_summary([("我的手机被偷了，怎么办？", "您可以在应用里挂失。"), ("转人工", "正在为您转接。")],
                      {}, "caller_asked_for_human", "calm", "zh")
    assert header_safe(s.short) and len(s.short) <= SHORT_MAX
    assert s.short == "reason=caller_asked_for_human; mood=calm; lang=zh"
    assert "我的手机被偷了" in s.full and "latest: 转人工" in s.full


def test_empty_call() -> None:
    s = build_summary([], None, "technical_failure", None, "en")
    assert s.wants == "(nothing recognised)" and "nothing yet" in s.full
    assert s.short == "reason=technical_failure; mood=calm; lang=en"


def test_mood_labels() -> None:
    assert mood_label(None) == "calm" and mood_label("Angry") == "angry"
    assert mood_label(0.1) == "calm" and mood_label(0.3) == "frustrated" and mood_label(0.6) == "angry"
    assert mood_label(AngerAssessment(0.5, 0.3, False, {})) == "frustrated"
    assert mood_label(AngerAssessment(0.5, 0.3, True, {})) == "angry"


def test_ascii_safe() -> None:
    assert ascii_safe("Café “quoted” \t\n x") == "Cafe 'quoted' x"
    assert ascii_safe("电话") == ""


# --- LLM form ------------------------------------------------------------------------------------

class FakeLLM:
    def __init__(self, reply: str = "", delay: float = 0.0, error: Exception | None = None):
        self.reply, self.delay, self.error = reply, delay, error
        self.messages: list | None = None

    async def complete(self, messages):
        self.messages = messages
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return self.reply


def summarise(llm, timeout_s: float = 1.0) -> AgentSummary:
    return asyncio.run(llm_summary(llm, TURNS, {"account": "A-1"}, "caller_asked_for_human",
                                   "frustrated", "en", timeout_s=timeout_s))


def test_llm_writes_the_full_form() -> None:
    llm = FakeLLM("The caller disputes a 40 euro roaming charge\x07 for Spain and asked for an agent.")
    s = summarise(llm)
    assert s.source == "llm"
    assert "disputes a 40 euro roaming charge for Spain" in s.full and "\x07" not in s.full
    rules = build_summary(TURNS, {"account": "A-1"}, "caller_asked_for_human", "frustrated", "en")
    assert s.full.startswith(rules.full + "\nNote: ")   # the facts stay, the model's note follows
    assert s.short == build_summary(TURNS, {"account": "A-1"}, "caller_asked_for_human",
                                    "frustrated", "en").short  # never from the model
    prompt = llm.messages[1]["content"]
    assert "Caller: No, my bill says forty euros" in prompt and "account=A-1" in prompt


@pytest.mark.parametrize("llm", [FakeLLM("too late", delay=2.0),
                                 FakeLLM(error=EngineTimeout("LLM timed out")),
                                 FakeLLM(error=RuntimeError("boom")),
                                 FakeLLM("   "),
                                 None])
def test_llm_failures_fall_back_to_the_rules(llm) -> None:
    rules = build_summary(TURNS, {"account": "A-1"}, "caller_asked_for_human", "frustrated", "en")
    s = summarise(llm, timeout_s=0.2)
    assert s.source == "rules" and s.full == rules.full and s.short == rules.short
    if llm is not None:
        assert s.details["llm_error"]
