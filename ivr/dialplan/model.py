"""The dialplan: what a hotline says and decides, as typed data validated at load."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LanguageText = dict[str, str]
"""Text per language code, e.g. {"en": "Hello", "zh": "您好"}."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prompts(Strict):
    """What the bot says in the situations every hotline has."""

    greeting: LanguageText
    not_understood: LanguageText = {"en": "Sorry, I didn't catch that. Could you say it again?"}
    cannot_help: LanguageText = {"en": "I'm sorry, I can't help with that here."}
    transfer: LanguageText = {"en": "Let me put you through to a colleague who can help."}
    emergency: LanguageText = {"en": "This sounds urgent. I'm connecting you to emergency help now."}
    technical_fallback: LanguageText = {
        "en": "Sorry, I'm having a technical problem. Let me put you through to a colleague."}


class TransferTargets(Strict):
    """SIP URIs the bot hands callers to."""

    default: str
    emergency: str | None = None

    @field_validator("default", "emergency")
    @classmethod
    def _sip_uri(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sip:", "sips:", "tel:")):
            raise ValueError(f"expected a SIP URI like sip:agent@example.org, found '{value}'")
        return value


class Escalation(Strict):
    """Phrases that hand the caller to a human at once, checked before any model runs."""

    emergency_phrases: dict[str, list[str]] = {}
    human_phrases: dict[str, list[str]] = {}
    max_unresolved_turns: int = Field(2, ge=1, le=10)


class AnswerPolicy(Strict):
    """How knowledge-base answers are spoken: `verbatim` reads the approved text; `llm` lets the
    model phrase it, keeping only sentences the approved text supports."""

    style: Literal["verbatim", "llm"] = "verbatim"
    min_score: float = Field(0.88, gt=0, le=1)
    instructions: str = ("Answer the customer's question in one or two short sentences "
                         "using only these facts.")


class KnowledgeEntry(Strict):
    id: str
    questions: list[str] = Field(min_length=1)
    answer: LanguageText


class Dialplan(Strict):
    """A hotline's whole behaviour."""

    name: str
    languages: list[str] = Field(default=["en"], min_length=1)
    asr_model: Literal["whisper-tiny.en", "whisper-base"] | str = "whisper-tiny.en"
    prompts: Prompts
    transfer: TransferTargets
    escalation: Escalation = Escalation()
    answers: AnswerPolicy = AnswerPolicy()
    knowledge: list[KnowledgeEntry] = []

    @model_validator(mode="after")
    def _every_language_has_text(self) -> "Dialplan":
        for field_name in ("greeting",):
            missing = [lang for lang in self.languages
                       if lang not in getattr(self.prompts, field_name)]
            if missing:
                raise ValueError(f"prompts.{field_name} has no text for declared language(s) "
                                 f"{', '.join(missing)}")
        for entry in self.knowledge:
            missing = [lang for lang in self.languages if lang not in entry.answer]
            if missing:
                raise ValueError(f"knowledge '{entry.id}' has no answer for language(s) "
                                 f"{', '.join(missing)}")
        if self.escalation.emergency_phrases and not self.transfer.emergency:
            raise ValueError("escalation.emergency_phrases are set but transfer.emergency is not")
        return self

    def text(self, texts: LanguageText, language: str) -> str:
        """Text in `language`, else the plan's first language, else any."""
        return texts.get(language) or texts.get(self.languages[0]) or next(iter(texts.values()))
