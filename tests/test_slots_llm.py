"""Slots read by the LLM where the rules do not understand a turn: held to a JSON schema (the
served model's `json_schema` response format, the embedded llama.cpp server's grammar), every
value checked by the slot's own parser before use, never for a turn handed to a person."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from ivr.dialog.engine import DialogEngine
from ivr.dialog.slot_llm import read_slots
from ivr.dialog.slot_spans import Wanted
from ivr.dialog.menus import MenuMeaning
from ivr.dialplan.loader import load_dialplan
from ivr.dialplan.model import SlotUnderstanding
from ivr.events import EventLog, ManualClock
from ivr.kb.retriever import KBEntry, Retriever
from ivr.llm.client import LLMClient, LLMSettings

from conftest import ROOT
from llm_stub import StubLLM

NOON = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc)   # a Tuesday
UNCLEAR = "two weeks from now would suit me, the same mobile as always"


@pytest.fixture(scope="module")
def clinic():
    return load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml").plan


def turn_at_book_date(plan, engines, client: LLMClient, text: str, **slots):
    """One English turn at the booking's day prompt, as a call session takes it (guard, the
    LLM's reading, the dialog): the step and the call's events."""
    plan = plan.model_copy(update={"slots": SlotUnderstanding(**slots)})
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    events = EventLog(ManualClock())
    dialog = DialogEngine(plan, Retriever(entries, engines.embedder, plan.answers.min_score),
                          client, events, now=NOON, menus=MenuMeaning(plan, engines.embedder))
    dialog.state.node, dialog.state.language = "book_date", "en"

    async def turn():
        try:
            dialog.prepare_turn(text, None, None)
            await dialog.read_slots(text)
            return dialog.on_text(text, "en")
        finally:
            await client.aclose()
    return asyncio.run(turn()), dialog, events


def served(stub: StubLLM) -> LLMClient:
    return LLMClient(LLMSettings(base_url=stub.base_url))


def test_a_day_the_rules_miss_is_read_by_the_served_llm_and_the_phone_ahead_too(clinic, engines):
    stub = StubLLM(json.dumps({"appointment_date": "2026-12-15", "phone": "139 1234 5678"}))
    try:
        step, dialog, events = turn_at_book_date(clinic, engines, served(stub), UNCLEAR)
    finally:
        stub.close()
    assert step.reason == "slot_filled" and dialog.state.slots["appointment_date"] == "2026-12-15"
    assert dialog.state.heard == {"phone": "13912345678"}      # filled at its node, not asked
    request = stub.requests[0]
    assert request["response_format"]["type"] == "json_schema"
    schema = request["response_format"]["json_schema"]["schema"]
    assert sorted(schema["properties"]) == ["appointment_date", "phone"]
    assert "2026-12-01 (Tuesday)" in request["messages"][0]["content"]
    assert events.of_kind("slot.llm")[0].data["taken"] == ["appointment_date", "phone"]


@pytest.mark.parametrize("reply", [
    json.dumps({"appointment_date": "sometime soon", "phone": "12"}),   # parsers refuse both
    json.dumps({"appointment_date": None, "phone": None}),
    "I think they mean next week",                                      # not JSON
], ids=["unparsable-values", "nulls", "not-json"])
def test_what_the_llm_gives_that_the_slot_parser_refuses_is_not_used(clinic, engines, reply):
    stub = StubLLM(reply)
    try:
        step, dialog, events = turn_at_book_date(clinic, engines, served(stub), UNCLEAR)
    finally:
        stub.close()
    assert step.reason == "question_kept" and dialog.state.slots == {}   # not a day: kept
    assert dialog.state.heard == {} and events.of_kind("slot.llm")[0].data["taken"] == []


def test_the_llm_is_not_asked_when_the_rules_understand_or_a_person_is_needed(clinic, engines):
    stub = StubLLM(json.dumps({"appointment_date": "2027-01-01", "phone": None}))
    try:
        understood, dialog, _ = turn_at_book_date(clinic, engines, served(stub), "next Friday")
        urgent, _, _ = turn_at_book_date(clinic, engines, served(stub),
                                         "my husband collapsed and he isn't breathing")
        embedded, _, _ = turn_at_book_date(clinic, engines, LLMClient(LLMSettings(
            base_url=stub.base_url, embedded=True)), UNCLEAR)
        off, _, _ = turn_at_book_date(clinic, engines, served(stub), UNCLEAR, llm=False)
    finally:
        stub.close()
    assert dialog.state.slots["appointment_date"] == "2026-12-11"   # the rules', not 2027
    assert urgent.reason == "emergency"
    assert embedded.reason == off.reason == "question_kept"    # auto: not the CPU model
    assert stub.requests == []


def test_over_budget_the_turn_goes_on_without_the_llm(clinic, engines):
    stub = StubLLM(json.dumps({"appointment_date": "2026-12-15", "phone": None}), delay_s=2.0)
    try:
        step, _, events = turn_at_book_date(clinic, engines, served(stub), UNCLEAR,
                                            llm_budget_ms=300)
    finally:
        stub.close()
    assert step.reason == "question_kept"
    assert events.of_kind("slot.llm")[0].data["error"] == "no reply within 300 ms"


def test_the_embedded_server_reads_slots_under_its_grammar(llm_server):
    """`slots.llm: true` on the embedded llama.cpp server: the schema goes as its `json_object`
    response format (a grammar) and what comes back is JSON of that shape, whatever the 135M
    model makes of the words (it invents phone numbers: why `auto` never asks it). The budget
    is wide: this checks the request, not the speed (about 2 s on 2 idle cores)."""
    llm = LLMClient(LLMSettings(base_url=llm_server.base_url, embedded=True,
                                first_token_timeout_s=120, total_timeout_s=120))
    wanted = [Wanted("appointment_date", "date"), Wanted("phone", "phone")]

    async def read():
        try:
            return await read_slots(llm, UNCLEAR, wanted, "en", NOON.date(), budget_s=120)
        finally:
            await llm.aclose()

    values, error, ms = asyncio.run(read())
    print(f"embedded LLM read slots in {ms} ms: {values}")
    assert error is None and set(values) <= {"appointment_date", "phone"}, error
