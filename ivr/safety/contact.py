"""Staff the caller has already dealt with: "the agent I spoke to yesterday said...", "an agent
already gave me the porting code", 之前的客服说三天到账.

Callers name the people they dealt with before all day, while asking about what those people
did. Such a turn names an agent, a person, the customer service team, but asks for no one: it is
no request for a person, unless it also asks for one in so many words ("the agent I spoke to
was useless, I want a manager"; 上次客服没解决，给我转人工).

Nor is a word for staff that the caller speaks of rather than asks for (`spoken_of`): their own
job ("I'm an agent of the council's IT team", 我是前台接线员), staff as the subject of what they
tell ("our receptionist is off today", "the receptionist was rude", 前台态度差得要死), a name asked
for ("what's the name of the nurse I saw"), a place ("on your reception desk"), where they are or
their hours asked for (护士站在几楼, 人工客服几点下班): then the learned net's word alone is no
request either, when the turn is a plain question for information.
"""

from __future__ import annotations

import re
from typing import Iterable

from ivr.dialog.phrases import PhraseMatch

__all__ = ["asked_outright", "dealt_with_before", "only_spoken_of", "spoken_of"]

# A word for staff next to a verb of something they did, in the past; or the caller's own past
# contact with them ("I spoke to someone", "I already talked with an agent").
_STAFF_EN = (r"(?:agent|person|guy|lady|woman|man|someone|somebody|staff|team|rep"
             r"|representative|adviser|advisor|operator|manager|customer service|support)s?")
_DID_EN = (r"(?:told|said|gave|helped|sorted|emailed|texted|sent|called|rang|promised"
           r"|explained|fixed|set|changed|assured|confirmed|mentioned|offered|booked|activated"
           r"|cancelled|canceled|processed|refunded|unlocked|suggested|recommended|advised)")
_CONTACT = r"\b(?:spoke|talked|chatted|dealt)\s+(?:to|with)\b"
_EN = re.compile(rf"\b{_STAFF_EN}\b[^,.;!?]{{0,40}}?\b{_DID_EN}\b"
                 rf"|{_CONTACT}[^,.;!?]{{0,12}}\b{_STAFF_EN}\b", re.IGNORECASE)
_CONTACT_RE = re.compile(_CONTACT, re.IGNORECASE)
# Chinese verbs carry no tense: a past marker must be in the turn too ("客服给我回个电话" asks)
_ZH = re.compile(r"(?:客服|人工|工作人员|营业员|店员|那个人|那位|专员|经理)[^，。！？；,.!?;]{0,8}?"
                 r"(?:说|告诉|讲|帮|给|发|打|办|弄|处理|答应|承诺|推荐|建议)")
_PAST_ZH = re.compile(r"已经|之前|上次|昨天|前天|刚才|早上|上午|上周|那天")

# A request for someone in so many words: a turn with one of these asks for a person whatever
# else it tells.
_ASKS_EN = re.compile(
    r"\b(?:want|wanna|need|like to|let me|can i|could i|may i|get me|give me|put me|transfer"
    r"|connect|speak to|talk to|speak with|talk with|ask for|find me)\b", re.IGNORECASE)
_ASKS_ZH = re.compile(r"我要|我想|想找|要找|找个|给我转|帮我转|转人工|转客服|请|能不能|可不可以|让我"
                      r"|找(?:人工|客服|工作人员|护士|医生|前台|人)")


def dealt_with_before(text: str) -> bool:
    """Whether `text` tells of staff the caller dealt with before and asks for no one."""
    told = _EN.search(text) is not None \
        or (_ZH.search(text) is not None and _PAST_ZH.search(text) is not None)
    if not told:
        return False
    asks = _ASKS_EN.search(_without_contact(text)) or _ASKS_ZH.search(text)
    return asks is None


def _without_contact(text: str) -> str:
    """`text` less the past contact itself ("I spoke to someone" is no "speak to" request)."""
    return _CONTACT_RE.sub(" ", text)


# Staff a caller speaks of rather than asks for: the caller's own job ("I'm an agent of the
# council's IT team", 我是前台接线员), staff as the subject of what the caller tells ("our
# receptionist is off today", "so reception knows who to let in", 前台态度差), a staff member's
# name asked for ("what's the name of the nurse I saw"), or a place ("on your reception desk").
_ROLE_EN = re.compile(r"\b(?:i'm|i am|i work as|we're|we are)\s+(?:(?:an?|the|one of the|one of"
                      r" your|your)\s+)?(?:[a-z'-]+\s+)?$", re.IGNORECASE)
_NAME_EN = re.compile(r"\bnames?\s+of\s+(?:(?:the|your|that|this|my|our)\s+)?(?:[a-z'-]+\s+)?$",
                      re.IGNORECASE)
_PLACE_EN = re.compile(r"\b(?:on|at|in|behind|near|by|from|over)\s+(?:(?:the|your|our|their|a)\s+)?"
                       r"$", re.IGNORECASE)
_OWNER_EN = re.compile(r"\b(?:the|your|our|their|his|her|my|that|this)\s+(?:[a-z'-]+\s+)?$",
                       re.IGNORECASE)
# what staff did or are, told in the past or as a state: not "has to", "needs to", "will", which
# demand someone ("your manager needs to call me today")
_TELLS_EN = re.compile(r"^(?:'s)?\s*(?:is|was|were|are|kept|knew|said|told|hung|put|let|gave|lost"
                       r"|forgot|didn't|couldn't|wouldn't|wasn't|weren't)\b"
                       r"(?!\s+(?:available|free|there|around|in\b|on duty|working|about))",
                       re.IGNORECASE)
# after a bare word for staff that begins a clause, only a verb of doing: "a person is what I
# need" asks for one
_DOES_BARE_EN = re.compile(r"^\s*(?:knows|knew|said|told|hung|put|let|gave|lost|forgot)\b",
                           re.IGNORECASE)
_CLAUSE_EN = re.compile(r"(?:^|[,;.!?]|\b(?:so|and|but|because|as|since|then))\s*$", re.IGNORECASE)
_ASKED_EN = re.compile(r"\b(?:to|with|for|get|want|need|call)\s+(?:(?:the|your|a|an)\s+)?$"
                       r"|\b(?:some|any)(?:one|body)\s+(?:on|at|in|from|behind)\s+"
                       r"(?:(?:the|your|our)\s+)?$", re.IGNORECASE)   # "someone on the front desk"
_ROLE_ZH = re.compile(r"我是[^，。！？,.!?找转要叫让请跟和同等]{0,4}$")
# after the word (and a 的 phrase: 前台的小姐姐说): what staff said (说, not 说话 or 说清楚, which
# demand it), their manner, their name, what they did already, where they are or their hours
# (护士站的地址是哪里, 护士站在几楼, 人工客服几点下班, 工作人员周末休息吗)
_TELLS_ZH = re.compile(r"^(?:的[^，。！？,.!?]{1,3}?)?[^，。！？,.!?]{0,2}?"
                       r"(?:态度|叫什么|说(?!话|一下|清楚|明白)|已经|放|地址|在几楼"
                       r"|(?:几点|什么时候)(?:上班|下班|开门|关门)"
                       r"|(?:周末|周六|周日|星期[六天日]|节假日|晚上|中午)(?:休息|上班|值班))")
_SO_ZH = re.compile(r"好让$")
_ASKED_ZH = re.compile(r"(?:找|转|叫|接|要|跟|和|同|给我)[^，。！？,.!?]{0,2}$")


_CONTEXT = 80   # characters either side of a phrase that the patterns above read (all shorter)


def _around(text: str, span: tuple[int, int]) -> tuple[str, str]:
    """The text just before and just after character `span`: every pattern reads no further,
    so a turn that says a staff word a thousand times costs linear time, not quadratic. A cut
    start begins at a whole word behind a neutral "x ", so that neither a word's tail ("...the")
    nor the start of the text (the `^` of `_CLAUSE_EN`) is read where the turn has neither."""
    start = span[0] - _CONTEXT
    before = text[max(0, start):span[0]]
    if start > 0:
        before = "x " + before[before.find(" ") + 1:]
    return before, text[span[1]:span[1] + _CONTEXT]


def spoken_of(text: str, span: tuple[int, int]) -> bool:
    """Whether the staff word at character `span` of `text` names someone the caller speaks of
    (their own job, staff as the subject of what they tell, a name asked for, a place), not
    someone they ask for."""
    before, after = _around(text, span)
    if _ASKED_EN.search(before) or _ASKED_ZH.search(before):
        return False
    if any(p.search(before) for p in (_ROLE_EN, _NAME_EN, _PLACE_EN, _ROLE_ZH, _SO_ZH)):
        return True
    if _OWNER_EN.search(before) and _TELLS_EN.search(after) \
            or _CLAUSE_EN.search(before) and _DOES_BARE_EN.search(after):
        return True
    return _TELLS_ZH.search(after) is not None


# A request phrase the caller puts after "I need to", "I want", "can I", 我想/我要/我需要 asks in
# so many words: the net's calm word does not overrule it ("my phone was stolen last night and I
# really need to speak with somebody about blocking it")
_WANTS_EN = re.compile(r"\b(?:i|we)(?:'d| would)?\s+(?:really\s+|just\s+|urgently\s+)?"
                       r"(?:need|want|like)\s+(?:to\s+)?$|\b(?:can|could|may)\s+i\s+$"
                       r"|\b(?:let|get|put)\s+me\s+$", re.IGNORECASE)
_WANTS_ZH = re.compile(r"我(?:要|想|需要|得)[^，。！？,.!?]{0,2}$")


def asked_outright(text: str, span: tuple[int, int]) -> bool:
    """Whether the request phrase at character `span` of `text` follows the caller's own "I
    need to", "I want", "can I" (我想, 我要) right before it."""
    before, _ = _around(text, span)
    return _WANTS_EN.search(before) is not None or _WANTS_ZH.search(before) is not None


def only_spoken_of(text: str, found: Iterable[PhraseMatch]) -> bool:
    """Whether every place in `text` where the words of a request phrase `found` there stand is
    staff spoken of: "the agent was rude, agent please" asks at its second "agent"."""
    for match in found:
        start = text.find(match.matched)
        places = {match.span}
        while start >= 0:
            places.add((start, start + len(match.matched)))
            start = text.find(match.matched, start + 1)
        if not all(spoken_of(text, span) for span in places):
            return False
    return True
