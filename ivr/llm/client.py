"""Client for any OpenAI-compatible chat API (llama.cpp server embedded, vLLM in production)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx

from ivr.errors import EngineTimeout, IvrError


@dataclass
class ToolCall:
    """A function call the model asked for (OpenAI tools API), put together from the stream."""

    id: str = ""
    name: str = ""
    arguments: str = ""

    def message(self) -> dict[str, Any]:
        """As the assistant message's `tool_calls` entry that goes back to the model."""
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class LLMSettings:
    """Where the model is and how long we wait for it."""

    base_url: str = "http://127.0.0.1:8765/v1"
    model: str = "default"
    api_key: str = "none"
    first_token_timeout_s: float = 6.0
    total_timeout_s: float = 20.0
    max_tokens: int = 120
    temperature: float = 0.2
    embedded: bool = False
    """The embedded CPU model (llama.cpp on this host's cores, started for the hotline): work
    that cannot fit a budget there is not asked of it (see `TicketSettings.llm`)."""


class LLMClient:
    """Streams chat completions. Cancelling the consuming task closes the HTTP stream, which
    makes the server stop generating: barge-in costs no further compute."""

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={"Authorization": f"Bearer {settings.api_key}"},
            timeout=httpx.Timeout(settings.total_timeout_s, connect=3.0,
                                  read=settings.first_token_timeout_s))

    async def stream(self, messages: list[dict[str, Any]],
                     options: dict[str, Any] | None = None,
                     tool_calls: list[ToolCall] | None = None) -> AsyncIterator[str]:
        """Yield text deltas. `options` are further request fields (`max_tokens`,
        `response_format`, `tools`...) over the settings'; function calls the model makes are
        put together into `tool_calls`. Raises EngineTimeout when the first token or the whole
        reply is late, IvrError when the server is unreachable or answers with an error."""
        body = {"model": self.settings.model, "messages": messages, "stream": True,
                "max_tokens": self.settings.max_tokens, "temperature": self.settings.temperature,
                **(options or {})}
        deadline = time.monotonic() + self.settings.total_timeout_s
        try:
            async with self._http.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code != 200:
                    detail = (await response.aread())[:200].decode("utf-8", "replace")
                    raise IvrError(f"LLM at {self.settings.base_url} answered "
                                   f"{response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    if time.monotonic() > deadline:
                        raise EngineTimeout(f"LLM reply took over {self.settings.total_timeout_s} s")
                    delta = _delta(line, tool_calls)
                    if delta is None:
                        break
                    if delta:
                        yield delta
        except httpx.TimeoutException as exc:
            raise EngineTimeout(f"LLM at {self.settings.base_url} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise IvrError(f"LLM at {self.settings.base_url} unreachable: {exc}") from exc

    def json_reply(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        """Request fields that hold the reply to the JSON `schema`: OpenAI's `json_schema`
        response format (vLLM decodes to it), or on the embedded llama.cpp server its
        `json_object` with a schema (compiled to a GBNF grammar)."""
        if self.settings.embedded:
            return {"response_format": {"type": "json_object", "schema": schema}}
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "schema": schema}}}

    async def complete(self, messages: list[dict[str, Any]],
                       options: dict[str, Any] | None = None) -> str:
        """The whole reply (see `stream`)."""
        return "".join([delta async for delta in self.stream(messages, options)])

    async def aclose(self) -> None:
        await self._http.aclose()


def _delta(line: str, tool_calls: list[ToolCall] | None = None) -> str | None:
    """Text of one server-sent-events line; None at the end of the stream. Function-call
    fragments go into `tool_calls` (by their index: the id and name come first, the arguments
    in pieces)."""
    if not line.startswith("data:"):
        return ""
    payload = line[5:].strip()
    if payload == "[DONE]":
        return None
    choices = json.loads(payload).get("choices") or [{}]
    delta = choices[0].get("delta") or {}
    for fragment in delta.get("tool_calls") or []:
        if tool_calls is None:
            continue
        index = fragment.get("index", len(tool_calls))
        while len(tool_calls) <= index:
            tool_calls.append(ToolCall())
        call, function = tool_calls[index], fragment.get("function") or {}
        call.id = fragment.get("id") or call.id
        call.name = function.get("name") or call.name
        call.arguments += function.get("arguments") or ""
    return delta.get("content") or ""
