"""A plan's vocabulary for the recogniser: what its callers say that a general model may mishear.

The words are the plan's own `asr.hotwords` for the language, then the words of every menu
choice (what callers are invited to say), in plan order, without repeats."""

from __future__ import annotations

from ivr.dialplan.model import Dialplan


def plan_vocabulary(plan: Dialplan, language: str) -> list[str]:
    """The hotwords of `plan` in `language`: `asr.hotwords` first, then menu choice words."""
    words = list(plan.asr.hotwords.get(language, []))
    for node in plan.nodes.values():
        for choice in getattr(node, "choices", None) or []:
            words += choice.words.get(language, [])
    return list(dict.fromkeys(w.strip() for w in words if w.strip()))
