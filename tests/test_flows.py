"""Every node type, driven by a scripted caller: piper speech over G.711 and DTMF keys in,
decisions, slots and (transcribed) bot speech out."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime

import pytest

from ivr.audio.frames import frames
from ivr.audio.g711 import phone_line
from ivr.dialplan.loader import load_dialplan
from ivr.events import EventLog, ManualClock
from ivr.session.session import CallSession

from conftest import ROOT, scripted_call, transcribe, words
from llm_stub import ScriptedLLM

PLAN = ROOT / "tests" / "data" / "flows" / "all-nodes.yaml"
OPEN = datetime.datetime(2026, 11, 25, 11, 0, tzinfo=datetime.timezone.utc)      # Wednesday
CLOSED = datetime.datetime(2026, 11, 28, 11, 0, tzinfo=datetime.timezone.utc)    # Saturday


@pytest.fixture(scope="module")
def plan():
    return load_dialplan(PLAN)


def converse(engines, plan, voice, turns: list[str | tuple[str, str]], now=OPEN,
             caller_number: str = "+15550100"):
    """Turns are spoken text, or ("keys", "123#")."""
    return scripted_call(engines, plan, voice, turns, caller_number=caller_number, now=now)


async def drain(session: CallSession, clock: ManualClock) -> None:
    """Play out whatever the bot has to say (no caller audio), advancing call time."""
    await session.settle()
    while session.next_frame() is not None or session.bot_busy:
        await session.settle()
        clock.advance(0.02)


def nodes(events) -> list[str]:
    return [e.data["node"] for e in events.of_kind("dialog.node")]


def test_menu_by_voice_collect_digits_by_voice_yes_no_and_branch_to_transfer(engines, plan, voice_en):
    result, events, session = converse(engines, plan, voice_en,
                                       ["Billing please.", "One two three four five six.", "Yes."])
    assert nodes(events)[:4] == ["welcome", "main", "account", "confirm"]
    assert session.dialog.state.slots == {"account": "123456", "confirmed": "yes"}
    assert result.transfer is not None and result.transfer.target == "sip:billing@127.0.0.1:5070"
    assert result.transfer.fallback == "sorry" and "123456" in result.transfer.summary


def test_menu_and_digits_by_keys_and_caller_number_branch(engines, plan, voice_en):
    result, events, session = converse(engines, plan, voice_en,
                                       [("keys", "1"), ("keys", "654321"), "Yes, that's right."],
                                       caller_number="+442071234567")
    assert session.dialog.state.slots["account"] == "654321"
    assert result.transfer is not None and result.transfer.reason == "uk_billing"


def test_answer_node_then_survey_by_key_then_hangup(engines, plan, voice_en):
    result, events, session = converse(engines, plan, voice_en,
                                       [("keys", "2"), "How much does roaming cost?", ("keys", "1")])
    decision = next(e.data for e in events.of_kind("dialog.decision") if e.data.get("entry"))
    assert decision["entry"] == "roaming"
    assert session.dialog.state.slots["survey"] == "yes"
    assert result.end_reason == "bot_hangup:dialplan"
    said = [e.data["text"] for e in events.of_kind("bot.say")]
    assert any("five dollars" in s for s in said) and "Goodbye" in said[-1]


def converse_heard(events) -> list[str]:
    """What the caller heard after the converse decision, up to the next decision."""
    start = next(i for i, e in enumerate(events.events)
                 if e.kind == "dialog.decision" and e.data["reason"] == "converse")
    heard = []
    for event in events.events[start + 1:]:
        if event.kind == "dialog.decision":
            break
        if event.kind == "bot.say":
            heard.append(event.data["text"])
    return heard


def test_converse_node_drops_what_the_facts_do_not_say(engines, plan, voice_en):
    invented = "Unlimited data costs three dollars a month."
    supported = "You can add ten gigabytes of data for five dollars in the Acme app."
    scripted = dataclasses.replace(engines, llm=ScriptedLLM(f"{invented} {supported}"))
    _, events, _ = converse(scripted, plan, voice_en,
                            [("keys", "3"), "How can I get more data on my phone?", "No."])
    assert "chat" in nodes(events)
    heard = converse_heard(events)
    assert supported in heard and invented not in heard, heard
    assert events.of_kind("slot")[-1].data == {"name": "survey", "value": "no"}


def test_converse_node_answers_with_the_embedded_llm(engines, plan, voice_en):
    _, events, _ = converse(engines, plan, voice_en,
                            [("keys", "3"), "How can I get more data on my phone?", "No."])
    assert "chat" in nodes(events)
    fixed = {text for node in plan.plan.nodes.values()
             for field in ("say", "prompt", "question", "reprompt")
             for text in (getattr(node, field, None) or {}).values()}
    answer = [s for s in converse_heard(events) if not any(s in text for text in fixed)]
    # the model said something of its own; no number in it the facts ("ten", "five") lack
    assert answer, converse_heard(events)
    stated = {w.strip(".,!?").lower() for s in answer for w in s.split()}
    invented_numbers = stated & {"one", "two", "three", "four", "six", "seven", "eight", "nine",
                                 "twenty", "fifty", "hundred"} | {w for w in stated if
                                                                   any(c.isdigit() for c in w)}
    assert not invented_numbers, answer
    assert events.of_kind("slot")[-1].data == {"name": "survey", "value": "no"}


def test_menu_retries_then_goes_to_on_fail(engines, plan, voice_en):
    result, events, _ = converse(engines, plan, voice_en,
                                 ["Bananas.", "Purple elephants.", "Weather forecast."])
    reasons = [e.data["reason"] for e in events.of_kind("dialog.decision")]
    assert reasons[1:4] == ["menu_no_match", "menu_no_match", "menu_no_match_gave_up"]
    assert result.transfer is not None and result.transfer.target == "sip:agents@127.0.0.1:5070"


def test_wrong_confirmation_loops_back_to_collect(engines, plan, voice_en):
    _, events, session = converse(engines, plan, voice_en,
                                  [("keys", "1"), ("keys", "111111"), "No.", ("keys", "222222")])
    assert nodes(events).count("account") == 2
    assert session.dialog.state.slots["account"] == "222222"


def test_after_hours_goes_to_the_closed_node(engines, plan, voice_en):
    result, events, _ = converse(engines, plan, voice_en, [], now=CLOSED)
    assert nodes(events) == ["closed"] and result.end_reason == "bot_hangup:dialplan"
    said = words(transcribe(engines, result.bot_audio))
    assert "closed" in said and ({"nine", "five"} <= said or {"9", "5"} <= said), said


def test_emergency_mid_menu_skips_the_flow(engines, plan, voice_en):
    result, events, _ = converse(engines, plan, voice_en, ["I have chest pain."])
    assert result.transfer is not None and result.transfer.reason == "emergency"
    assert result.transfer.target == "sip:emergency@127.0.0.1:5070"


def test_transfer_failure_follows_the_fallback(engines, plan):
    async def scenario():
        clock = ManualClock()
        events = EventLog(clock)
        session = CallSession("fail", plan, engines, events, now=OPEN)
        requests, hangups = [], []
        session.on_transfer, session.on_hangup = requests.append, hangups.append
        session.start()
        for digit in "1" + "123456" + "1":  # billing, account number, "1" = yes it's right
            await drain(session, clock)
            session.dtmf(digit)
        await drain(session, clock)
        session.transfer_failed(requests[0], "486 Busy Here")
        await drain(session, clock)
        await session.close("test")
        return events, requests, hangups

    events, requests, hangups = asyncio.run(scenario())
    assert requests[0].reason == "billing"
    assert events.of_kind("transfer.failed")[0].data["status"] == "486 Busy Here"
    assert hangups == ["dialplan"]
    assert any("call again later" in e.data["text"] for e in events.of_kind("bot.say"))


def test_no_input_reprompts_then_hangs_up(engines, plan, voice_en):
    from ivr.audio.frames import silence
    from ivr.session.offline import run_offline

    clock = ManualClock()
    events = EventLog(clock)
    session = CallSession("quiet", plan, engines, events, now=OPEN)
    result = asyncio.run(run_offline(session, clock, silence(60_000)))
    assert len(events.of_kind("no_input")) == 3
    assert result.end_reason == "bot_hangup:no_input"


def test_failed_guard_transfer_takes_a_message(engines, demo_plan, voice_en):
    async def scenario():
        clock = ManualClock()
        events = EventLog(clock)
        session = CallSession("message", demo_plan, engines, events)
        requests, hangups = [], []
        session.on_transfer, session.on_hangup = requests.append, hangups.append
        session.start()
        await drain(session, clock)
        session.dtmf("0")                                      # a person, please
        await drain(session, clock)
        session.transfer_failed(requests[0], "480 Temporarily Unavailable")
        await drain(session, clock)
        message = "This is Anna on five five five one two three four, please call me back."
        for frame in frames(phone_line(b"".join(s.pcm for s in voice_en.speak_all(message))
                                       + bytes(16000))):
            session.feed(frame)
            await session.settle()
            session.next_frame()
            clock.advance(0.02)
        await drain(session, clock)
        await session.close("test")
        return events, session, hangups

    events, session, hangups = asyncio.run(scenario())
    assert "take_message" in nodes(events), [e.data for e in events.of_kind("dialog.decision")]
    assert "message" in session.dialog.state.slots, [e.data for e in events.events
                                                    if e.kind in ("dialog.decision", "asr.final")]
    assert "call me back" in session.dialog.state.slots["message"].lower()
    assert hangups == ["dialplan"]
    assert "message" in events.of_kind("call.end")[0].data["slots"]
