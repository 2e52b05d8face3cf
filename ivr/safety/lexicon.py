"""The built-in safety lexicon (data files `lexicon/<language>.yaml`) merged with a plan's own
phrases into the phrase matchers one call's guard uses.

A lexicon file holds, per guard class (emergency, self_harm, human, anger, frustration), named
groups of phrases, and exclusions per class. Every plan inherits every group unless it lists the
group in `escalation.builtin_off`. It also holds whole turns per class: words that are a request
(or hostile) only when the caller says nothing else ("Person.", "someone please", 找人, 滚开), not
inside a turn ("in person", "someone took my phone", 滚动), with the fillers of the language that
may come with them; a Chinese whole turn is heard by its sound too (棍开).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from ivr.dialog.phrases import PhraseMatcher
from ivr.dialplan.model import BUILTIN_GROUPS, Escalation
from ivr.text.normalize import has_cjk, is_cjk, sound_form, tokenize

__all__ = ["GUARD_CLASSES", "LEXICON_DIR", "GuardRules", "bare_turn", "builtin_lexicon",
           "compile_rules", "effective_phrases"]

LEXICON_DIR = Path(__file__).parent / "lexicon"
GUARD_CLASSES = ("emergency", "self_harm", "human", "anger", "frustration")
# Plan fields that add phrases to each class, and the exclusions that apply to it.
_PLAN_PHRASES = {"emergency": "emergency_phrases", "self_harm": "self_harm_phrases",
                 "human": "human_phrases", "anger": "anger_phrases", "frustration": None}
_PLAN_EXCLUSIONS = {"emergency": "exclusions", "self_harm": "exclusions",
                    "human": "human_exclusions", "anger": "exclusions", "frustration": None}
# Anger and frustration lexicon hits must be exact after normalisation and stemming: "fraud" is
# an accusation, "fjord" is not.
_STRICT_THRESHOLD = {"anger": 0.88, "frustration": 0.88}


@lru_cache(maxsize=None)
def builtin_lexicon() -> dict[str, dict]:
    """{language: {"classes": {class: {group: [phrases]}}, "exclusions": {class: [phrases]}}}."""
    out: dict[str, dict] = {}
    for path in sorted(LEXICON_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        language = data.get("language") or path.stem
        for cls, groups in data.get("classes", {}).items():
            for group in groups:
                if f"{cls}.{group}" not in BUILTIN_GROUPS:
                    raise ValueError(f"{path}: unknown group {cls}.{group}")
        out[language] = {"classes": data.get("classes", {}),
                         "exclusions": data.get("exclusions") or {},
                         "whole_turns": data.get("whole_turns") or {},
                         "fillers": data.get("whole_turn_fillers") or []}
    return out


@lru_cache(maxsize=None)
def _fillers() -> tuple[frozenset[str], re.Pattern]:
    """(Latin filler words, a pattern of the Chinese ones) of every lexicon file."""
    latin, cjk = set(), set()
    for lexicon in builtin_lexicon().values():
        for filler in lexicon["fillers"]:
            norms = [t.norm for t in tokenize(filler)]
            if has_cjk(filler):
                cjk.add("".join(norms))
            else:
                latin.add(" ".join(norms))
    longest_first = sorted(cjk, key=len, reverse=True)
    return frozenset(latin), re.compile("|".join(map(re.escape, longest_first)) or "(?!)")


def bare_turn(text: str) -> str:
    """`text` reduced to what is left without the lexicons' fillers: "I want a person please"
    -> "person", 麻烦帮我找个人吧 -> 人 (the form `whole_turns` are compared in)."""
    latin, cjk = _fillers()
    tokens = tokenize(text)
    if any(t.cjk for t in tokens):
        return cjk.sub("", "".join(t.norm for t in tokens if t.cjk))
    return " ".join(t.norm for t in tokens if t.norm not in latin)


def effective_phrases(escalation: Escalation) -> dict[str, tuple[dict, dict]]:
    """{class: (phrases per language, exclusions per language)}: the built-in groups a plan has
    not switched off, plus the plan's own phrases and exclusions."""
    off = set(escalation.builtin_off)
    out: dict[str, tuple[dict, dict]] = {}
    for cls in GUARD_CLASSES:
        phrases: dict[str, list[str]] = {}
        exclusions: dict[str, list[str]] = {}
        for language, lexicon in builtin_lexicon().items():
            for group, items in lexicon["classes"].get(cls, {}).items():
                if f"{cls}.{group}" not in off:
                    phrases.setdefault(language, []).extend(items)
            exclusions.setdefault(language, []).extend(lexicon["exclusions"].get(cls) or [])
        field, excl_field = _PLAN_PHRASES[cls], _PLAN_EXCLUSIONS[cls]
        for language, items in (getattr(escalation, field) if field else {}).items():
            phrases.setdefault(language, []).extend(items)
        for language, items in (getattr(escalation, excl_field) if excl_field else {}).items():
            exclusions.setdefault(language, []).extend(items)
        out[cls] = (phrases, exclusions)
    return out


@dataclass(frozen=True)
class GuardRules:
    """The compiled phrase matchers of one effective escalation configuration."""

    matchers: dict[str, PhraseMatcher]
    escalation: Escalation
    whole_turns: dict[str, frozenset[str]]   # class: the `bare_turn` forms of its whole turns

    def whole_turn(self, cls: str, text: str) -> str | None:
        """The bare form of `text` when the whole turn is one of `cls`'s whole turns, or
        sounds like a Chinese one of two or more characters (the recogniser's homophones: 棍开
        for 滚开)."""
        bare = bare_turn(text)
        if not bare:
            return None
        turns = self.whole_turns.get(cls, frozenset())
        if bare in turns:
            return bare
        if len(bare) < 2 or not all(is_cjk(ch) for ch in bare):
            return None
        sound = sound_form(bare)
        return bare if any(sound_form(turn) == sound for turn in turns) else None


@lru_cache(maxsize=64)
def _compile(escalation_json: str) -> GuardRules:
    escalation = Escalation.model_validate_json(escalation_json)
    matchers = {}
    for cls, (phrases, exclusions) in effective_phrases(escalation).items():
        threshold = max(escalation.match_threshold, _STRICT_THRESHOLD.get(cls, 0.0))
        matchers[cls] = PhraseMatcher(phrases, exclusions, threshold,
                                      cjk_threshold=0.99 if cls in _STRICT_THRESHOLD else 0.75)
    off = set(escalation.builtin_off)
    whole: dict[str, set[str]] = {}
    for lexicon in builtin_lexicon().values():
        for cls, items in lexicon["whole_turns"].items():
            groups = lexicon["classes"].get(cls, {})
            if groups and all(f"{cls}.{group}" in off for group in groups):
                continue   # the class's built-in groups are all off: so are its whole turns
            whole.setdefault(cls, set()).update(filter(None, map(bare_turn, items)))
    return GuardRules(matchers, escalation, {c: frozenset(w) for c, w in whole.items()})


def compile_rules(escalation: Escalation) -> GuardRules:
    """Matchers for `escalation` (cached: calls on the same plan share them)."""
    return _compile(escalation.model_dump_json())
