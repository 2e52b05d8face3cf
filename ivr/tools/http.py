"""A plan's business look-ups (`tools:`), called over HTTP with their arguments checked first.

Lookup nodes call them directly (any LLM, or none); a served dialogue model calls them through
the OpenAI tools API (`ivr.dialog.answers`). Either way a call goes through `ToolBox.call`: the
tool's `reads` slots are put in by the bot, the arguments are checked against the tool's JSON
schema, the answer must be a JSON object within the tool's timeout. Anything else is a failure
the caller hears as such; nothing is guessed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping

import httpx
import jsonschema

from ivr.dialplan.model import HttpTool
from ivr.events import EventLog


@dataclass(frozen=True)
class ToolOutcome:
    """One look-up: the result object, or why there is none."""

    tool: str
    result: dict[str, Any] | None
    error: str = ""
    ms: int = 0

    @property
    def ok(self) -> bool:
        return self.result is not None


class ToolBox:
    """Calls a plan's tools for one call, on one HTTP client (opened at the first call)."""

    def __init__(self, tools: Mapping[str, HttpTool], events: EventLog) -> None:
        self.tools = tools
        self.events = events
        self._http: httpx.AsyncClient | None = None
        self.changes = 0  # calls sent to tools that are not read-only (`HttpTool.repeatable`)

    def specs(self, names: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
        """The OpenAI tools API's `tools` for `names`: the tools' schemas less the slots the
        bot fills in itself (`reads`), which the model must not choose."""
        specs = []
        for name in names:
            tool = self.tools[name]
            schema = dict(tool.parameters)
            schema["properties"] = {k: v for k, v in schema.get("properties", {}).items()
                                    if k not in tool.reads}
            if "required" in schema:
                schema["required"] = [k for k in schema["required"] if k not in tool.reads]
            specs.append({"type": "function", "function": {
                "name": name, "description": tool.description, "parameters": schema}})
        return specs

    async def call(self, name: str, args: Mapping[str, Any],
                   slots: Mapping[str, str]) -> ToolOutcome:
        """Look up `name` with `args` plus the tool's `reads` slots (from `slots`, the call's;
        they replace any argument of the same name)."""
        started = time.perf_counter()
        outcome = await self._call(name, args, slots)
        outcome = ToolOutcome(outcome.tool, outcome.result, outcome.error,
                              round((time.perf_counter() - started) * 1000))
        if outcome.ok:
            self.events.emit("tool.call", tool=name, ms=outcome.ms,
                             fields=sorted(outcome.result or {}))
        else:
            self.events.emit("tool.call", tool=name, ms=outcome.ms, error=outcome.error)
        return outcome

    async def call_json(self, name: str, arguments: str,
                        slots: Mapping[str, str]) -> ToolOutcome:
        """A call the dialogue model asked for, its arguments as the JSON text it wrote."""
        if name not in self.tools:
            return ToolOutcome(name, None, f"the model asked for an unknown tool '{name}'")
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            return ToolOutcome(name, None, f"the model's arguments are not JSON: {arguments[:80]!r}")
        if not isinstance(args, dict):
            return ToolOutcome(name, None, "the model's arguments are not a JSON object")
        return await self.call(name, args, slots)

    async def _call(self, name: str, args: Mapping[str, Any],
                    slots: Mapping[str, str]) -> ToolOutcome:
        tool = self.tools[name]
        missing = [slot for slot in tool.reads if not slots.get(slot)]
        if missing:
            return ToolOutcome(name, None, f"slot(s) {', '.join(missing)} not collected yet")
        sent = {**args, **{slot: slots[slot] for slot in tool.reads}}
        try:
            jsonschema.validate(sent, tool.parameters)
        except jsonschema.ValidationError as exc:
            return ToolOutcome(name, None, f"arguments do not fit the tool's schema: {exc.message}")
        if self._http is None:
            self._http = httpx.AsyncClient()
        if not tool.repeatable:
            self.changes += 1  # counted before it goes: a call cut off may still have acted
        try:
            if tool.method == "GET":
                response = await self._http.get(tool.url, params=sent,
                                                 timeout=tool.timeout_ms / 1000)
            else:
                response = await self._http.post(tool.url, json=sent,
                                                  timeout=tool.timeout_ms / 1000)
        except httpx.TimeoutException:
            return ToolOutcome(name, None, f"no answer within {tool.timeout_ms} ms")
        except httpx.HTTPError as exc:
            return ToolOutcome(name, None, f"{type(exc).__name__}: {exc}")
        if not response.is_success:
            return ToolOutcome(name, None, f"HTTP {response.status_code}")
        try:
            result = response.json()
        except ValueError:
            return ToolOutcome(name, None, "the answer is not JSON")
        if not isinstance(result, dict):
            return ToolOutcome(name, None, "the answer is not a JSON object")
        return ToolOutcome(name, result)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
