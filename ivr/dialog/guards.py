"""Checks that run on every caller turn before any model: emergencies and requests for a human."""

from __future__ import annotations

from ivr.asr.guard import normalize


def find_phrase(text: str, phrases_by_language: dict[str, list[str]]) -> str | None:
    """The first configured phrase contained in `text` (normalised; any language), or None."""
    norm = f" {normalize(text).replace(chr(39), '')} "
    for phrases in phrases_by_language.values():
        for phrase in phrases:
            wanted = normalize(phrase).replace("'", "")
            if wanted and (f" {wanted} " in norm or (not wanted.isascii() and wanted in norm)):
                return phrase
    return None
