"""Slots read by the LLM where the rules do not understand a turn ("the Tuesday after this one,
and you can reach me on my mobile, it's ...").

The reply is held to a JSON schema (OpenAI's `json_schema` response format on vLLM, a grammar
on the embedded llama.cpp server) and every value is then checked by the slot's own parser, the
one speech goes through: a model's "sometime next week" or a ten-digit phone number for an
eleven-digit slot is dropped, never used.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time

from ivr.dialog.slot_spans import Wanted
from ivr.dialog.slots import parse_slot
from ivr.llm.client import LLMClient

KIND_HINTS = {
    "date": "the day the caller means, as YYYY-MM-DD",
    "phone": "the phone number, digits only (keep a leading +)",
    "digits": "the digits only",
    "account": "the account code, letters and digits only",
}
PROMPT = ("You read what a caller said on the phone for the details below. Today is {today} "
          "({weekday}). Give a detail only if the caller said it, in the form asked; otherwise "
          "null. Never guess. Reply with JSON only.")
MAX_TOKENS = 80


def slots_schema(wanted: list[Wanted]) -> dict:
    """One nullable string per wanted slot, described by its kind."""
    return {"type": "object", "additionalProperties": False,
            "required": [w.slot for w in wanted],
            "properties": {w.slot: {"type": ["string", "null"],
                                    "description": KIND_HINTS.get(w.kind, w.kind)
                                    + (f", {w.length} digits" if w.length else "")}
                           for w in wanted}}


async def read_slots(llm: LLMClient, text: str, wanted: list[Wanted], language: str,
                     today: datetime.date, budget_s: float
                     ) -> tuple[dict[str, str], str | None, int]:
    """(values its parser accepts per slot, why nothing could be read or None, milliseconds)."""
    messages = [{"role": "system", "content": PROMPT.format(today=today.isoformat(),
                                                          weekday=today.strftime("%A"))},
                {"role": "user", "content": text}]
    options = {"max_tokens": MAX_TOKENS, "temperature": 0.0,
               **llm.json_reply(slots_schema(wanted), "slots")}
    started = time.perf_counter()
    try:
        reply = json.loads(await asyncio.wait_for(llm.complete(messages, options), budget_s))
    except asyncio.TimeoutError:
        return {}, f"no reply within {budget_s * 1000:.0f} ms", _ms(started)
    except ValueError:
        return {}, "the reply is not JSON", _ms(started)
    except Exception as exc:  # noqa: BLE001 - any LLM failure: the rules' reading stands
        return {}, f"{type(exc).__name__}: {exc}"[:200], _ms(started)
    if not isinstance(reply, dict):
        return {}, "the reply is not a JSON object", _ms(started)
    values = {}
    for w in wanted:
        said = reply.get(w.slot)
        value = parse_slot(w.kind, said, w.length, language, today) \
            if isinstance(said, str) and said.strip() else None
        if value is not None:
            values[w.slot] = value
    return values, None, _ms(started)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
