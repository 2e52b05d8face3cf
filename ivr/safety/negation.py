"""Declined requests: "no need for a person", "I don't want an agent", 不用转人工.

A request-for-a-person phrase that the caller negates is a caller saying they are fine on their
own, not a request. Only the want/need verb nearest before the phrase, in the same clause and
within a few words of it and with no comma between, is looked at, so "I don't want the robot, I
want a person" is still a request (its nearest verb, the second "want", is not negated), and so
is "I don't want to talk to a machine, put me through to someone" (the comma ends what the
negated verb governs). Negated emergencies are not
handled here on purpose: "I can't breathe" is itself negated (see ivr.dialog.phrases).
"""

from __future__ import annotations

import re

from ivr.text.normalize import tokenize

__all__ = ["declined", "declines_a_person", "talks_to_the_bot"]

_WINDOW = 6                        # words before the phrase in which its verb is looked for
_VERBS = {"need", "needs", "want", "wants", "require", "necessary"}
_NEGATORS = {"not", "no", "never", "without"}
# verbs a request phrase may begin with ("transfer me", "put me through"): negated right before
# the phrase ("don't transfer me", "please do not put me through"), the request is declined
_ASKING = {"transfer", "put", "connect", "escalate", "pass", "forward", "get", "give", "speak",
           "talk"}
_NEEDED = {"needed", "necessary", "required"}
_THROUGH = {"with", "to", "through", "via"}
_ARTICLES = {"a", "an", "the", "any", "your"}
# who a caller may decline to be put through to, where no request phrase names them ("I don't
# need to talk to anyone"): the learned net alone hears such turns, and a decline is no request
_PERSON = re.compile(r"\b(?:any|some|no)(?:one|body)\b|\b(?:person|people|human|agent|operator"
                     r"|representative|adviser|advisor|manager|staff)s?\b|人工|客服|真人|接线员|专员|找人",
                     re.IGNORECASE)
# a negated want/need/use verb, then at most three characters up to the phrase, no clause break
_COMMA = re.compile(r"[,，、]")
# (a space ends a clause: "按了半天键都没用 给我接个客服人员" says the keys were no use, 没用)
_CJK_DECLINED = re.compile(r"(不|没|别|甭|无)(需要|用|要|想要|想|必)[^，,、。！？；.!?;\s]{0,3}$"
                           r"|别(给我|帮我)?$")


def declined(text: str, span: tuple[int, int]) -> bool:
    """Whether the phrase found at character `span` of `text` is negated by the caller."""
    start = span[0]
    if _CJK_DECLINED.search(text[max(0, start - 8):start]):
        return True
    tokens = tokenize(text)
    first = next((k for k, t in enumerate(tokens) if t.end > start), len(tokens))
    if first == 0 or first == len(tokens):
        return False
    last = max(k for k, t in enumerate(tokens) if t.start < span[1])
    clause = tokens[last].clause
    # negated right before: the phrase's own verb ("don't transfer me"), or a need said after
    # it ("no agent needed")
    needed = last + 1 < len(tokens) and tokens[last + 1].norm in _NEEDED
    if tokens[first - 1].norm in _NEGATORS and tokens[first - 1].clause == clause \
            and not _COMMA.search(text, tokens[first - 1].end, start) \
            and (tokens[first].norm in _ASKING or needed):
        return True
    # "not with a person, just with you", "not to an agent": negated with its preposition
    at = first - 1 - (tokens[first - 1].norm in _ARTICLES)
    if at >= 1 and tokens[at].norm in _THROUGH and tokens[at - 1].norm in _NEGATORS \
            and tokens[at - 1].clause == clause \
            and not _COMMA.search(text, tokens[at - 1].end, start):
        return True
    # the phrase may hold its own verb ("want a person"): look up to its last word
    for k in range(last - 1, max(-1, first - _WINDOW - 1), -1):
        if tokens[k].clause != clause:
            break
        if tokens[k].norm in _VERBS:
            return k > 0 and tokens[k - 1].clause == clause and tokens[k - 1].norm in _NEGATORS \
                and not _COMMA.search(text, tokens[k].end, start)
    return False


def declines_a_person(text: str) -> bool:
    """Whether the caller declines to be put through to anyone ("no thanks, I don't need to
    talk to anyone", 我不需要人工): every word for a person in `text` is negated (`declined`),
    so "I don't want anyone from sales, I want someone in billing" still asks for one."""
    negated = [declined(text, found.span()) for found in _PERSON.finditer(text)]
    return bool(negated) and all(negated)


# "you" as the one to talk to is the bot ("can I speak to you about upgrading my contract?"), but
# "you people", "you guys" are the company
_TO_YOU = re.compile(r"\b(?:speak|talk|chat)\s+(?:to|with)\s+you\b(?!\s+(?:people|guys|lot|all))",
                     re.IGNORECASE)


def talks_to_the_bot(text: str) -> bool:
    """Whether the one the caller asks to talk with is the bot itself: "you", and no word for a
    person anywhere in `text` (the learned net alone hears a request in such turns)."""
    return _TO_YOU.search(text) is not None and _PERSON.search(text) is None
