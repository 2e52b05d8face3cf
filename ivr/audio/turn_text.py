"""Does a transcript sound unfinished? A veto on the audio model's "complete" verdict.

Written from the dev part of tests/data/paused_utterances.yaml only (whisper tiny.en on audio cut
at a pause): a trailing ellipsis or comma, or a last word that cannot end an English sentence
(a conjunction, a preposition, an article, a possessive, a filler, a copula).
"""

from __future__ import annotations

import re

TRAILING_WORDS = frozenset("""
and or but because so if that than then when while although though
to of for with about from in on at by into like as
a an the my your his her our their its this these those
um uh er erm hmm
is are was were am be
basically actually mean think
""".split())

_WORD = re.compile(r"[a-z']+")


def sounds_unfinished(text: str) -> bool:
    """True when `text` ends the way a sentence does not: '...', ',', or a word above."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith(("...", "…", ",", "-")):
        return True
    words = _WORD.findall(stripped.lower())
    return bool(words) and words[-1] in TRAILING_WORDS
