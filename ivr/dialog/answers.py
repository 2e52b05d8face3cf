"""Spoken answers from the LLM, kept honest: every sentence must be supported by approved text."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any, AsyncIterator, Callable, Mapping

from ivr.dialog.grounding import is_grounded, is_supported
from ivr.events import EventLog
from ivr.llm.client import LLMClient, ToolCall
from ivr.tools.http import ToolBox
from ivr.tools.results import as_facts
from ivr.tts.sentences import SentenceBuffer, split_sentences

MAX_TOOL_CALLS = 3  # per reply: one round of calls, then the answer
_MARKUP = re.compile(r"[{}\[\]<>`|#*_\\]")


def speakable(sentence: str) -> bool:
    """Text a caller can be read: no JSON, code, markup or tags. A small model writes its tool
    call out as text ('{"name": "book_appointment", ...}'), and the numbers in it match the
    facts: without this it would be read out."""
    return not _MARKUP.search(sentence)


class GroundedWriter:
    """Streams LLM sentences while the approved facts support them, then completes with any
    approved sentence left out, so the caller hears every approved fact and nothing else. At the
    first unsupported sentence generation stops; on an LLM failure or timeout the approved text
    is spoken as written."""

    def __init__(self, llm: LLMClient | None, events: EventLog) -> None:
        self.llm = llm
        self.events = events

    async def answer(self, instructions: str, facts: str, question: str,
                     complete: bool = True, budget_s: float | None = None,
                     messages: list[dict[str, Any]] | None = None) -> AsyncIterator[str]:
        """`complete`: append approved sentences the model left out (answers); a free
        conversation (converse) only needs what it said to be supported. `budget_s`: the first
        supported sentence must come this soon, else the approved text is spoken as written.
        `messages`: the whole prompt (a conversation, `ivr.dialog.converse`) instead of the
        instructions, facts and question alone."""
        spoken: list[str] = []
        if self.llm is not None:
            messages = messages or [
                {"role": "system", "content": f"{instructions}\nFacts: {facts}"},
                {"role": "user", "content": question}]
            async with contextlib.aclosing(self._checked(
                    messages, lambda s: is_supported(s, facts), budget_s)) as checked:
                async for sentence, supported in checked:
                    if not supported:
                        break
                    spoken.append(sentence)
                    yield sentence
        if spoken and not complete:
            return
        said = " ".join(spoken)
        missing = [s for s in split_sentences(facts) if not said or not is_supported(s, said)]
        if spoken and missing:
            self.events.emit("llm.completed_from_approved", sentences=len(missing))
        for sentence in missing:
            yield sentence

    async def from_passages(self, instructions: str, passages: list[str], question: str,
                            dropped: list[str], max_sentences: int = 2) -> AsyncIterator[str]:
        """The model's answer from retrieved `passages`, sentence by sentence, keeping those
        one passage supports on its own (`is_grounded`: facts from different passages are not
        combined) and appending the others to `dropped`. The answer is short: generation stops
        after `max_sentences` kept, or twice that many written. Nothing is added from the
        passages: with no LLM, or when it fails, nothing is said."""
        if self.llm is None:
            return
        context = "\n\n".join(passages)
        messages = [{"role": "system", "content": f"{instructions}\n\nPassages:\n{context}"},
                    {"role": "user", "content": question}]
        kept = 0
        async with contextlib.aclosing(self._checked(
                messages, lambda s: any(is_grounded(s, p) for p in passages))) as checked:
            async for sentence, supported in checked:
                if supported:
                    kept += 1
                    yield sentence
                else:
                    dropped.append(sentence)
                if kept >= max_sentences or kept + len(dropped) >= 2 * max_sentences:
                    break

    async def with_tools(self, messages: list[dict[str, Any]], facts: str, box: ToolBox,
                         tools: tuple[str, ...], slots: Mapping[str, str],
                         failed: str) -> AsyncIterator[str]:
        """A conversational reply (`messages`, `ivr.dialog.converse`) from a model that may
        call `tools` (OpenAI tools API): what it says is checked against `facts`; it gets one
        round of calls, whose results become facts for the rest of its reply. A call that fails
        (or that the model wrote wrong) is not handed back to the model to talk around: the
        caller hears `failed`. With nothing supported said, the approved `facts` are."""
        known, spoken = [facts], 0

        def check(sentence: str) -> bool:
            return is_supported(sentence, " ".join(known))

        messages = list(messages)
        calls: list[ToolCall] = []
        rounds: list[dict[str, Any] | None] = [
            {"tools": box.specs(tools), "tool_choice": "auto"}, None]
        for options in rounds if self.llm is not None else []:
            async with contextlib.aclosing(self._checked(
                    messages, check, options=options, tool_calls=calls)) as checked:
                async for sentence, supported in checked:
                    if not supported:
                        calls.clear()   # stopped mid-reply: its calls may be cut short too
                        break
                    spoken += 1
                    yield sentence
            if options is None or not calls:
                break
            asked = calls[:MAX_TOOL_CALLS]
            outcomes = [await box.call_json(c.name, c.arguments, slots) for c in asked]
            if not all(o.ok for o in outcomes):
                yield failed
                return
            known += [as_facts(o.tool, o.result or {}) for o in outcomes]
            messages += [{"role": "assistant", "content": None,
                          "tool_calls": [c.message() for c in asked]},
                         *[{"role": "tool", "tool_call_id": c.id,
                            "content": json.dumps(o.result)} for c, o in zip(asked, outcomes)]]
            calls = []
        if not spoken:
            for sentence in split_sentences(facts):
                yield sentence

    async def _checked(self, messages: list[dict[str, Any]], check: Callable[[str], bool],
                       budget_s: float | None = None, options: dict[str, Any] | None = None,
                       tool_calls: list[ToolCall] | None = None
                       ) -> AsyncIterator[tuple[str, bool]]:
        """The model's sentences with `check`'s verdict; `budget_s`: the first supported one
        must come this soon. A timeout or LLM failure ends the stream (as an event).
        `options` and `tool_calls` go to `LLMClient.stream`."""
        sentences = self._sentences(messages, options, tool_calls)
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        heard = False
        try:
            while True:
                wait = None if deadline is None or heard else deadline - time.perf_counter()
                sentence = await asyncio.wait_for(anext(sentences), wait)
                supported = speakable(sentence) and check(sentence)
                heard = heard or supported
                self.events.emit("llm.sentence", text=sentence, supported=supported)
                yield sentence, supported
        except StopAsyncIteration:
            pass
        except (asyncio.TimeoutError, TimeoutError):
            self.events.emit("llm.over_budget", budget_ms=round((budget_s or 0) * 1000))
        except Exception as exc:  # noqa: BLE001 - any LLM failure falls back to approved text
            self.events.emit("llm.error", error=f"{type(exc).__name__}: {exc}")
        finally:
            await sentences.aclose()

    async def _sentences(self, messages: list[dict[str, Any]],
                         options: dict[str, Any] | None = None,
                         tool_calls: list[ToolCall] | None = None) -> AsyncIterator[str]:
        assert self.llm is not None
        buffer, started, first = SentenceBuffer(), time.perf_counter(), True
        async for delta in self.llm.stream(messages, options, tool_calls):
            if first and delta.strip():
                first = False
                self.events.emit("llm.first_token", latency_s=round(time.perf_counter() - started, 3))
            for sentence in buffer.push(delta):
                yield sentence
        for sentence in buffer.flush():
            yield sentence
