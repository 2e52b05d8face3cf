"""What the dialog asks the call session to do, in order, for one caller input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ivr.kb.passages import Passage
from ivr.kb.quote import Quote
from ivr.kb.retriever import KBEntry


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Answer:
    """Speak a knowledge-base answer (phrased by the LLM if the policy says so)."""

    question: str
    entry: KBEntry
    approved: str
    score: float = 0.0   # how close the question was to the entry's (retrieval evidence)


@dataclass(frozen=True)
class Converse:
    """Let the LLM reply within the node's instructions, grounded on the matched facts."""

    question: str
    instructions: str
    facts: str
    tools: tuple[str, ...] = ()   # the plan's tools the model may call (a served model only)


@dataclass(frozen=True)
class Lookup:
    """Call the plan's tool `tool` for lookup node `node`; the session hands the call to
    `DialogEngine.look_up`, which says the result and walks on."""

    node: str
    tool: str
    args: dict


@dataclass(frozen=True)
class DocumentAnswer:
    """Say `quote` (sentences of the documents, as written), or without one let the LLM answer
    from retrieved document passages only; if nothing it says is supported by them, say that
    the bot does not know and offer a person."""

    question: str
    passages: tuple[Passage, ...]
    quote: Quote | None = None


@dataclass(frozen=True)
class Transfer:
    target: str
    reason: str
    fallback: str | None = None


@dataclass(frozen=True)
class Hangup:
    reason: str


Action = Union[Say, Answer, Converse, Lookup, DocumentAnswer, Transfer, Hangup]


@dataclass(frozen=True)
class Step:
    """The dialog's response to one input: actions, the reason and the evidence for QA."""

    actions: list[Action]
    reason: str
    node: str = ""
    evidence: dict = field(default_factory=dict)

    @property
    def transfer(self) -> Transfer | None:
        return next((a for a in self.actions if isinstance(a, Transfer)), None)
