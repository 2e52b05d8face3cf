"""The safety data files of regular expressions (denials, warning signs, answers to the safety
check): per language, a list of expressions joined into one alternation, matched on the text in
its pattern form (`ivr.text.normalize.pattern_form`); denials and warning signs by sound in
Chinese (`ivr.text.normalize.sound_form`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from ivr.text.normalize import pattern_form, sound_form

__all__ = ["alternation", "find_expressions", "language_patterns"]


def alternation(expressions: list[str]) -> re.Pattern:
    """One pattern matching any of `expressions`."""
    return re.compile("|".join(f"(?:{e})" for e in expressions))


@lru_cache(maxsize=None)
def language_patterns(path: Path) -> dict[str, re.Pattern]:
    """{language: one pattern} of a file that maps each language to a list of expressions, its
    Chinese characters in `sound_form` (so that the recogniser's homophones match)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {language: alternation([sound_form(e) for e in items])
            for language, items in data.items()}


def find_expressions(path: Path, text: str) -> list[tuple[int, int]]:
    """The spans in `text` where an expression of the data file `path` matches, matched on its
    pattern form and, in Chinese, by sound (both keep the length, so the spans are `text`'s)."""
    language, plain = pattern_form(text)
    pattern = language_patterns(path)[language]
    return [m.span() for m in pattern.finditer(sound_form(plain)) if m.group(0)]
