"""Pre-spoken prompts and answers: every fixed sentence of a plan version, synthesised when the
version loads, so a call finds it in the disk store (or memory) instead of waiting for a voice.

Fixed means every per-language text of the plan (prompts.*, node prompts, reprompts, say and
announce texts, survey questions, knowledge-base answers) without a ``{placeholder}``: a text
with slot values or menu options filled in is synthesised live, as it only exists in the call.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tqdm import tqdm

from ivr.dialplan.model import Dialplan
from ivr.tts.sentences import split_sentences

log = logging.getLogger("ivr.tts.warm")

NOT_SPOKEN = frozenset({"hours", "transfer", "redaction", "ticket"})
"""Plan sections whose mappings are settings, never said (a transfer target named "en")."""

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")

Speak = Callable[[str, str], str]
"""(language, sentence) -> where its audio came from ("memory", "disk" or "synthesis")."""


def plan_sentences(plan: Dialplan) -> dict[str, list[str]]:
    """Each plan language's fixed sentences, in plan order, each once. A text missing in a
    language is spoken in the plan's fallback language (`Dialplan.text`), so it is warmed so."""
    texts: list[dict[str, str]] = []
    _language_texts(plan.model_dump(exclude=set(NOT_SPOKEN)), set(plan.languages), texts)
    sentences: dict[str, list[str]] = {}
    for language in plan.languages:
        ordered = dict.fromkeys(
            sentence for text in texts for sentence in split_sentences(plan.text(text, language))
            if "{" not in sentence)
        sentences[language] = list(ordered)
    return sentences


def _language_texts(value: Any, languages: set[str], found: list[dict[str, str]]) -> None:
    """Collect every {language: text} mapping (a `LanguageText`: keys are language codes, one
    of them the plan's) anywhere in `value`."""
    if isinstance(value, dict):
        if (set(value) & languages and all(_LANGUAGE.match(k) for k in value)
                and all(isinstance(v, str) for v in value.values())):
            found.append(value)
            return
        for item in value.values():
            _language_texts(item, languages, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _language_texts(item, languages, found)


@dataclass
class WarmReport:
    """What a warm-up did: sentences by source, and how long it took."""

    sources: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    seconds: float = 0.0

    @property
    def sentences(self) -> int:
        return sum(self.sources.values()) + self.failed

    def line(self, plan_name: str) -> str:
        """One log line: count, split and time."""
        split = ", ".join(f"{n} from {source}" for source, n in sorted(self.sources.items()))
        failed = f", {self.failed} failed (synthesised live in calls)" if self.failed else ""
        return (f"TTS warm-up of {plan_name}: {self.sentences} sentences ({split}{failed}) "
                f"in {self.seconds:.1f} s")


def warm_plan(plan: Dialplan, speak: Speak, progress: bool | None = None) -> WarmReport:
    """Speak every fixed sentence of `plan` once so it lands in the store. A sentence that fails
    is counted and skipped (a call synthesises it live). `progress`: a bar on stderr (None:
    only on a terminal)."""
    report = WarmReport()
    started = time.perf_counter()
    work = [(lang, s) for lang, sentences in plan_sentences(plan).items() for s in sentences]
    for language, sentence in tqdm(work, desc="speaking prompts and answers", unit="sentence",
                                   disable=None if progress is None else not progress):
        try:
            source = speak(language, sentence)
        except Exception as exc:  # noqa: BLE001 - warming is best effort; calls synthesise live
            log.warning("TTS warm-up: %r (%s) failed: %s", sentence, language, exc)
            report.failed += 1
            continue
        report.sources[source] = report.sources.get(source, 0) + 1
    report.seconds = time.perf_counter() - started
    return report
