"""Knowledge-base answers on time: the FAQ asked as written is read as written, and the LLM's
phrasing must start within the plan's budget or the approved text is spoken instead."""

from __future__ import annotations

import asyncio

from ivr.dialog.actions import Answer
from ivr.dialog.answers import GroundedWriter
from ivr.dialog.engine import DialogEngine
from ivr.events import EventLog, ManualClock
from ivr.kb.retriever import KBEntry, Retriever
from ivr.llm.client import LLMClient, LLMSettings

FACTS = ("Roaming in the European Union is included in every plan. Elsewhere it costs five "
         "dollars a day.")
INSTRUCTIONS = "Answer the customer's question in one or two short sentences using only these facts."


def spoken(writer: GroundedWriter, budget_s: float | None) -> list[str]:
    async def go():
        return [s async for s in writer.answer(INSTRUCTIONS, FACTS, "How much is roaming?",
                                               budget_s=budget_s)]
    return asyncio.run(go())


def test_a_missed_budget_speaks_the_approved_text(llm_server):
    events = EventLog(ManualClock())
    writer = GroundedWriter(LLMClient(LLMSettings(base_url=llm_server.base_url)), events)
    said = spoken(writer, budget_s=0.02)   # no CPU model writes a sentence in 20 ms
    assert " ".join(said) == FACTS
    assert [e.data["budget_ms"] for e in events.of_kind("llm.over_budget")] == [20]
    assert not events.of_kind("llm.error")


def test_within_a_generous_budget_the_model_phrases_it(llm_server):
    events = EventLog(ManualClock())
    writer = GroundedWriter(LLMClient(LLMSettings(base_url=llm_server.base_url)), events)
    said = spoken(writer, budget_s=30.0)
    assert not events.of_kind("llm.over_budget") and events.of_kind("llm.first_token")
    assert events.of_kind("llm.sentence")          # the model was heard out
    assert "five dollars" in " ".join(said).lower() or "5" in " ".join(said)


def test_the_faq_asked_as_written_is_read_as_written(engines, demo_plan):
    plan = demo_plan.plan
    assert plan.answers.style == "llm"
    events = EventLog(ManualClock())
    entry = KBEntry("roaming", ("How much does roaming cost?",), {"en": FACTS})
    dialog = DialogEngine(plan, Retriever([entry], engines.embedder, plan.answers.min_score),
                          engines.llm, events)

    async def say(score: float) -> list[str]:
        return [s async for s in dialog.speak(Answer("How much does roaming cost?", entry, FACTS,
                                                     score))]

    assert asyncio.run(say(plan.answers.verbatim_above)) == [FACTS]
    assert not events.of_kind("llm.first_token") and not events.of_kind("llm.sentence")
    asyncio.run(say(plan.answers.min_score))          # a looser match: the model is asked
    assert events.of_kind("llm.sentence") or events.of_kind("llm.over_budget")
