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

Added from the dev part of tests/data/paused_utterances_round2.yaml (written blind), where the
trailing-word rule held finished turns to the silence bound and let two fragments through:

* a trailing word is not always an open one: "that", "this", "these", "those" end a sentence as
  pronouns ("Could you help me with that?"), except after a word that takes a clause ("I think
  that", "the problem is that"); "on" and "in" are particles after a phrasal verb ("My phone
  won't turn on."); a question word's preposition is stranded at the end of a full question
  ("Which department should I talk to?", not "Can I speak to someone about?");
* a request to be told with nothing to tell yet ("Could you tell me?", "I was wondering");
* a name spelled letter by letter ("K-O-W.", "A B,"): callers spell in groups, as they read
  numbers.

Mandarin (any transcript with Chinese characters), written from the dev part of
tests/data/paused_utterances_zh.yaml only (whisper base on Kokoro voices cut at a pause), on the
last sentence without its full stop (whisper writes one after fragments too):

* a trailing comma, enumeration comma or ellipsis;
* a last word that cannot end a sentence: a conjunction (和, 还有, 因为, 然后, 但是...), a filler or
  a pointing word that introduces what follows (嗯, 呃, 那个, 就是), 是 after its subject (我的名字是),
  想 or 要 wanting their object (not after 不, 没 or 也: 我不想 is an answer; 需要 is left to the
  model, since 不需要 is one too), 在 with no place after it (not 不在, 还在), a preface to a
  question (我想问一下, 请问), a conditional's 的话;
* a trailing group of two or more digits (一三八, 138; 周一 and 十一 are not groups);
* a conditional clause with no main clause: it opens with 如果, 要是, 假如 or 万一 and has no comma.

A question (吗, 呢, 嘛, or a question mark) is never unfinished, nor a turn that is only an
answer (嗯, 就是: yes). 额 is no filler here: it ends 余额 and 名额.

`whole_question` is the other side: a transcript that ends as a question and is not unfinished
("Could you help me with that?", 这个月电费怎么这么高啊？) lets a turn end sooner than the silence
bound when the audio model says "not yet" (`TurnPolicy.question_ms`).
"""

from __future__ import annotations

import re

from ivr.text.normalize import AUXILIARIES, has_cjk

TRAILING_WORDS = frozenset("""
and or but because so if that than then when while although though
to of for with about from in on at by into like as
a an the my your his her our their its this these those
um uh er erm hmm
is are was were am be
basically actually mean think
""".split())

DEMONSTRATIVES = frozenset("that this these those".split())
CLAUSE_TAKERS = frozenset("""
is was are were be think thought say said says mean means know knew hope believe sure so such
guess feel felt realise realize notice noticed heard told tell see saw seems except now
""".split())
"""Words after which "that" (or "this") opens a clause rather than ending one as a pronoun."""
PHRASAL_VERBS = frozenset("""
turn turns turned turning log logs logged logging sign signs signed signing switch switches
switched switching plug plugged check checked checking hold come came go goes going went
carry carried move moved put puts
""".split())
"""Verbs whose "on" or "in" is a particle that can end the sentence ("It won't turn on.")."""
PREPOSITIONS = frozenset("of for with about from in on at by into like".split())
TO_VERBS = frozenset("talk talking speak speaking go going send sent sending belong listen "
                     "reply write switch transfer refer move moved apply applied".split())
"""Verbs whose "to" is a preposition ("Who should I talk to?"); after others it opens an
infinitive ("How long does it take to?")."""
TELL_ME = (("tell", "me"), ("tell", "us"), ("i", "wonder"), ("was", "wondering"),
           ("am", "wondering"), ("i'm", "wondering"), ("i'd", "like", "to", "know"))
"""Endings that announce what the caller is about to ask."""
_SPELLED = re.compile(r"(?:^|[\s,])[A-Za-z](?:(?:-|\s+)[A-Za-z])+$")
"""Two or more single letters at the end, spelled with hyphens or spaces ("K-O-W", "A B")."""

SUBORDINATORS = frozenset("if when whenever while although though unless".split())
"""Words that open a clause which needs a main clause after it ("since", "after", "because" also
open short complete answers: "Since yesterday.")."""

QUESTION_WORDS = frozenset("what when where why how which who whose much many time long "
                           "often far".split())
"""An inverted question: question words, then an auxiliary, then (at least) subject and verb."""

_WORD = re.compile(r"[a-z']+|\d+")

ZH_TRAILING = ("和", "跟", "与", "或者", "还有", "以及", "因为", "所以", "但是", "可是", "不过",
               "然后", "而且", "并且", "嗯", "呃", "那个", "这个", "就是", "的话", "请问",
               "问一下", "问下")
"""Last words that leave a Mandarin sentence open (see the module docstring)."""
ZH_NEEDS_OBJECT = {"是": "", "想": "不没也", "要": "不没也需", "在": "不没还都也正", "给": "不",
                   "把": "", "被": "", "从": ""}
"""Verbs that leave a sentence open at its end, unless preceded by one of these characters."""
ZH_ANSWERS = frozenset({"嗯", "嗯嗯", "就是", "对就是"})
"""Whole turns that are answers ("yes"), though their words open a sentence elsewhere."""
ZH_CONDITIONS = ("如果", "要是", "假如", "万一")
ZH_QUESTION_ENDS = ("吗", "呢", "嘛", "?", "？")
_ZH_DIGIT_GROUP = re.compile(r"(?:[零〇一二三四五六七八九幺]{2,}|\d{2,})$")


def sounds_unfinished(text: str) -> bool:
    """True when `text` ends the way a sentence does not (see the module docstring)."""
    stripped = text.strip()
    if not stripped:
        return False
    if has_cjk(stripped):
        return _chinese_unfinished(stripped)
    if stripped.endswith(("...", "…", ",", "-")):
        return True
    words = _WORD.findall(stripped.lower())
    if not words:
        return False
    if (words[-1] in TRAILING_WORDS and not _ends_complete(stripped, words)) \
            or words[-1].isdigit() or _SPELLED.search(stripped.rstrip(".?!, ")) \
            or any(tuple(words[-len(end):]) == end for end in TELL_ME):
        return True
    return _lone_subordinate_clause(stripped) or _question_without_verb(stripped)


def whole_question(text: str) -> bool:
    """True when `text`'s last sentence ends as a question (a question mark; in Mandarin also
    吗, 呢, 嘛) and `text` does not sound unfinished: "Can I speak to someone about?" is no
    whole question."""
    stripped = text.strip().rstrip("。.!！ ")
    return stripped.endswith(ZH_QUESTION_ENDS if has_cjk(stripped) else ("?", "？")) \
        and not sounds_unfinished(stripped)


def _ends_complete(text: str, words: list[str]) -> bool:
    """A trailing word that ends this sentence after all: a demonstrative pronoun, a phrasal
    verb's particle, or the stranded preposition of a full wh-question."""
    last, before = words[-1], words[-2] if len(words) > 1 else ""
    if last in DEMONSTRATIVES:
        return bool(before) and before not in CLAUSE_TAKERS
    if last in ("on", "in") and before in PHRASAL_VERBS:
        return True
    if (last in PREPOSITIONS or (last == "to" and before in TO_VERBS)) and text.endswith("?"):
        sentence = _WORD.findall(_last_sentence(text).lower())
        return len(sentence) >= 4 and sentence[0] in QUESTION_WORDS \
            and not _question_without_verb(text[:-1].rsplit(" ", 1)[0] + "?")
    return False


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


def _chinese_unfinished(text: str) -> bool:
    """The Mandarin rules of the module docstring."""
    if text.endswith(("，", ",", "、", "…", "...", "-", "—")):
        return True
    sentence = re.split(r"[。！!]", text.rstrip("。！!. "))[-1].strip()
    if not sentence or sentence.endswith(ZH_QUESTION_ENDS) \
            or re.sub(r"[，,\s]", "", sentence) in ZH_ANSWERS:
        return False
    if sentence.endswith(ZH_TRAILING) or _ZH_DIGIT_GROUP.search(sentence):
        return True
    last, before = sentence[-1], sentence[-2:-1]
    if last in ZH_NEEDS_OBJECT and len(sentence) > 1 and before not in ZH_NEEDS_OBJECT[last]:
        return True
    return sentence.startswith(ZH_CONDITIONS) and not any(mark in sentence for mark in "，,")
