"""Does a transcript sound unfinished? A veto on the audio model's "complete" verdict.

Written from the dev part of tests/data/paused_utterances.yaml only (whisper tiny.en on audio cut
at a pause):

* a trailing ellipsis or comma, or a last word that cannot end an English sentence (a
  conjunction, a preposition, an article, a possessive, a filler, a copula);
* a trailing digit: a caller reading a number pauses between groups whose ends sound final, and a
  number split across two turns escapes the redaction of either;
* a question whose auxiliary lacks a subject and a verb after it: "How much does roaming?",
  "What time do you?" (piper's flat fragment endings made the audio model sure of these);
* a lone subordinate clause: "If it's possible." or "When I try to log in." (whisper ends a
  fragment with a full stop) has no main clause yet. A question ("When are you open?") or a
  clause after a comma ("If I cancel now, do I pay a fee") is not one.
"""

from __future__ import annotations

import re

from ivr.text.normalize import AUXILIARIES

TRAILING_WORDS = frozenset("""
and or but because so if that than then when while although though
to of for with about from in on at by into like as
a an the my your his her our their its this these those
um uh er erm hmm
is are was were am be
basically actually mean think
""".split())

SUBORDINATORS = frozenset("if when whenever while although though unless".split())
"""Words that open a clause which needs a main clause after it ("since", "after", "because" also
open short complete answers: "Since yesterday.")."""

QUESTION_WORDS = frozenset("what when where why how which who whose much many time long "
                           "often far".split())
"""An inverted question: question words, then an auxiliary, then (at least) subject and verb."""

_WORD = re.compile(r"[a-z']+|\d+")


def sounds_unfinished(text: str) -> bool:
    """True when `text` ends the way a sentence does not (see the module docstring)."""
    stripped = text.strip()
    if not stripped:
        return False
    if stripped.endswith(("...", "…", ",", "-")):
        return True
    words = _WORD.findall(stripped.lower())
    if not words:
        return False
    if words[-1] in TRAILING_WORDS or words[-1].isdigit():
        return True
    return _lone_subordinate_clause(stripped) or _question_without_verb(stripped)


def _last_sentence(text: str) -> str:
    return re.split(r"[.!?]\s+", text.rstrip(".!? "))[-1]


def _lone_subordinate_clause(text: str) -> bool:
    """The last sentence of `text` opens with a subordinator and has no comma or question mark."""
    if text.endswith("?"):
        return False
    sentence = _last_sentence(text)
    first = _WORD.findall(sentence.lower())[:1]
    return bool(first) and first[0] in SUBORDINATORS and "," not in sentence


def _question_without_verb(text: str) -> bool:
    """The last sentence is question words, an auxiliary, and fewer than two words after it."""
    words = _WORD.findall(_last_sentence(text).lower())
    for i, word in enumerate(words):
        if word in AUXILIARIES:
            return len(words) - i - 1 < 2
        if word not in QUESTION_WORDS:
            return False
    return False
