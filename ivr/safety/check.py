"""The safety check: a caller whose words sound somewhat like self-harm, though not enough for the
hand-off, is asked whether they are safe before the bot goes on ("Are you safe right now?",
`prompts.safety_check`). Veiled self-harm ("transfer the account to my sister, she'll need it
after I'm gone") is what the guard misses most often; asking directly is what a crisis line would
do, and a calm caller's "yes, I'm fine" costs them one sentence.

This module reads the answer (`safety_check.yaml`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

from ivr.safety.expressions import alternation
from ivr.text.normalize import pattern_form

__all__ = ["CALM_REPLY", "safety_answer"]

_DATA = Path(__file__).with_name("safety_check.yaml")
# what a calm caller answers to the check, in the evaluations that play calm callers (kb, menus)
CALM_REPLY = {"en": "Yes, I'm fine.", "zh": "是的，我没事。"}


@lru_cache(maxsize=1)
def _rules() -> dict[str, dict[str, re.Pattern]]:
    data = yaml.safe_load(_DATA.read_text(encoding="utf-8"))
    return {language: {kind: alternation(items) for kind, items in lists.items()}
            for language, lists in data.items()}


def safety_answer(text: str) -> Literal["safe", "unsafe"] | None:
    """What the caller's answer to "are you safe right now?" says, or None when it says
    neither (a new turn)."""
    language, plain = pattern_form(text.strip())
    rules = _rules()[language]
    if rules["unsafe_first"].search(plain):
        return "unsafe"
    if rules["safe"].search(plain):
        return "safe"
    if rules["unsafe"].search(plain):
        return "unsafe"
    return None
