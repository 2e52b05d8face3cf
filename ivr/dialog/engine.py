"""The dialog: walks the dialplan's nodes on caller speech, keys and silence.

Safety first: on every caller turn the emergency and "a person please" guards run before any
node logic or model, retrieval decides whether a question is in scope before the LLM runs, and an
LLM reply is kept only where approved text supports it.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Literal

from ivr.dialog.actions import (Action, Answer, Converse, DocumentAnswer, Hangup, Lookup, Say,
                                Step, Transfer)
from ivr.dialog.answers import GroundedWriter
from ivr.dialog.converse import converse_messages, persona
from ivr.dialog.guards import closing, follows_up, is_backchannel, is_stop_request
from ivr.dialog.menus import MenuMeaning, is_repeat_request, options_text
from ivr.dialog.ordinals import ordinal_choice
from ivr.dialog.phrases import PhraseMatcher
from ivr.dialog.summary import AgentSummary, SummaryTurn, build_summary
from ivr.dialog.slot_llm import read_slots
from ivr.dialog.slot_spans import FREE_SPEECH_KINDS, Wanted, take_slots
from ivr.dialog.slot_numbers import UNITS, digit_sounds, spoken_digits, tokenize as number_words
from ivr.dialog.slots import DigitCollector, parse_slot
from ivr.dialplan.hours import is_open
from ivr.dialplan.model import (KEYED_KINDS, AnswerNode, BranchNode, CollectNode, Condition,
                                ConverseNode, Dialplan, Escalation, HangupNode, LanguageText,
                                LookupNode, MenuChoice, MenuNode, Node, SayNode, SurveyNode,
                                TransferNode)
from ivr.events import EventLog
from ivr.kb.passages import PassageRetriever
from ivr.kb.quote import answers_cost, states, wants_amount
from ivr.kb.retriever import KBEntry, Match, Retriever
from ivr.llm.client import LLMClient
from ivr.safety.anger import AngerAssessment
from ivr.safety.guard import EscalationGuard, Verdict
from ivr.safety.instructions import instruction_attempt
from ivr.safety.check import safety_answer
from ivr.safety.lexicon import GuardRules
from ivr.safety.semantic import SemanticNet
from ivr.text.normalize import (asks_something, is_cjk, opens_with_question_word,
                                simple_normalize, spoken_number, tokenize)
from ivr.tools.http import ToolBox, ToolOutcome
from ivr.tools.results import fill

MAX_HOPS = 64  # node entries per input; the checker forbids input-free loops, this is a backstop
SECRET = "[secret]"  # a secret slot's value wherever it is recorded or shown
CONFIRM_LEAD = 0.005   # "is your question ...?" only about an entry ahead of the next one
# a reply that names one of two entries scores this much against it ("the roaming one" 0.877,
# "is the network down" 0.961); "no, neither of those", "nope", "不是" score 0.81-0.85
NAMED_MIN_SCORE = 0.86
BARE_REPLY_TOKENS = 3   # "no, neither", "不是", "都不是": a yes or no this short names nothing
MISREAD_MIN_DIGITS = 4  # a turn read out at least this many digits to be a try at a number
DIGIT_SHARE = 0.4       # of a turn's words, for it to be a read-out number, not a question
QUESTION_MIN_WORDS = 5  # a menu turn this long may be the caller's question, not just a choice


@dataclass
class DialogState:
    """What the conversation holds so far (the agent's summary is built from it)."""

    language: str
    node: str = ""
    slots: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    unresolved: int = 0
    converse_turns: int = 0
    turns: list[SummaryTurn] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)
    mood: AngerAssessment | None = None
    upset: bool = False            # the last turn was frustrated or angry (no topic lists)
    offered_human: bool = False    # the bot just offered a person and waits for yes or no
    checking: str = ""             # the turn held while the bot asks whether the caller is safe
    safety_checked: bool = False   # asked once a call
    pending: str = ""              # a problem told at a slot prompt, for the node the slot leads to
    heard: dict[str, str] = field(default_factory=dict)  # slot values said before their prompt
    looked_up: list[str] = field(default_factory=list)  # what look-ups told the caller: facts
    no_person_at: str = ""         # the node a failed transfer fell back to (taking a message)
    # (entry ids, question): the bot asked "is it ...?" about one entry or "... or ...?" about two
    confirming: tuple[tuple[str, ...], str] = ((), "")
    section_offered: str = ""      # the question the bot asked "is it about <section>?" for
    last_entry: str = ""           # the knowledge entry the last answer at a question node gave
    number_heard: str = ""         # a number of unusual length read back for a yes or no


@dataclass(frozen=True)
class DialogCheckpoint:
    """The dialog before a caller turn (`DialogEngine.checkpoint`); opaque to its holder."""

    saved: tuple
    tool_changes: int


class DialogEngine:
    def __init__(self, plan: Dialplan, retriever: Retriever, llm: LLMClient | None,
                 events: EventLog, caller_number: str = "",
                 now: datetime.datetime | None = None, net: SemanticNet | None = None,
                 menus: MenuMeaning | None = None,
                 documents: PassageRetriever | None = None) -> None:
        """`menus` lets menus understand callers by meaning (lexical matching only without);
        `documents` lets answer nodes answer from the plan's documents."""
        self.plan = plan
        self.retriever = retriever
        self.documents = documents
        self.menus = menus if plan.menus.meaning else None
        self.writer = GroundedWriter(llm, events)
        self.events = events
        self.caller_number = caller_number
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.state = DialogState(language=plan.languages[0])
        self._secret = {n.slot for n in plan.nodes.values()
                        if isinstance(n, CollectNode) and n.secret}
        self._digits: DigitCollector | None = None
        self._menu_matchers: dict[tuple[str, int], PhraseMatcher] = {}
        self._assessed: tuple[str, Verdict] | None = None
        self.guard = EscalationGuard(net if net is not None else SemanticNet(retriever.embedder))
        self.tools = ToolBox(plan.tools, events)
        asks = plan.slots.llm
        self._slot_llm = llm if llm is not None and (
            asks is True or (asks == "auto" and not llm.settings.embedded)) else None

    # ---- inputs -------------------------------------------------------------------------------
    def checkpoint(self) -> DialogCheckpoint:
        """What a caller turn may change (the conversation, keyed digits, the call's anger), to
        take the turn back with `rewind` when the caller turns out to have gone on talking."""
        return DialogCheckpoint(copy.deepcopy((self.state, self._digits, self.guard.anger)),
                                self.tools.changes)

    def acted_since(self, checkpoint: DialogCheckpoint) -> bool:
        """Whether a tool that is not read-only was called since `checkpoint`: the turn then
        cannot be taken back (the service may have acted on the call)."""
        return self.tools.changes > checkpoint.tool_changes

    def rewind(self, checkpoint: DialogCheckpoint) -> None:
        """The conversation as it was at `checkpoint` (which stays usable for another rewind)."""
        self.state, self._digits, self.guard.anger = copy.deepcopy(checkpoint.saved)

    def start(self) -> Step:
        closed = self.plan.hours is not None and not is_open(self.plan.hours, self.now)
        first = self.plan.hours.closed_node if closed and self.plan.hours else self.plan.start
        return Step(self._enter(first), "after_hours" if closed else "start", first)

    def on_text(self, text: str, language: str | None = None, audio: bytes | None = None,
                speech_s: float | None = None) -> Step:
        """One recognised caller turn; `audio` (8 kHz PCM16) lets anger hear the voice."""
        if language in self.plan.languages:
            self.state.language = language
        verdict = self._verdict(text, audio, speech_s)
        guard = self._guard_step(verdict)
        if guard is not None:
            self.state.confirming = ((), "")   # handed over: no "yes" may answer it later
            self.state.section_offered = ""
            self.state.checking = ""
            return guard
        if self.state.checking:
            held, self.state.checking = self.state.checking, ""
            answer = safety_answer(text)
            self.events.emit("dialog.safety_check", answer=answer or "other")
            if answer == "unsafe":
                return self._urgent("self_harm", {"safety_check": "unsafe", "text": text})
            if answer == "safe":
                text = held     # go on with what they asked before the check
        elif verdict.kind == "check_in" and not self.state.safety_checked:
            self.state.safety_checked = True
            self.state.checking = text
            return Step([Say(self._t(self.plan.prompts.safety_check))], "safety_check",
                        self.state.node, verdict.evidence)
        if self.state.offered_human:
            self.state.offered_human = False
            answer = parse_slot("yes_no", text, None, self.state.language, self.now.date())
            if answer == "yes":
                return self._to_human("caller_accepted_offer", {"text": text})
            if answer == "no":
                return Step([Say(self._t(self.plan.prompts.offer_declined))], "offer_declined",
                            self.state.node)
        if self.state.confirming[0]:
            confirmed = self._confirmed(text)
            if confirmed is not None:
                return confirmed
        if self.state.section_offered:
            confirmed = self._section_confirmed(text)
            if confirmed is not None:
                return confirmed
        if self.state.number_heard:
            checked = self._number_checked(text)
            if checked is not None:
                return checked
        node = self.plan.nodes[self.state.node]
        attempt = instruction_attempt(text)
        if attempt is not None:
            self.events.emit("dialog.instruction_attempt", matched=attempt.matched,
                             refused=attempt.refuse)
            if attempt.refuse:
                # answering the nearest approved entry would sound like agreement
                follow = [self._after_menu_answer(node)] if isinstance(node, MenuNode) \
                    else self._prompt_again(node)
                return Step([Say(self._t(self.plan.prompts.instructions_refused)), *follow],
                            "instructions_refused", self.state.node,
                            {"text": text, "instruction_attempt": attempt.matched})
        if self.plan.slots.free_speech and isinstance(node, (MenuNode, CollectNode)):
            self.state.heard.update(take_slots(text, self._slots_ahead(node), self.state.language,
                                               self.now.date()))
        if isinstance(node, (AnswerNode, ConverseNode)) and (ending := closing(text)):
            # a caller closing the call asked nothing: no miss counted, no one to hand over to
            if ending == "goodbye":
                return Step([Say(self._t(self.plan.prompts.goodbye)), Hangup("caller_goodbye")],
                            "caller_goodbye", self.state.node, {"text": text})
            return Step([Say(self._t(self.plan.prompts.thanks_reply))], "caller_thanks",
                        self.state.node, {"text": text})
        handler = {"menu": self._menu_text, "collect": self._collect_text,
                   "answer": self._answer_text, "converse": self._converse_text,
                   "survey": self._survey_text, "lookup": self._lookup_again}.get(node.type)
        if handler is None:
            return Step([], "not_waiting", self.state.node)
        step = handler(node, text)
        if verdict.kind == "frustrated" and step.reason not in ("out_of_scope", "cannot_help"):
            step = Step([Say(self._t(self.plan.prompts.empathy)), *step.actions], step.reason,
                        step.node, {**step.evidence, "mood": "frustrated"})
        return step

    def on_dtmf(self, digit: str) -> Step | None:
        """A key: menu choice, digits for a slot, 1/2 for yes/no and surveys, or the "human"
        key."""
        self.state.confirming = ((), "")   # a key is no answer to "is your question ...?"
        self.state.section_offered = ""
        self.state.checking = ""             # nor to "are you safe right now?"
        self.state.number_heard = ""         # keys give the number again, exactly
        node = self.plan.nodes[self.state.node]
        if isinstance(node, CollectNode) and node.kind in KEYED_KINDS:
            self._digits = self._digits or DigitCollector(node.length)
            keyed = self._digits.push(digit)
            if keyed is None:
                return None
            return self._slot_filled(node, self._slot_value(node, keyed), checked=True)
        if isinstance(node, CollectNode) and node.kind == "yes_no" and digit in "12":
            return self._slot_filled(node, "yes" if digit == "1" else "no")
        esc = self.escalation()
        if esc.human_key and digit == esc.human_key:
            return self._to_human("caller_pressed_" + digit, {"digit": digit})
        if isinstance(node, MenuNode):
            choice = next((c for c in node.choices if c.key == digit), None)
            return self._take_up_at_answers(self._choose(node, choice, {"digit": digit}))
        if isinstance(node, SurveyNode) and digit in "12":
            return self._survey_text(node, "yes" if digit == "1" else "no")
        return None

    def on_no_input(self) -> Step:
        """The caller said nothing for the plan's no-input timeout."""
        node = self.plan.nodes[self.state.node]
        self.state.attempts += 1
        if self.state.attempts > getattr(node, "retries", 2):
            return Step([Say(self._t(self.plan.prompts.goodbye)), Hangup("no_input")], "no_input",
                        self.state.node)
        return Step([Say(self._t(self.plan.prompts.no_input))] + self._prompt_again(node),
                    "no_input_reprompt", self.state.node)

    def on_transfer_failed(self, status: str, fallback: str | None) -> Step:
        """The human could not be reached (busy, no answer, rejected)."""
        say = Say(self._t(self.plan.prompts.transfer_failed))
        if fallback:
            self.state.no_person_at = fallback
            return Step([say] + self._enter(fallback), "transfer_failed", fallback, {"status": status})
        return Step([say, Hangup("transfer_failed")], "transfer_failed", self.state.node,
                    {"status": status})

    def technical_fallback(self, error: str) -> Step:
        return Step([Say(self._t(self.plan.prompts.technical_fallback)),
                     Transfer(self.plan.transfer.default, "technical_failure",
                              self.plan.transfer.fallback)],
                    "technical_failure", self.state.node, {"error": error})

    def classify_interjection(self, text: str, over_question: bool = False,
                              continuing: bool = False
                              ) -> Literal["backchannel", "stop", "answer", "turn"]:
        """What short talk over the bot means. Only something the bot can act on (a guard phrase,
        a menu word, a known question, or a longer sentence) interrupts it; "mhm", a cough misheard
        as a word, or a stray syllable does not. "Stop"/"wait" stop the bot so it listens.
        `over_question`: said over the last thing the bot had to say (the node's prompt, after
        any message before it): an answer to it ("no" to "does the server power on now?") is
        the caller's turn ("answer": never the rest of the turn before). `continuing`: said as
        the bot only began to reply, right after the caller's own turn: anything else but a
        backchannel or a stop is the rest of that turn."""
        if over_question and self.answers_prompt(text):
            return "answer"
        if is_backchannel(text):
            return "backchannel"
        if is_stop_request(text):
            return "stop"
        if continuing:
            return "turn"
        rules = self._rules()
        node = self.plan.nodes[self.state.node]
        if self.guard.urgent(rules, text) or self.guard.human(rules, text):
            return "turn"
        if isinstance(node, MenuNode) and (is_repeat_request(text)
                                           or self._menu_match(node, text)[0] is not None):
            return "turn"
        if len(text.split()) >= 4 or self.retriever.search(text).entry is not None:
            return "turn"
        return "backchannel"

    def answers_prompt(self, text: str) -> bool:
        """Whether `text` is a value for the slot the current node asks for, or yes or no to an
        "is your question ...?" the bot asked."""
        if self.state.confirming[0] or self.state.section_offered or self.state.number_heard:
            return parse_slot("yes_no", text, None, self.state.language,
                              self.now.date()) is not None
        node = self.plan.nodes[self.state.node]
        return isinstance(node, CollectNode) and self._slot_value(node, text) is not None

    # ---- LLM-backed speech ---------------------------------------------------------------------
    def speak(self, action: Answer | Converse | DocumentAnswer) -> AsyncIterator[str]:
        """The sentences to say for an LLM-backed action, as they come."""
        if isinstance(action, DocumentAnswer):
            return self._from_documents(action)
        if isinstance(action, Answer):
            policy = self.plan.answers
            if policy.style == "verbatim" or action.score >= policy.verbatim_above:
                return _single(action.approved)
            return self.writer.answer(policy.instructions, action.approved, action.question,
                                      budget_s=policy.llm_budget_ms / 1000)
        facts = " ".join([action.facts, *self.state.looked_up])
        llm = self.writer.llm
        if llm is None or llm.settings.embedded:
            # the embedded CPU model is asked the short way (see ivr.dialog.converse)
            return self.writer.answer(action.instructions, facts, action.question,
                                      complete=False)
        messages = converse_messages(self.plan.name, action.instructions, self.state.turns,
                                     self.recorded_slots, facts, action.question)
        if action.tools:
            return self.writer.with_tools(messages, facts, self.tools, action.tools,
                                          self.state.slots,
                                          self._t(self.plan.prompts.lookup_failed))
        return self.writer.answer(action.instructions, facts, action.question, complete=False,
                                  messages=messages)

    async def look_up(self, action: Lookup) -> Step:
        """Run a lookup node's tool, then say what it found and walk on to `next` (or say that
        it cannot be looked up and go to `on_fail`)."""
        outcome = await self.tools.call(action.tool, action.args, self.state.slots)
        return self._looked_up(action.node, outcome)

    def _looked_up(self, name: str, outcome: ToolOutcome) -> Step:
        node = self.plan.nodes[name]
        assert isinstance(node, LookupNode), name
        said = fill(self._t(node.say), outcome.result, self.state.language) \
            if outcome.result is not None else None
        if said is not None and said[1]:   # an empty list: the node's `empty` text, if any
            said = fill(self._t(node.empty), outcome.result or {}, self.state.language) \
                if node.empty is not None else None
        if said is None:
            error = outcome.error or "the result lacks a field the node says, or it is empty"
            return Step([Say(self._t(self.plan.prompts.lookup_failed)), *self._enter(node.on_fail)],
                        "lookup_failed", self.state.node, {"tool": node.tool, "error": error})
        self.state.looked_up.append(said[0])
        return Step([Say(said[0]), *self._enter(node.next)], "looked_up", self.state.node,
                    {"tool": node.tool, "ms": outcome.ms})

    def _lookup_again(self, node: LookupNode, text: str) -> Step:
        """The caller spoke while a look-up ran and the answer was dropped: look it up again."""
        return Step(self._enter(self.state.node), "lookup_again", self.state.node)

    async def aclose(self) -> None:
        """Close what the call opened (the tools' HTTP client)."""
        await self.tools.aclose()

    async def _from_documents(self, action: DocumentAnswer) -> AsyncIterator[str]:
        """The LLM's supported sentences, or the don't-know prompt (offering a person) when
        none is left; what was dropped goes into a `kb.document_answer` event."""
        assert self.plan.documents is not None
        if action.quote is not None:
            for sentence in action.quote.sentences:
                yield sentence
            self.events.emit("kb.document_answer", sentences=len(action.quote.sentences),
                             quoted=True,
                             documents=sorted({c.source for c in action.quote.chunks}))
            return
        passages = [f"[{p.chunk.place}]\n{p.chunk.text}" for p in action.passages]
        dropped: list[str] = []
        said = 0
        async for sentence in self.writer.from_passages(
                f"{persona(self.plan.name)} {self.plan.documents.instructions}", passages,
                action.question,
                dropped):
            said += 1
            yield sentence
        self.events.emit("kb.document_answer", sentences=said, dropped=dropped,
                         documents=sorted({p.chunk.source for p in action.passages}))
        if not said:
            self.state.offered_human = True
            yield self._t(self.plan.prompts.dont_know)

    def check_partial(self, text: str) -> Step | None:
        """An emergency or self-harm heard in an unfinished utterance: act before the caller
        stops talking."""
        verdict = self.guard.urgent(self._rules(), text, partial=True)
        if verdict is None:
            return None
        return self._urgent(verdict.kind, {**verdict.evidence, "partial": True})

    def summary(self, reason: str) -> AgentSummary:
        """The hand-over note for the agent (short form for the SIP header, full for screens)."""
        return build_summary(self.state.turns, self.recorded_slots, reason, self.state.mood,
                             self.state.language)

    @property
    def recorded_slots(self) -> dict[str, Any]:
        """The slots as they may be recorded or shown: secret ones as `[secret]`."""
        return {k: SECRET if k in self._secret else v for k, v in self.state.slots.items()}

    @property
    def keys_secret(self) -> bool:
        """Keys pressed now go to a secret slot: they are recorded as "•"."""
        node = self.plan.nodes.get(self.state.node)
        return isinstance(node, CollectNode) and node.secret
    def escalation(self) -> Escalation:
        """The hotline's escalation rules with the current node's overrides applied."""
        return node_escalation(self.plan, self.state.node)

    # ---- node walking --------------------------------------------------------------------------
    def _enter(self, name: str) -> list[Action]:
        actions: list[Action] = []
        for _ in range(MAX_HOPS):
            node = self.plan.nodes[name]
            self.state.node, self.state.attempts, self._digits = name, 0, None
            self.state.visited.append(name)
            self.events.emit("dialog.node", node=name, type=node.type)
            if isinstance(node, SayNode):
                actions.append(Say(self._t(node.say)))
                name = node.next
            elif isinstance(node, BranchNode):
                name = next((r.next for r in node.rules if self._holds(r.when)), node.otherwise)
            elif isinstance(node, CollectNode) and node.slot in self.state.heard:
                # Said already ("next Tuesday, my number is ..." at the menu): not asked again,
                # unless it is a number of an unusual length, which is read back first.
                value = self.state.heard.pop(node.slot)
                if not self._usual(node, value):
                    return actions + [self._read_back(value)]
                self._keep_slot(node, value, heard_earlier=True)
                name = node.next
            elif isinstance(node, TransferNode):
                announce = node.announce or self.plan.prompts.transfer
                return actions + [Say(self._t(announce)),
                                  Transfer(self.plan.target_uri(node.target), node.reason,
                                           node.fallback)]
            elif isinstance(node, HangupNode):
                return actions + [Say(self._t(node.say or self.plan.prompts.goodbye)),
                                  Hangup("dialplan")]
            elif isinstance(node, LookupNode):
                return actions + [Lookup(name, node.tool, dict(node.args))]
            else:
                if isinstance(node, ConverseNode):
                    self.state.converse_turns = 0
                if isinstance(node, MenuNode):  # a new choice: what was said for the last is moot
                    self.state.heard.clear()
                return actions + self._prompt_again(node)
        raise RuntimeError(f"dialplan walked {MAX_HOPS} nodes without waiting for the caller")

    def _prompt_again(self, node: object) -> list[Action]:
        text = getattr(node, "prompt", None) or getattr(node, "question", None)
        return [Say(self._t(text))] if text else []

    def _without_prompt(self, step: Step, node: object) -> list[Action]:
        """`step`'s actions less the prompt of `node`, where it ends (a question the caller has
        already asked is answered there instead)."""
        return step.actions[:len(step.actions) - len(self._prompt_again(node))]

    def _holds(self, when: Condition) -> bool:
        value = self.state.slots.get(when.slot) if when.slot else None
        tests = [
            when.equals is None or value == when.equals,
            when.one_of is None or value in when.one_of,
            when.is_open is None or self.plan.hours is None
            or is_open(self.plan.hours, self.now) == when.is_open,
            when.caller_prefix is None or self.caller_number.startswith(when.caller_prefix),
            when.language is None or self.state.language == when.language,
        ]
        return all(tests)

    def _retry(self, node: MenuNode | CollectNode | SurveyNode, reason: str,
               instead: LanguageText | None = None, sorry: LanguageText | None = None) -> Step:
        """The node asked again (`instead`: this prompt alone, for a caller who was heard but
        said no; `sorry`: said before the prompt instead of `prompts.not_understood`), or its
        `on_fail` once its retries are spent."""
        self.state.attempts += 1
        retries = getattr(node, "retries", 1)
        if self.state.attempts > retries:
            fail = getattr(node, "on_fail", None) or getattr(node, "next")
            return self._take_up_pending(Step(self._enter(fail), reason + "_gave_up", fail))
        if instead is not None:
            return Step([Say(self._t(instead))], reason, self.state.node,
                        {"attempt": self.state.attempts})
        if isinstance(node, MenuNode) and self.state.attempts < retries:
            # Name the choices briefly; the whole menu again is for the last try or on request.
            again = self._choices_named(node, self.plan.prompts.menu_options)
        else:
            again = self._t(getattr(node, "reprompt", None) or getattr(node, "prompt", None)
                            or getattr(node, "question", None))
        return Step([Say(self._t(sorry or self.plan.prompts.not_understood)), Say(again)],
                    reason, self.state.node, {"attempt": self.state.attempts})

    # ---- per node type -------------------------------------------------------------------------
    def _menu_match(self, node: MenuNode, text: str) -> tuple[MenuChoice | None, dict]:
        """The choice the caller's words name (a listed word or phrase), else the one they mean
        (by embeddings), with the evidence either way. A named word that other choices' phrases
        also hold (预约, "book", inside 取消预约 and 修改预约) names no choice for sure: in
        "我想改一下预约的时间" the meaning decides, when it is clear."""
        named, shared = self._menu_named(node, text)
        if named is None:
            return self._menu_meant(node, text)
        if shared:
            meant, evidence = self._menu_meant(node, text)
            if meant is not None:
                return meant, {**evidence, "shared_word": shared}
        return named, {"matched": "words"}

    def _menu_named(self, node: MenuNode, text: str) -> tuple[MenuChoice | None, str]:
        """The choice whose listed word or phrase the caller said, the longest one said when
        several are (取消预约 is a cancellation, though it holds the booking word 预约), of
        equally long ones one that no other choice's phrase contains; with the phrase when
        another choice's phrases also contain it, else ""."""
        found: list[tuple[int, bool, MenuChoice, str]] = []
        for i, choice in enumerate(node.choices):
            key = (self.state.node, i)
            if key not in self._menu_matchers:
                self._menu_matchers[key] = PhraseMatcher(choice.words)
            others = [w for c in node.choices if c is not choice
                      for words in c.words.values() for w in words]
            for match in self._menu_matchers[key].find_all(text) if choice.words else []:
                shared = any(match.phrase in w and match.phrase != w for w in others)
                found.append((match.span[1] - match.span[0], not shared, choice, match.phrase))
        if not found:
            return None, ""
        # the longest, and of equals one no other choice's phrase holds ("帮我把预约改到下周":
        # 改到 moves it, 预约 is in every choice), then the first: max is stable
        _, own, choice, phrase = max(found, key=lambda f: f[:2])
        return choice, "" if own else phrase

    def _menu_meant(self, node: MenuNode, text: str) -> tuple[MenuChoice | None, dict]:
        """The choice the caller's words mean (by embeddings), with the scores as evidence."""
        if self.menus is None:
            return None, {}
        guess = self.menus.guess(self.state.node, text, len(node.choices))
        evidence = {"matched": "meaning", "score": round(guess.score, 3),
                    "runner_up": round(guess.runner_up, 3)}
        return (node.choices[guess.choice] if guess.choice is not None else None), evidence

    def _menu_text(self, node: MenuNode, text: str) -> Step:
        if is_repeat_request(text):
            return Step(self._prompt_again(node), "menu_repeat", self.state.node)
        choice, evidence = self._menu_match(node, text)
        behind = self.answers_behind(choice) if choice is not None else None
        if behind is None:
            answered = self._menu_question(node, text, evidence if choice is not None else None)
            if answered is not None:
                return answered
        if choice is None and len(tokenize(text)) >= QUESTION_MIN_WORDS:
            # heard, but about no choice ("is brightwave having network issues in dallas"):
            # which one is it about? The words wait for the choice the caller names next.
            self.state.pending = text
            return self._retry(node, "menu_no_match", sorry=self.plan.prompts.not_matched)
        step = self._choose(node, choice, {"text": text, **evidence})
        target = self.plan.nodes.get(step.node)
        if step.reason != "menu_choice":
            return step
        if len(tokenize(text)) < QUESTION_MIN_WORDS:
            return self._take_up_at_answers(step)
        if not isinstance(target, AnswerNode):
            if behind is not None and not self.state.pending and self.retriever.search(
                    text, frozenset(behind.topics) or None).entry is not None:
                # asked with the choice, but the plan wants a slot first (the account number):
                # the question is kept and answered at the answer node once the slot is filled
                self.state.pending = text
                self.events.emit("dialog.question_kept", node=step.node)
                return Step([Say(self._t(self.plan.prompts.question_kept)), *step.actions],
                            step.reason, step.node, {**step.evidence, "question_kept": True})
            return self._answered_first(step, text)
        # The caller asked their question with their choice ("how much is roaming in Spain"):
        # answer it at the node the choice leads to, instead of asking them to say it again.
        saved = (self.state.unresolved, self.state.confirming, self.state.section_offered,
                 self.state.offered_human)
        answered = self._answer_text(target, text)
        asked = ("kb_match", "document_answer") + (
            ("kb_confirm", "kb_choose", "section_confirm") if asks_something(text) else ())
        if answered.reason not in asked:
            # not answered (or "is your question ...?" about words that pick a choice but ask
            # nothing, "it's about the signal where I live"): the caller hears the node's
            # prompt, and nothing the try did stays (a pending confirmation, a miss counted)
            (self.state.unresolved, self.state.confirming, self.state.section_offered,
             self.state.offered_human) = saved
            return step
        return Step([*self._without_prompt(step, target), *answered.actions], "menu_answer",
                    answered.node,
                    {**step.evidence, "choice": step.node, **answered.evidence})

    def _take_up_at_answers(self, step: Step) -> Step:
        """A choice named or keyed after "which of these is it about?": the words kept then are
        put to the answer node it leads to (behind a slot, they wait for the slot)."""
        if step.reason == "menu_choice" and isinstance(self.plan.nodes.get(step.node), AnswerNode):
            return self._take_up_pending(step)
        return step

    def _answered_first(self, step: Step, text: str) -> Step:
        """A question asked with a menu choice whose flow will not answer it ("someone stole my
        phone, do I need to go to the police?" leads to blocking the SIM): answered from the
        whole FAQ first when an entry fits it confidently (`menus.question_margin` ahead of the
        next), then the flow goes on; otherwise the choice's step as it is."""
        if not self.plan.menus.questions:
            return step
        match = self._search(text)
        if self._clear_lead(match):
            answer, evidence = self._faq_or_quote(text, match, {})
        elif self.documents is not None and asks_something(text):
            # no entry fits a question: the documents' own sentences, where they answer it (a
            # problem told, "the server won't power on", is the flow's to solve)
            answer, evidence = self._from_passages(text, {})
            if answer is None or answer.quote is None:
                return step
        else:
            return step
        if isinstance(answer, Answer) and self._says_already(step, self._t(answer.entry.answer)):
            return step   # the choice's own flow says this answer ("几点开门" -> the hours)
        return Step([answer, *step.actions], step.reason, step.node,
                    {**step.evidence, "answered_first": evidence.get("entry", "documents"),
                     "answer_score": evidence.get("quote_score", round(match.score, 3))})

    @staticmethod
    def _says_already(step: Step, text: str) -> bool:
        """Whether one of `step`'s own sentences says `text` (punctuation and case aside)."""
        wanted = simple_normalize(text)
        return bool(wanted) and any(wanted in simple_normalize(a.text)
                                    for a in step.actions if isinstance(a, Say))

    def _clear_lead(self, match: Match) -> bool:
        """An entry matched, `menus.question_margin` ahead of the next: sure enough to answer
        a question asked at a menu."""
        return match.entry is not None \
            and match.score - match.runner_up >= self.plan.menus.question_margin

    def answers_behind(self, choice: MenuChoice) -> AnswerNode | None:
        """The answer node the choice leads to through say and collect nodes, if any: the plan
        answers that topic its own way (an account number first, then the billing questions)."""
        name = choice.next
        for _ in range(MAX_HOPS):
            node = self.plan.nodes.get(name)
            if isinstance(node, AnswerNode):
                return node
            if not isinstance(node, (SayNode, CollectNode, LookupNode)) or not node.next:
                return None
            name = node.next
        return None

    def _menu_question(self, node: MenuNode, text: str, chosen: dict | None) -> Step | None:
        """A question the knowledge base answers with confidence, asked at a menu ("is parking
        free for patients?" at the main menu): answered at once, then the choices named briefly;
        the caller stays at the menu. Where a choice matched too (`chosen`: its evidence; one
        that does not lead to answers), the answer must fit the caller's words better, by the
        same lead, than any choice does by meaning: "what do I need to bring when I see a
        doctor" is a question, though "see a doctor" books."""
        if not self.plan.menus.questions or len(tokenize(text)) < QUESTION_MIN_WORDS:
            return None
        match = self._search(text)
        evidence = {"text": text, "score": round(match.score, 3),
                    "runner_up": round(match.runner_up, 3)}
        if match.entry is None and chosen is None:
            # no choice and no confident answer: the plan's documents may answer it, else a
            # near match is asked about, as at an answer node
            return self._menu_documents(node, text, evidence) \
                or self._confirm(match, text, evidence) or self._offer_section(text, evidence)
        if not self._clear_lead(match):
            if match.entry is None or chosen is not None:
                return None
            # no choice fits, but two entries do, about equally: which does the caller mean?
            # Else the documents may answer it; else, not sure enough to answer but sure
            # enough to ask: "is your question ...?"
            return self._choose_entry(match, text, evidence) \
                or self._menu_documents(node, text, evidence) \
                or self._confirm(match, text, evidence)
        if chosen is not None:
            meant = chosen if chosen.get("matched") == "meaning" else self._menu_meant(node, text)[1]
            if self.menus is None or \
                    match.score - meant.get("score", 1.0) < self.plan.menus.question_margin:
                return None
        answer, evidence = self._faq_or_quote(text, match, evidence)
        self.state.attempts = self.state.unresolved = 0
        return Step([answer, self._after_menu_answer(node)],
                    "menu_question" if isinstance(answer, Answer) else "document_answer",
                    self.state.node, evidence)

    def _faq_or_quote(self, text: str, match: Match, evidence: dict, documents: bool = True
                      ) -> tuple[Answer | DocumentAnswer, dict]:
        """The matched entry's answer, or (`documents`: where the node may use them) the
        documents' own sentences where the entry's answer does not say what was asked ("how
        long have I got to return the faulty part?" and an answer without a time) and the
        documents do; with `evidence` for the step."""
        assert match.entry is not None
        answer = self._t(match.entry.answer)
        if documents and self.documents is not None and not states(wants_amount(text), answer):
            quoted, found = self._from_passages(text, evidence)
            if quoted is not None and quoted.quote is not None:
                return quoted, {**found, "entry_unsaid": match.entry.id}
        return Answer(text, match.entry, answer, match.score), {**evidence, "entry": match.entry.id}

    def _menu_documents(self, node: MenuNode, text: str, evidence: dict) -> Step | None:
        """A question no choice and no FAQ entry fits, asked at a menu of a plan with documents
        ("will Red Hat 9 run on my server?"): answered from the passages when they score high
        enough, then the choices named briefly; None when they do not (the menu's retry)."""
        if self.documents is None:
            return None
        answer, evidence = self._from_passages(text, evidence)
        if answer is None:
            return None
        self.state.attempts = self.state.unresolved = 0
        return Step([answer, self._after_menu_answer(node)], "document_answer", self.state.node,
                    evidence)

    def _from_passages(self, text: str, evidence: dict) -> tuple[DocumentAnswer | None, dict]:
        """The answer the plan's documents give `text` (None where they do not answer it), and
        `evidence` with the passages' scores."""
        assert self.documents is not None
        found = self.documents.search(text)
        evidence = {**evidence, "passage_score": round(found.score, 3),
                    "passages": [p.evidence() for p in found.passages]}
        if found.quote is not None:
            evidence["quote_score"] = found.quote.score
        if not found.answerable:
            return None, evidence
        return DocumentAnswer(text, found.passages, found.quote), evidence

    def _after_menu_answer(self, node: MenuNode) -> Say:
        """What follows an answer given at a menu: the choices, named briefly."""
        return Say(self._choices_named(node, self.plan.prompts.after_answer))

    def _choices_named(self, node: MenuNode, prompt: LanguageText) -> str:
        """`prompt` (menu_options, after_answer) in the caller's language, with the menu's
        choices named briefly in it."""
        options = options_text(node, self.state.language, self.plan.languages[0])
        return self._t(prompt).format(options=options)

    def _choose(self, node: MenuNode, choice: MenuChoice | None, evidence: dict) -> Step:
        if choice is None:
            return self._retry(node, "menu_no_match")
        return Step(self._enter(choice.next), "menu_choice", choice.next, evidence)

    def _collect_text(self, node: CollectNode, text: str) -> Step:
        taken = self.state.heard.pop(node.slot, None)   # found in this turn by free speech
        value = self._slot_value(node, text) if taken is None else \
            self._sounded(node, text, taken)
        if value is None and node.kind != "text" and (
                _tells_something(text) and not _reads_out_digits(text)
                or self.documents is not None and self.documents.heads_section(text)):
            # Mixed initiative: the caller told their problem instead of the slot ("my server
            # won't power on" at the serial number; a turn reading out digits is a try at the
            # slot, unless it names a code the documents explain: "the display shows E1624").
            # Keep it, say so, ask again, and take it up at the node the slot leads to,
            # once the slot is filled. A second one is kept with the first ("what are the
            # extra charges?" after "my bill is higher"), not met with "didn't catch that".
            self.state.pending = f"{self.state.pending} {text}".strip()
            self.events.emit("dialog.question_kept", node=self.state.node)
            retry = self._retry(node, "question_kept")
            if retry.reason.endswith("_gave_up"):   # out of retries: on_fail took it up
                return retry
            return Step([Say(self._t(self.plan.prompts.question_kept)), *retry.actions[1:]],
                        "question_kept", self.state.node, retry.evidence)
        return self._slot_filled(node, value)

    def misread_number(self, text: str) -> bool:
        """Whether `text` reads out a number (four digits or more) that this node, waiting for
        one (a phone number, digits, an account code), cannot take or would take at another
        length than its `usual_length`: recognisers gain or lose a digit in a long read-out
        number, and a second, careful reading of the audio may give one it takes
        (`reads_number`)."""
        return (self._number_node() is not None and not self.reads_number(text)
                and len(spoken_digits(number_words(text))) >= MISREAD_MIN_DIGITS)

    def reads_number(self, text: str) -> bool:
        """Whether this node, waiting for a number, takes one from `text` at its usual length."""
        node = self._number_node()
        value = None if node is None else self._slot_value(node, text)
        return node is not None and value is not None and self._usual(node, value)

    def _read_back(self, value: str) -> Say:
        """"I heard 1 3 9 ..., is that right?" for a number of unusual length, which waits in
        `state.number_heard` for the caller's yes or no."""
        self.state.number_heard = value
        return Say(self._t(self.plan.prompts.number_check).format(
            number=spoken_number(value, self.state.language), digits=len(value)))

    @staticmethod
    def _usual(node: CollectNode, value: str) -> bool:
        """Whether `value` has the node's usual length (or the node has none, or it is a number
        said with its country code)."""
        return node.usual_length is None or value.startswith("+") \
            or len(value) == node.usual_length

    def _number_node(self) -> CollectNode | None:
        node = self.plan.nodes.get(self.state.node)  # none before the call starts
        if isinstance(node, CollectNode) and node.kind in KEYED_KINDS \
                and node.slot not in self.state.heard:
            return node
        return None

    def _slot_value(self, node: CollectNode, text: str) -> str | None:
        return self._sounded(node, text, parse_slot(node.kind, text, node.length,
                                                    self.state.language, self.now.date()))

    def _sounded(self, node: CollectNode, text: str, value: str | None) -> str | None:
        """`value`, the slot's value read from `text`; for a read-out number not at the length
        the node waits for, the number with the characters that sound like digits read as
        digits (`digit_sounds`), where that gives the length."""
        if node.kind not in KEYED_KINDS or not (node.length or node.usual_length) \
                or (value is not None and self._usual(node, value)):
            return value
        heard = digit_sounds(text)
        guess = None if heard == text else parse_slot(node.kind, heard, node.length,
                                                      self.state.language, self.now.date())
        return guess if guess is not None and self._usual(node, guess) else value

    def _number_checked(self, text: str) -> Step | None:
        """The caller's answer to a number read back: "yes" fills the slot, "no" asks for the
        number again; anything else (the number said again) is heard as a new answer (None)."""
        node = self.plan.nodes[self.state.node]
        value, self.state.number_heard = self.state.number_heard, ""
        answer = parse_slot("yes_no", text, None, self.state.language, self.now.date())
        if not isinstance(node, CollectNode) or answer is None:
            return None
        self.events.emit("dialog.number_check", answer=answer)
        if answer == "yes":
            return self._slot_filled(node, value, checked=True)
        return self._retry(node, "number_refused", self.plan.prompts.number_by_keypad)

    def _slot_filled(self, node: CollectNode, value: str | None, checked: bool = False) -> Step:
        self._digits = None
        if value is None:
            return self._retry(node, "slot_not_understood")
        if not checked and not self._usual(node, value):
            return Step([self._read_back(value)], "number_check", self.state.node,
                        {"digits": len(value)})
        recorded = self._keep_slot(node, value)
        return self._take_up_pending(Step(self._enter(node.next), "slot_filled", node.next,
                                          {node.slot: recorded}))

    def _keep_slot(self, node: CollectNode, value: str, heard_earlier: bool = False) -> str:
        """Fill the node's slot; returns the value as records show it."""
        self.state.slots[node.slot] = value
        recorded = SECRET if node.secret else value
        if heard_earlier:
            self.events.emit("slot", name=node.slot, value=recorded, heard_earlier=True)
        else:
            self.events.emit("slot", name=node.slot, value=recorded)
        return recorded

    def slots_heard_ahead(self) -> dict[str, str]:
        """Slot values the caller has said for the collect nodes ahead of the one waiting now:
        they are filled there without asking."""
        node = self.plan.nodes[self.state.node]
        if not isinstance(node, (MenuNode, CollectNode, LookupNode)):
            return {}
        ahead = {w.slot for w in self._slots_ahead(node)}
        return {k: v for k, v in self.state.heard.items() if k in ahead}

    def _slots_ahead(self, node: MenuNode | CollectNode | LookupNode) -> list[Wanted]:
        """The slots a caller may fill before they are asked: this collect node's own, and
        those of the collect nodes that follow (through say and lookup nodes) from here or
        from each of this menu's choices, up to the first node of another kind (a yes/no
        confirmation, a branch, a menu)."""
        def takes_free_speech(n: object) -> bool:
            return isinstance(n, CollectNode) and n.kind in FREE_SPEECH_KINDS and not n.secret

        starts = [c.next for c in node.choices] if isinstance(node, MenuNode) else [node.next]
        found = [node] if takes_free_speech(node) else []
        for name in starts:
            for _ in range(MAX_HOPS):
                ahead = self.plan.nodes[name]
                if isinstance(ahead, (SayNode, LookupNode)):
                    name = ahead.next
                elif takes_free_speech(ahead) and ahead not in found:
                    found.append(ahead)
                    name = ahead.next
                else:
                    break
        return [Wanted(n.slot, n.kind, n.length) for n in found]

    def _take_up_pending(self, step: Step) -> Step:
        """The question kept at a slot prompt, put to the menu or answer node the slot led the
        caller to: routed or answered there instead of that node's prompt. Another kind of
        node, or a menu or answer node that cannot act on it, drops it (the caller hears the
        prompt as usual; the summary still leads with it)."""
        node = self.plan.nodes[self.state.node]
        text, self.state.pending = self.state.pending, ""
        if not text or not isinstance(node, (MenuNode, AnswerNode)):
            return step
        saved = (self.state.attempts, self.state.unresolved)
        taken = self._menu_text(node, text) if isinstance(node, MenuNode) \
            else self._answer_text(node, text)
        if taken.reason not in ("menu_choice", "menu_answer", "menu_question", "kb_match",
                                "kb_confirm", "kb_choose", "section_confirm", "document_answer"):
            self.state.attempts, self.state.unresolved = saved
            self.state.offered_human = False
            return step
        return Step([*self._without_prompt(step, node), *taken.actions], step.reason, taken.node,
                    {**step.evidence, "pending": taken.reason, **taken.evidence})

    def _survey_text(self, node: SurveyNode, text: str) -> Step:
        value = parse_slot("yes_no", text, None, self.state.language, self.now.date())
        if value is None:
            return self._retry(node, "survey_not_understood")
        self.state.slots["survey"] = value
        self.events.emit("slot", name="survey", value=value)
        return Step(self._enter(node.next), "survey_answered", node.next, {"survey": value})

    def _answer_text(self, node: AnswerNode, text: str) -> Step:
        match = self._search(text, frozenset(node.topics) or None)
        evidence = {"score": round(match.score, 3), "runner_up": round(match.runner_up, 3)}
        documents = self.documents is not None and not node.topics
        if match.entry is None and documents:
            return self._document_text(node, text, match, evidence)
        if match.entry is None:
            return self._confirm(match, text, evidence) or self._follow_up(text, evidence) \
                or self._miss(node.on_miss, evidence)
        if (choose := self._choose_entry(match, text, evidence)) is not None:
            return choose
        self.state.unresolved = 0
        answer, evidence = self._faq_or_quote(text, match, evidence, documents)
        if isinstance(answer, DocumentAnswer):
            return Step([answer], "document_answer", self.state.node, evidence)
        self.state.last_entry = match.entry.id
        after = self._enter(node.next) if node.next else []
        return Step([answer, *after], "kb_match", self.state.node, evidence)

    def _search(self, text: str, topics: frozenset[str] | None = None) -> Match:
        """The FAQ entry for a question to answer (among `topics`, entry ids, when given); for
        a question about a cost, among the entries whose approved answers state a price: "how
        much does a flu shot cost" is not answered by when flu shots are given (the documents
        may answer it, else nobody). (The same for times and amounts was tried and taken back:
        it lost a held-out question whose approved answer gives its time in words.)"""
        match = self.retriever.search(text, topics)
        if match.nearest is None or answers_cost(text, self._t(match.nearest.answer)):
            return match
        stating = frozenset(e.id for e in self.retriever.entries
                            if answers_cost(text, self._t(e.answer)))
        stating = stating & topics if topics else stating
        return self.retriever.search(text, stating) if stating else Match(None, 0.0, 0.0)

    def _document_text(self, node: AnswerNode, text: str, match: Match, evidence: dict) -> Step:
        """No FAQ entry matched: answer from the best passages if they score high enough, else
        ask about the FAQ entry that nearly matched, else say so and offer a person. The caller
        stays at this node for the next question."""
        answer, evidence = self._from_passages(text, evidence)
        if answer is None:
            return self._confirm(match, text, evidence) or self._offer_section(text, evidence) \
                or self._miss(node.on_miss, evidence, dont_know=True)
        self.state.unresolved = 0
        return Step([answer], "document_answer", self.state.node, evidence)

    def _offer_section(self, text: str, evidence: dict) -> Step | None:
        """A document sentence nearly good enough to say (`documents.quote_confirm_score`):
        "Is your question about fan noise?", named by its section's heading; yes says it."""
        near = self.documents.search(text).near if self.documents is not None else None
        if near is None or not near.chunks[0].headings:
            return None
        heading = near.chunks[0].headings[-1]
        topic = heading[0].lower() + heading[1:] if heading[1:2].islower() else heading
        self.state.section_offered = text
        return Step([Say(self._t(self.plan.prompts.confirm_section).format(topic=topic))],
                    "section_confirm", self.state.node,
                    {**evidence, "asked_about_section": heading, "quote_score": near.score})

    def _section_confirmed(self, text: str) -> Step | None:
        """The caller's answer to "Is your question about <section>?": yes says the sentence,
        no is "I don't know" with a person offered; anything else is a new turn (None)."""
        question, self.state.section_offered = self.state.section_offered, ""
        answer = parse_slot("yes_no", text, None, self.state.language, self.now.date())
        node = self.plan.nodes[self.state.node]
        menu = isinstance(node, MenuNode)
        if answer == "no" and menu:
            return Step([Say(self._choices_named(node, self.plan.prompts.menu_options))],
                        "confirm_declined", self.state.node, {"text": text,
                                                              "declined_section": True})
        if answer == "no":
            return self._miss(self._miss_target(node), {"text": text, "declined_section": True},
                              dont_know=True)
        found = self.documents.search(question) if answer == "yes" and self.documents else None
        if found is None or found.near is None:
            return None
        self.state.unresolved = 0
        if menu:
            self.state.attempts = 0
        after = [self._after_menu_answer(node)] if menu else []
        return Step([DocumentAnswer(question, found.passages, found.near), *after],
                    "document_answer", self.state.node,
                    {"text": text, "confirmed": True, "quote_score": found.near.score})

    def _confirm(self, match: Match, text: str, evidence: dict) -> Step | None:
        """A question that nearly matched an FAQ entry (`answers.confirm_score` up to
        `min_score`): "Is your question: <the entry's own question>?" instead of "I can't help".
        The caller's yes answers it; no (or another question) goes on as a miss would."""
        floor = self.plan.answers.confirm_floor(self.state.language)
        entry = match.nearest
        if floor is None or entry is None or match.score < floor \
                or match.score - match.runner_up < CONFIRM_LEAD:
            return None
        return self._ask_about(entry, text, evidence)

    def _ask_about(self, entry: KBEntry, text: str, evidence: dict) -> Step:
        """"Is your question: <the entry's own question>?", its yes or no awaited."""
        self.state.confirming = ((entry.id,), text)
        return Step([Say(self._t(self.plan.prompts.confirm_question).format(
            question=self.entry_question(entry)))], "kb_confirm", self.state.node,
            {**evidence, "asked_about": entry.id})

    def _follow_up(self, text: str, evidence: dict) -> Step | None:
        """"And what about the United States?" right after the roaming answer: too short to match
        an entry on its own words, so the bot asks whether it is about the entry it just
        answered ("Is your question: how much does roaming cost?"); yes answers it again for
        this case, no goes on as a miss. (Searching with the earlier question prepended was
        tried: it matched the earlier entry above the bar whatever followed, "and what about
        the weather?" too.)"""
        entry = self._entry(self.state.last_entry)
        if entry is None or self.plan.answers.confirm_floor(self.state.language) is None \
                or not follows_up(text):
            return None
        return self._ask_about(entry, text, {**evidence, "follow_up": True})

    def _choose_entry(self, match: Match, text: str, evidence: dict) -> Step | None:
        """A question that fits two FAQ entries about equally (the best leads by less than
        `answers.tie_margin`): "Is your question: <first>, or <second>?" instead of answering
        the one that happened to score a few thousandths higher."""
        first, second = match.entry, match.second
        if first is None or second is None \
                or match.score - match.runner_up >= self.plan.answers.tie_margin:
            return None
        self.state.confirming = ((first.id, second.id), text)
        asked = self._either(self.plan.prompts.choose_question, first, second)
        return Step([Say(asked)], "kb_choose", self.state.node,
                    {**evidence, "asked_about": [first.id, second.id]})

    def _either(self, prompt: LanguageText, first: KBEntry, second: KBEntry) -> str:
        """`prompt` ("..., {first}, or {second}?") naming the two entries by their questions."""
        return self._t(prompt).format(first=self.entry_question(first),
                                      second=self.entry_question(second))

    def _entry(self, entry_id: str | None) -> KBEntry | None:
        return next((e for e in self.retriever.entries if e.id == entry_id), None)

    def _miss_target(self, node: Node) -> str | None:
        """Where a miss at `node` goes when misses run out (an answer node's `on_miss`)."""
        return node.on_miss if isinstance(node, AnswerNode) else None

    def entry_question(self, entry: KBEntry) -> str:
        """The entry's first question written in the caller's language (its first at all
        when none is)."""
        cjk = self.state.language == "zh"
        mine = [q for q in entry.questions if any(is_cjk(c) for c in q) == cjk]
        return (mine or list(entry.questions))[0].rstrip("?？。. ")

    def _confirmed(self, text: str) -> Step | None:
        """The caller's answer to "Is your question: ...?": yes (or, between two entries, the
        one they name) answers the entry, no is a miss at an answer node and the choices again
        at a menu; anything else is a new turn (None)."""
        (asked, question), self.state.confirming = self.state.confirming, ((), "")
        answer = parse_slot("yes_no", text, None, self.state.language, self.now.date())
        node = self.plan.nodes[self.state.node]
        declined = asked[0] if len(asked) == 1 else list(asked)
        named = self._named(asked, text, answer)   # "no, the roaming one" names one: no no
        if named is None and answer == "no" and isinstance(node, MenuNode):
            return Step([Say(self._choices_named(node, self.plan.prompts.menu_options))],
                        "confirm_declined", self.state.node, {"text": text,
                                                              "declined_entry": declined})
        if named is None and answer == "no":
            return self._miss(self._miss_target(node), {"text": text, "declined_entry": declined})
        if named is None and answer == "yes" and len(asked) > 1:
            return self._which_one(asked, question, text)
        entry_id = asked[0] if answer == "yes" and len(asked) == 1 else named
        entry = self._entry(entry_id)
        if entry is None:
            return None
        self.state.unresolved = 0
        if isinstance(node, MenuNode):
            self.state.attempts = 0
            after = [self._after_menu_answer(node)]
        else:
            after = self._enter(node.next) if isinstance(node, AnswerNode) and node.next else []
        self.state.last_entry = entry.id
        # score 1.0: the caller chose the approved question itself, so it is read as written
        return Step([Answer(question, entry, self._t(entry.answer), 1.0), *after], "kb_match",
                    self.state.node, {"text": text, "entry": entry.id, "confirmed": True})

    def _which_one(self, asked: tuple[str, ...], question: str, text: str) -> Step:
        """A bare yes to "A, or B?": which one, asked again in short. It counts as an unresolved
        turn, so that yes after yes ends where misses end."""
        evidence = {"text": text, "asked_about": list(asked)}
        if self.state.unresolved + 1 >= self.escalation().max_unresolved_turns:
            return self._miss(self._miss_target(self.plan.nodes[self.state.node]), evidence)
        self.state.unresolved += 1
        first, second = (self._entry(entry_id) for entry_id in asked[:2])
        self.state.confirming = (asked, question)
        which = self._either(self.plan.prompts.choose_which, first, second)
        return Step([Say(which)], "kb_choose", self.state.node, {**evidence, "again": True})

    def _named(self, asked: tuple[str, ...], text: str, answer: str | None) -> str | None:
        """Which of two entries the caller's reply names: by position ("the second one",
        "第一个") or by meaning (the entry that fits the reply clearly better); None when it
        names neither. A bare yes or no (`answer`, in a few words) names none by meaning: "不是"
        scores up to 0.87 against a clinic entry."""
        if len(asked) < 2:
            return None
        position = ordinal_choice(text, self.state.language)
        if position is not None and position < len(asked):
            return asked[position]
        if answer is not None and len(tokenize(text)) <= BARE_REPLY_TOKENS:
            return None
        match = self.retriever.search(text, frozenset(asked))
        if match.nearest is None or match.score < NAMED_MIN_SCORE \
                or match.score - match.runner_up < CONFIRM_LEAD:
            return None
        return match.nearest.id

    def _converse_text(self, node: ConverseNode, text: str) -> Step:
        match = self.retriever.search(text, frozenset(node.topics))
        evidence = {"score": round(match.score, 3)}
        if match.entry is None:
            return self._miss(None, evidence)
        self.state.unresolved = 0
        self.state.converse_turns += 1
        reply = Converse(text, node.instructions, self._t(match.entry.answer), tuple(node.tools))
        after = self._enter(node.next) if self.state.converse_turns >= node.max_turns else []
        return Step([reply, *after], "converse", self.state.node,
                    {**evidence, "entry": match.entry.id})

    def _miss(self, on_miss: str | None, evidence: dict, dont_know: bool = False) -> Step:
        """Nothing answers the caller: after too many such turns a person (or `on_miss`), else
        "I can't help with that" (`dont_know`: "I don't know", where documents were searched,
        offering a person as to an upset caller)."""
        self.state.unresolved += 1
        if self.state.unresolved >= self.escalation().max_unresolved_turns:
            evidence = {**evidence, "unresolved_turns": self.state.unresolved}
            if on_miss:
                return Step(self._enter(on_miss), "cannot_help", on_miss, evidence)
            return self._to_human("cannot_help", evidence)
        if dont_know:
            self.state.offered_human = True
            return Step([Say(self._t(self.plan.prompts.dont_know))], "dont_know",
                        self.state.node, evidence)
        if self.state.upset:
            self.state.offered_human = True
            return Step([Say(self._t(self.plan.prompts.offer_human))], "offer_human",
                        self.state.node, {**evidence, "mood": "upset"})
        return Step([Say(self._t(self.plan.prompts.cannot_help))], "out_of_scope",
                    self.state.node, evidence)

    # ---- guards --------------------------------------------------------------------------------
    def _rules(self) -> GuardRules:
        """The guard's rules for the current node's effective escalation configuration."""
        return self.guard.rules(self.escalation())

    def prepare_turn(self, text: str, audio: bytes | None, speech_s: float | None) -> None:
        """Run the guard on the coming `on_text(text, ...)` ahead of time, so `read_slots` knows
        whether the turn is handed over (`on_text` uses this verdict, not a second one)."""
        self._assessed = (text, self.guard.assess(self._rules(), text, audio, speech_s))

    async def read_slots(self, text: str) -> None:
        """A turn at a collect node that the rules do not understand, read by the LLM for this
        node's slot and those ahead (`slots.llm`); what the slots' parsers accept of its reply
        is kept as said (`heard`), so the coming `on_text(text)` fills it. Not for a turn the
        guard (`prepare_turn`, run first) hands to a person: that hand-off never waits."""
        node = self.plan.nodes.get(self.state.node)
        if self._slot_llm is None or not isinstance(node, CollectNode) \
                or node.kind not in FREE_SPEECH_KINDS or node.secret:
            return
        if self._assessed is not None and self._assessed[0] == text and (
                self._assessed[1].kind in ("emergency", "self_harm", "human")
                or self._assessed[1].escalate):
            return
        language, today = self.state.language, self.now.date()
        if parse_slot(node.kind, text, node.length, language, today) is not None:
            return
        wanted = self._slots_ahead(node) if self.plan.slots.free_speech else \
            [Wanted(node.slot, node.kind, node.length)]
        values, error, ms = await read_slots(self._slot_llm, text, wanted, language, today,
                                             self.plan.slots.llm_budget_ms / 1000)
        asked = [w.slot for w in wanted]
        if error:
            self.events.emit("slot.llm", asked=asked, taken=[], ms=ms, error=error)
        else:
            self.events.emit("slot.llm", asked=asked, taken=sorted(values), ms=ms)
        self.state.heard.update(values)

    def _verdict(self, text: str, audio: bytes | None, speech_s: float | None) -> Verdict:
        assessed, self._assessed = self._assessed, None
        verdict = assessed[1] if assessed is not None and assessed[0] == text else \
            self.guard.assess(self._rules(), text, audio, speech_s)
        if verdict.mood is not None:
            self.state.mood = verdict.mood
            self.events.emit("anger", score=round(verdict.mood.score, 3),
                             smoothed=round(verdict.mood.smoothed, 3),
                             escalate=verdict.mood.escalate, verdict=verdict.kind)
        self.state.upset = verdict.kind in ("frustrated", "angry")
        return verdict

    def _guard_step(self, verdict: Verdict) -> Step | None:
        if verdict.kind in ("emergency", "self_harm"):
            return self._urgent(verdict.kind, verdict.evidence)
        if verdict.kind == "human":
            if self.state.node == self.state.no_person_at:
                # nobody could be reached: "please call me back" here is the message itself
                return None
            return self._to_human("caller_asked_for_human", verdict.evidence)
        if verdict.kind != "angry" or not verdict.escalate:
            return None
        if self.escalation().anger.on_hostile == "offer" and not self.state.offered_human:
            self.state.offered_human = True
            return Step([Say(self._t(self.plan.prompts.empathy)),
                         Say(self._t(self.plan.prompts.offer_human))], "angry_offer",
                        self.state.node, verdict.evidence)
        return Step([Say(self._t(self.plan.prompts.angry)),
                     Transfer(self.plan.transfer.default, "angry_caller",
                              self.plan.transfer.fallback)], "angry_caller",
                    self.state.node, verdict.evidence)

    def _urgent(self, kind: str, evidence: dict) -> Step:
        prompt = self.plan.prompts.self_harm if kind == "self_harm" else self.plan.prompts.emergency
        return Step([Say(self._t(prompt)),
                     Transfer(self.plan.target_uri("emergency"), kind,
                              self.plan.transfer.fallback)],
                    kind, self.state.node, evidence)

    def _to_human(self, reason: str, evidence: dict) -> Step:
        return Step([Say(self._t(self.plan.prompts.transfer)),
                     Transfer(self.plan.transfer.default, reason, self.plan.transfer.fallback)],
                    reason, self.state.node,
                    evidence)

    def _t(self, texts: LanguageText) -> str:
        return self.plan.text(texts, self.state.language)


def _tells_something(text: str) -> bool:
    """A turn long enough to be the caller's problem or question rather than a try at a slot:
    five words (Chinese: characters) or more, or three English words put as a question ("is
    ESXi 8 certified?"; not "can you repeat that")."""
    tokens = tokenize(text)
    return len(tokens) >= QUESTION_MIN_WORDS or (
        len(tokens) >= 3 and not any(t.cjk for t in tokens) and asks_something(text)
        and not is_repeat_request(text))


def _reads_out_digits(text: str) -> bool:
    """Three or more digits or digit words ("S N 4 4 7", "four four seven") making up a good
    part of the turn: a try at a slot ("where are the drivers for Windows Server 2022?" is
    a question; so is a turn opening with a question word, "what's error code e two zero one
    one")."""
    if opens_with_question_word(text):
        return False
    tokens = tokenize(text)
    digits = sum(1 for t in tokens if t.norm.isdigit() or t.norm in UNITS)
    return digits >= 3 and digits >= DIGIT_SHARE * len(tokens)


async def _single(text: str) -> AsyncIterator[str]:
    yield text


def node_escalation(plan: Dialplan, node_name: str | None) -> Escalation:
    """`plan`'s escalation rules with node `node_name`'s overrides applied."""
    node = plan.nodes.get(node_name) if node_name is not None else None
    override = node.escalation if node is not None else None
    if override is None:
        return plan.escalation
    changes = {k: v for k, v in override.model_dump().items() if v is not None}
    return plan.escalation.model_copy(update=changes)


def warm_guard(plan: Dialplan) -> None:
    """Compile the hand-off guard's rules for every node of `plan` and load what matching first
    needs (the lexicon, pypinyin's dictionaries): left to a call's first turn, this held a SIP
    worker's GIL for ~0.5 s and stalled every call's audio."""
    for name in [None, *plan.nodes]:
        for matcher in EscalationGuard.rules(node_escalation(plan, name)).matchers.values():
            matcher.find("warm up 你好")
