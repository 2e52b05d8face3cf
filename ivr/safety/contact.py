"""Staff the caller has already dealt with: "the agent I spoke to yesterday said...", "an agent
already gave me the porting code", 之前的客服说三天到账.

Callers name the people they dealt with before all day, while asking about what those people
did. Such a turn names an agent, a person, the customer service team, but asks for no one: it is
no request for a person, unless it also asks for one in so many words ("the agent I spoke to
was useless, I want a manager"; 上次客服没解决，给我转人工).
"""

from __future__ import annotations

import re

__all__ = ["dealt_with_before"]

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
