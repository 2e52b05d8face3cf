"""The dialog step: caller text in, a decision out (answer, say, transfer).

Safety first: emergency and "human please" guards run before retrieval, retrieval decides
whether the question is in scope before any LLM runs, and an LLM answer is kept only where the
approved answer supports it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import AsyncIterator, Literal

from ivr.dialog.grounding import is_supported
from ivr.dialog.guards import find_phrase, is_backchannel, is_stop_request
from ivr.dialplan.model import Dialplan
from ivr.events import EventLog
from ivr.kb.retriever import KBEntry, Retriever
from ivr.llm.client import LLMClient
from ivr.tts.sentences import SentenceBuffer, split_sentences

Action = Literal["answer", "say", "transfer"]


@dataclass(frozen=True)
class Decision:
    """What the bot does with one caller turn. `say` is spoken first; a transfer follows it."""

    action: Action
    reason: str
    say: str = ""
    entry: KBEntry | None = None
    target: str | None = None
    evidence: dict = field(default_factory=dict)


@dataclass
class DialogState:
    """What the conversation holds so far (the agent's summary is built from it)."""

    language: str
    turns: list[tuple[str, str]] = field(default_factory=list)  # (caller text, bot text)
    unresolved: int = 0


class DialogEngine:
    def __init__(self, plan: Dialplan, retriever: Retriever, llm: LLMClient | None,
                 events: EventLog) -> None:
        self.plan = plan
        self.retriever = retriever
        self.llm = llm
        self.events = events
        self.state = DialogState(language=plan.languages[0])

    def greeting(self) -> str:
        return self.plan.text(self.plan.prompts.greeting, self.state.language)

    def decide(self, text: str, language: str | None = None) -> Decision:
        """Choose what to do with one recognised caller turn."""
        if language in self.plan.languages:
            self.state.language = language
        prompts, esc = self.plan.prompts, self.plan.escalation
        if phrase := find_phrase(text, esc.emergency_phrases):
            return self._transfer("emergency", prompts.emergency, self.plan.transfer.emergency,
                                  {"phrase": phrase})
        if phrase := find_phrase(text, esc.human_phrases):
            return self._transfer("caller_asked_for_human", prompts.transfer,
                                  self.plan.transfer.default, {"phrase": phrase})
        match = self.retriever.search(text)
        evidence = {"score": round(match.score, 3), "runner_up": round(match.runner_up, 3)}
        if match.entry is not None:
            self.state.unresolved = 0
            return Decision("answer", "kb_match", entry=match.entry,
                            say=self.plan.text(match.entry.answer, self.state.language),
                            evidence={**evidence, "entry": match.entry.id})
        self.state.unresolved += 1
        if self.state.unresolved >= esc.max_unresolved_turns:
            return self._transfer("cannot_help", prompts.transfer, self.plan.transfer.default,
                                  {**evidence, "unresolved_turns": self.state.unresolved})
        return Decision("say", "out_of_scope", say=self.plan.text(prompts.cannot_help,
                                                                   self.state.language),
                        evidence=evidence)

    def classify_interjection(self, text: str) -> Literal["backchannel", "stop", "turn"]:
        """What short talk over the bot means. Only something the bot can act on (a guard phrase,
        a known question, or a longer sentence) interrupts it; "mhm", a cough misheard as a word,
        or a stray syllable does not. "Stop"/"wait" stop the bot so it listens."""
        if is_backchannel(text):
            return "backchannel"
        if is_stop_request(text):
            return "stop"
        esc = self.plan.escalation
        if find_phrase(text, esc.emergency_phrases) or find_phrase(text, esc.human_phrases):
            return "turn"
        if len(text.split()) >= 4 or self.retriever.search(text).entry is not None:
            return "turn"
        return "backchannel"

    def technical_fallback(self, error: str) -> Decision:
        return self._transfer("technical_failure", self.plan.prompts.technical_fallback,
                              self.plan.transfer.default, {"error": error})

    def dtmf(self, digit: str) -> Decision | None:
        """Key 0 asks for a person; menus come with the full dialplan language."""
        if digit == "0":
            return self._transfer("caller_pressed_0", self.plan.prompts.transfer,
                                  self.plan.transfer.default, {"digit": digit})
        return None

    def _transfer(self, reason: str, prompt: dict[str, str], target: str | None,
                  evidence: dict) -> Decision:
        return Decision("transfer", reason, say=self.plan.text(prompt, self.state.language),
                        target=target or self.plan.transfer.default, evidence=evidence)

    async def answer_sentences(self, question: str, decision: Decision) -> AsyncIterator[str]:
        """Sentences to speak for an answer: the LLM's phrasing while the approved text supports
        it, then whatever approved sentences it left out, so the caller always hears every
        approved fact and nothing else. At the first unsupported sentence the model is off
        track and generation stops; if the LLM fails or is late, the approved text is spoken."""
        approved = decision.say
        spoken: list[str] = []
        if self.plan.answers.style == "llm" and self.llm is not None:
            messages = [{"role": "system", "content": f"{self.plan.answers.instructions}\n"
                                                      f"Facts: {approved}"},
                        {"role": "user", "content": question}]
            try:
                async for sentence in self._llm_sentences(messages):
                    if not self._keep(sentence, approved):
                        break
                    spoken.append(sentence)
                    yield sentence
            except Exception as exc:  # noqa: BLE001 - any LLM failure falls back to the approved text
                self.events.emit("llm.error", error=f"{type(exc).__name__}: {exc}")
        said = " ".join(spoken)
        missing = [s for s in split_sentences(approved) if not said or not is_supported(s, said)]
        if spoken and missing:
            self.events.emit("llm.completed_from_approved", sentences=len(missing))
        for sentence in missing:
            yield sentence

    async def _llm_sentences(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        assert self.llm is not None
        buffer, started, first = SentenceBuffer(), time.perf_counter(), True
        async for delta in self.llm.stream(messages):
            if first and delta.strip():
                first = False
                self.events.emit("llm.first_token", latency_s=round(time.perf_counter() - started, 3))
            for sentence in buffer.push(delta):
                yield sentence
        for sentence in buffer.flush():
            yield sentence

    def _keep(self, sentence: str, approved: str) -> bool:
        ok = is_supported(sentence, approved)
        self.events.emit("llm.sentence", text=sentence, supported=ok)
        return ok

    def summary(self, reason: str) -> str:
        """Deterministic summary for the agent: what the caller said and why we transfer."""
        said = " | ".join(caller for caller, _ in self.state.turns[-3:]) or "(nothing recognised)"
        return f"reason={reason}; language={self.state.language}; caller said: {said}"
