"""The after-call ticket: what the caller wanted, what the bot did, how it ended and whether
someone must follow up.

`build_ticket` writes it by rules from the call's own record when it ends, so every call has
one. `llm_ticket` asks the plan's LLM to rewrite it from the (already redacted) transcript,
as JSON constrained by a schema, within a time budget; any failure, a late answer or JSON that
does not fit the ticket's fields keeps the rules ticket. `source` says which one it is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from ivr.store.outcome import Outcome

# A transfer that did not connect leaves the caller's need open as surely as a hang-up does.
CONNECTED = "200"


def build_ticket(problem: str, decisions: list[str], entries: list[str], slots: dict[str, Any],
                 outcome: Outcome, end_reason: str, transfer: dict[str, str | None]) -> dict:
    """`problem`: the caller's first words (masked like every stored text); `decisions`: the
    dialog's decision per turn; `entries`: knowledge-base entries answered; `transfer`:
    target, reason and final status, where there was one."""
    if entries:
        category = f"kb:{entries[-1]}"
    elif transfer.get("reason"):
        category = f"handoff:{transfer['reason']}"
    else:
        category = f"ended:{end_reason}"
    status = transfer.get("status") or ""
    handed_over = outcome is Outcome.TRANSFERRED and status.startswith(CONNECTED)
    follow_up = outcome in (Outcome.ABANDONED, Outcome.FAILED) or (
        transfer.get("target") is not None and not handed_over)
    resolution = {Outcome.RESOLVED: "answered by the bot",
                  Outcome.TRANSFERRED: f"handed to {transfer.get('target')} ({status})",
                  Outcome.ABANDONED: "the caller hung up before being helped",
                  Outcome.FAILED: f"the call failed ({end_reason})"}[outcome]
    return {"problem": problem or "(the caller said nothing the bot recognised)",
            "category": category, "slots": dict(slots), "bot_did": list(decisions),
            "resolution": resolution, "outcome": outcome.value, "end_reason": end_reason,
            "follow_up_needed": follow_up, "source": "rules"}


class ChatClient(Protocol):
    """The `LLMClient.complete` shape, with request options."""

    async def complete(self, messages: list[dict[str, str]],
                       options: dict[str, Any] | None = None) -> str: ...

    def json_reply(self, schema: dict[str, Any], name: str) -> dict[str, Any]: ...


class LLMTicketFields(BaseModel):
    """What the LLM writes; the rest of the ticket (outcome, end reason) stays the rules'."""

    model_config = ConfigDict(extra="forbid", strict=True)

    problem: str
    category: str
    slots: dict[str, str]
    bot_did: list[str]
    resolution: str
    follow_up_needed: bool


TICKET_PROMPT = ("You file after-call tickets for a telephone hotline. From the call transcript, "
                 "write a JSON object: problem (what the caller wanted, one sentence), category "
                 "(one of: {categories}), slots (details the caller gave, name to value), bot_did "
                 "(what the automated assistant did, short items), resolution (how the call "
                 "ended, one sentence), follow_up_needed (true if a person must still act). "
                 "Use only facts from the transcript.")
MAX_TICKET_TOKENS = 320
MAX_SENTENCE, MAX_ITEM, MAX_ITEMS = 160, 60, 4  # characters, characters, list items


def ticket_schema(categories: list[str]) -> dict[str, Any]:
    """The JSON schema the LLM's reply is held to (a grammar on llama.cpp). Its bounds keep
    the reply short: every token is checked against the grammar, which costs CPU time."""
    sentence = {"type": "string", "maxLength": MAX_SENTENCE}
    item = {"type": "string", "maxLength": MAX_ITEM}
    return {"type": "object", "additionalProperties": False,
            "required": list(LLMTicketFields.model_fields),
            "properties": {"problem": sentence,
                           "category": {"type": "string", "enum": categories},
                           "slots": {"type": "object", "additionalProperties": item},
                           "bot_did": {"type": "array", "items": item, "maxItems": MAX_ITEMS},
                           "resolution": sentence, "follow_up_needed": {"type": "boolean"}}}


def parse_llm_ticket(reply: str, categories: list[str]) -> LLMTicketFields:
    """The LLM's reply as ticket fields; ValueError when it is not JSON of that shape, has an
    empty problem or resolution, or a category outside `categories`."""
    try:
        fields = LLMTicketFields.model_validate_json(reply)
    except ValidationError as exc:
        raise ValueError(f"reply is not a ticket: {exc.errors()[0]['msg']}") from None
    if fields.category not in categories:
        raise ValueError(f"category {fields.category!r} is not one of the plan's")
    if not fields.problem.strip() or not fields.resolution.strip():
        raise ValueError("empty problem or resolution")
    return fields


async def llm_ticket(client: ChatClient, rules: dict[str, Any], transcript: str,
                     categories: list[str], budget_s: float) -> tuple[dict[str, Any], str | None, int]:
    """(ticket, error, milliseconds): the LLM's ticket (source "llm") when it answers with a
    valid one within `budget_s`, else `rules` unchanged and why not."""
    messages = [{"role": "system", "content": TICKET_PROMPT.format(categories=", ".join(categories))},
                {"role": "user", "content": f"Transcript:\n{transcript}\n\nOutcome: "
                                            f"{rules['outcome']} ({rules['end_reason']})"}]
    options = {"max_tokens": MAX_TICKET_TOKENS, "temperature": 0.0,
               **client.json_reply(ticket_schema(categories), "ticket")}
    started = time.perf_counter()
    try:
        reply = await asyncio.wait_for(client.complete(messages, options), budget_s)
        fields = parse_llm_ticket(reply, categories)
    except asyncio.CancelledError:
        raise
    except asyncio.TimeoutError:
        return rules, f"no ticket within {budget_s * 1000:.0f} ms", _ms(started)
    except Exception as exc:  # noqa: BLE001 - whatever the LLM does, the rules ticket stands
        return rules, f"{type(exc).__name__}: {exc}"[:300], _ms(started)
    ticket = {**rules, **fields.model_dump(), "source": "llm"}
    ticket["slots"] = {**fields.slots, **rules["slots"]}  # what the dialog collected wins
    return ticket, None, _ms(started)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
