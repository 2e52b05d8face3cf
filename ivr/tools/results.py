"""What a look-up's result says, in words: lookup nodes' sentences and the facts answers use."""

from __future__ import annotations

from typing import Any

from ivr.dialplan.model import template_fields

_AND = {"en": (", ", " and "), "zh": ("、", "和")}


def spoken_list(items: list[Any], language: str) -> str:
    """"9:00, 10:30 and 14:00" / "9:00、10:30和14:00"."""
    sep, last = _AND.get(language, _AND["en"])
    words = [str(item) for item in items]
    return words[0] if len(words) == 1 else sep.join(words[:-1]) + last + words[-1]


def fill(template: str, result: dict[str, Any], language: str) -> tuple[str, bool] | None:
    """`template` with the result's fields put in, and whether a list it names is empty (the
    node's `empty` text is then said instead). None when a field is missing, or is not a
    value or a list of values: the caller is not told half an answer."""
    values: dict[str, str] = {}
    empty = False
    for name in template_fields(template):
        value = result.get(name)
        if isinstance(value, list):
            if any(isinstance(item, (dict, list)) or item is None for item in value):
                return None
            empty = empty or not value
            values[name] = spoken_list(value, language) if value else ""
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            values[name] = str(value)
        else:
            return None
    return template.format(**values), empty


def as_facts(tool: str, result: dict[str, Any]) -> str:
    """A result as text the grounding check reads ("free_slots: date 2026-12-03; times 09:00,
    10:30.")."""
    parts = []
    for name, value in result.items():
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        parts.append(f"{name} {value}")
    return f"{tool}: {'; '.join(parts)}."
