"""The safety data files of regular expressions (denials, warning signs, answers to the safety
check): per language, a list of expressions joined into one alternation, matched on the text in
its pattern form (`ivr.text.normalize.pattern_form`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

__all__ = ["alternation", "language_patterns"]


def alternation(expressions: list[str]) -> re.Pattern:
    """One pattern matching any of `expressions`."""
    return re.compile("|".join(f"(?:{e})" for e in expressions))


@lru_cache(maxsize=None)
def language_patterns(path: Path) -> dict[str, re.Pattern]:
    """{language: one pattern} of a file that maps each language to a list of expressions."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {language: alternation(items) for language, items in data.items()}
