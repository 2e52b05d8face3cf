"""The hand-off guard: one component, run on every caller turn (and on interim text) by the call
session, and run unchanged by `ivr eval escalation`.

In priority order it decides whether a turn is
  * self_harm or emergency (urgent: transfer to the emergency target at once),
  * a request for a person,
  * hostile or angry (transfer or offer a person, per the plan's anger policy),
  * somewhat like self-harm, though not enough for the hand-off ("check_in": the caller is
    asked whether they are safe, `ivr.safety.check`),
  * frustrated (an apology, and a person offered rather than a topic list on a miss),
  * or calm.

Two nets, either of which is enough: the phrase lexicon (built-in per language plus the plan's
own phrases, fuzzy through ASR errors, inflections, word order and Chinese homophones) and the
learned net (`SemanticNet`) over the multilingual embeddings, with per-class thresholds
calibrated on the development set. For emergencies recall beats precision: a false hand-off
costs an agent a minute, a missed one can cost a life.

The net is also the lexicon's second opinion on context: a phrase found in a turn the net is
sure is calm ("my mum had a heart attack two years back, I'm booking her review", "the monitor
keeps dying", "I'm a machine operator") is overruled. The bar (`*_veto`, calibrated) sits well
above the calm score of every real emergency and request in the development sets, and turns too
short for the net keep the lexicon's word. So is an emergency phrase in a turn the net finds
nothing urgent in at all ("the printer keeps choking on thick card": below `urgent_floor`, 0.3 x
the lowest urgent score of any real emergency or self-harm turn the lexicon finds in those sets).
A request for a person the caller negates ("no need for a person", "don't transfer me", 不用转人工)
is no request, nor is a turn the net hears as one where the caller declines anyone ("I don't need
to talk to anyone"), nor one that tells of staff the caller dealt with before and asks for no
one ("the agent I spoke to yesterday said...", `ivr.safety.contact`), nor a word for staff the
caller speaks of rather than asks for ("our receptionist is off today"; the net may still hear
a request in the turn). A
phrase in a turn that places it in the past ("a heart attack last year", 去年心脏病发作过) counts
only if the net finds the turn urgent too; so does one in a turn that speaks of the news or other
media ("I saw on the news there was a fire at one of your data centres", 新闻上说...爆炸了), and
heard in an interim result while the caller still talks, such a phrase waits for the end of the
turn (an event placed in the past does not: "he had a stroke last year and now..." is acted on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.audio.frames import PHONE_RATE
from ivr.dialog.slot_numbers import UNITS
from ivr.dialplan.model import Escalation
from ivr.safety.denial import without_denials
from ivr.safety.anger import AngerAssessment, AngerConfig, AngerTracker
from ivr.safety.contact import asked_outright, dealt_with_before, only_spoken_of
from ivr.safety.lexicon import GuardRules, compile_rules
from ivr.safety.inquiry import asks_for_information
from ivr.safety.instructions import without_attempt
from ivr.safety.negation import declined, declines_a_person, talks_to_the_bot
from ivr.safety.not_angry import says_not_angry
from ivr.safety.past import from_the_media, placed_in_past
from ivr.safety.semantic import SemanticNet
from ivr.safety.warning import warning_sign
from ivr.text.normalize import tokenize

__all__ = ["EscalationGuard", "Verdict", "HOSTILE_GROUP_WEIGHT", "FRUSTRATION_WEIGHT", "checkable"]

HOSTILE_GROUP_WEIGHT = 0.6    # one hostile phrase makes a hostile turn (with the default policy)
FRUSTRATION_WEIGHT = 0.3      # civil frustration: an apology, never a hand-off by itself
FRUSTRATED_TURN = 0.25        # a turn scoring this much (and not escalating) gets the apology
PARTIAL_NET_MIN = 0.9         # the net on interim text (fragments, half-recognised words) acts
                              # only when sure; the final text gets the calibrated threshold
NET_ANGRY_LEAD = 0.1          # with no hostile words, the net's angry score must lead its calm
                              # one by this much for a hostile turn: calm requests it scores near
                              # the threshold ("把彩铃关掉", 0.44 angry, 0.38 calm) get the
                              # apology instead of a transfer (dev sets: 7 of 16 such turns, no
                              # angry one); and the turn must not be a plain question for
                              # information (`ivr.safety.inquiry`: 你们具体在什么地方啊, 0.69)
NET_MIN_WORDS, NET_MIN_CJK = 3, 4
SAFETY_CHECK_MIN_TOKENS = 8   # words or Chinese characters: 我想取消预约 (0.38) is asked nothing
SELF_HARM_OVERRIDE = 0.5      # the net's self-harm probability that turns a lexicon emergency
                              # ("a whole bottle of pills") into self-harm


@dataclass(frozen=True)
class Verdict:
    """What the guard decided about one turn.

    `kind`: "self_harm", "emergency", "human", "angry", "check_in", "frustrated" or "calm";
    `escalate`: hand the caller over now (for "angry": per the policy, transfer or offer);
    `evidence`: the phrase matched, the net's score, the anger figures."""

    kind: str
    escalate: bool = False
    evidence: dict = field(default_factory=dict)
    mood: AngerAssessment | None = None


class EscalationGuard:
    """One call's guard: the net is shared by every call of a process, the anger tracker is this
    call's own. `rules` come from `compile_rules(escalation)` for the current node."""

    def __init__(self, net: SemanticNet | None, anger: AngerConfig | None = None) -> None:
        self.net = net
        self.anger = AngerTracker(anger)
        self._last: tuple[str, dict[str, float]] = ("", {})
        self.overruled: dict = {}   # this turn's lexicon hits that were not acted on, and why

    @staticmethod
    def rules(escalation: Escalation) -> GuardRules:
        """The compiled rules of one effective escalation configuration (cached)."""
        return compile_rules(escalation)

    def _scores(self, rules: GuardRules, text: str) -> dict[str, float]:
        """The net's scores for `text`, computed once per turn though three checks read them."""
        if self.net is None or not rules.escalation.semantic:
            return {}
        last = self._last
        if last[0] != text or not last[1]:
            last = (text, self.net.scores(text))
            self._last = last  # one assignment: safe when a worker thread prepares the turn
        return last[1]

    def _calm_by_net(self, scores: dict[str, float], text: str, veto: str) -> float | None:
        """The net's calm score when it is sure enough of it to overrule a lexicon hit (the
        `veto` threshold, e.g. "urgent_veto"), else None."""
        bar = self.net.thresholds().get(veto) if self.net is not None else None
        if not scores or bar is None or _too_short(text) or scores["neutral"] < bar:
            return None
        return scores["neutral"]

    def urgent(self, rules: GuardRules, text: str, partial: bool = False) -> Verdict | None:
        """Self-harm or an emergency in `text` (`partial`: an interim result whose last word
        may be unfinished; only complete evidence counts), judged without the caller's denials
        ("nobody's hurt", 没着火: `ivr.safety.denial`). Set aside, words can only lower the
        urgency, never raise it: a turn the net alone finds urgent without them is handed over
        only if the whole turn, those words included, is urgent too (without "终止合约",
        "我想终止合约，最后还要付多少？" reads as a last reckoning)."""
        whole = text
        text, denied = without_denials(text)   # "nothing's on fire": judged without those words
        verdict = self._urgent(rules, text, partial)
        if not denied:
            return verdict
        if verdict is not None and verdict.evidence.get("net") == "semantic" \
                and self._urgent(rules, whole, partial) is None:
            verdict = None
        if verdict is None:
            self.overruled = {**self.overruled, "denied": denied}
            return None
        return Verdict(verdict.kind, verdict.escalate, {**verdict.evidence, "denied": denied})

    def _urgent(self, rules: GuardRules, text: str, partial: bool) -> Verdict | None:
        if not text:
            return None
        found = []
        for kind in ("self_harm", "emergency"):
            match = rules.matchers[kind].find(text, partial=partial)
            if match is not None and match.complete:
                found.append((match.score, kind, {"phrase": match.phrase, "matched": match.matched,
                                                  "score": round(match.score, 3)}))
        scores = self._scores(rules, text)
        if found:
            _, kind, evidence = max(found, key=lambda f: (f[0], f[1] == "self_harm"))
            calm = self._calm_by_net(scores, text, "urgent_veto")
            if calm is not None:
                self.overruled = {"overruled": evidence["matched"], "calm_score": round(calm, 3)}
                return None
            floor = self.net.thresholds().get("urgent_floor") if self.net is not None else None
            if scores and floor is not None and not _too_short(text) \
                    and scores["emergency"] + scores["self_harm"] < floor:
                self.overruled = {"overruled": evidence["matched"], "urgent_score": round(
                    scores["emergency"] + scores["self_harm"], 3)}
                return None
            elsewhere = {"past": placed_in_past(text), "media": from_the_media(text)}
            placed = {k: True for k, v in elsewhere.items() if v}
            if partial and placed and scores:
                # the caller still talks ("last year my dad had a heart attack, so I'd like...",
                # "I saw on the news there was a fire at..."), and the net finds such a fragment
                # urgent (0.71) before the question comes: the rule below judges the whole turn
                self.overruled = {"deferred": evidence["matched"], **placed}
                return None
            if placed and scores and not _too_short(text) \
                    and scores["emergency"] + scores["self_harm"] < self.net.threshold("urgent"):
                self.overruled = {"overruled": evidence["matched"], **placed}
                return None
            if kind == "emergency" and scores and scores["self_harm"] > SELF_HARM_OVERRIDE:
                kind = "self_harm"  # an overdose taken on purpose: the crisis prompt
            return Verdict(kind, True, {**evidence, "net": "lexicon"})
        if not scores or _too_short(text):
            return None
        urgent = scores["emergency"] + scores["self_harm"]
        threshold = self.net.threshold("urgent")  # type: ignore[union-attr]
        if urgent < (max(threshold, PARTIAL_NET_MIN) if partial else threshold):
            return None
        kind = "self_harm" if scores["self_harm"] > scores["emergency"] else "emergency"
        return Verdict(kind, True, {"net": "semantic", "score": round(urgent, 3),
                                    "class_score": round(scores[kind], 3)})

    def human(self, rules: GuardRules, text: str) -> Verdict | None:
        """A request for a person in `text` (or the whole turn one of the lexicon's whole turns:
        "Person.", "someone please", 找人)."""
        if bare := rules.whole_turn("human", text):
            return Verdict("human", True, {"phrase": bare, "matched": text.strip(),
                                           "net": "lexicon", "whole_turn": True})
        found = rules.matchers["human"].find_all(text)
        # a request the caller declines is none, unless they ask in another place ("I don't
        # need an agent, I want a manager")
        asked = [m for m in found if not declined(text, m.span)]
        if found and not asked:
            self.overruled = {"declined": found[0].matched}
            return None
        match = asked[0] if asked else None
        scores = self._scores(rules, text)
        spoken = match is not None and only_spoken_of(text, asked)
        if spoken:
            self.overruled = {"spoken_of": match.matched}   # the net may still hear a request,
            match = None    # unless the turn asks about them ("人工客服几点上班", a plain question)
        net_says = bool(scores) and not _too_short(text) \
            and not (spoken and asks_for_information(text)) \
            and scores["human"] >= self.net.threshold("human")  # type: ignore[union-attr]
        if (match is not None or net_says) and dealt_with_before(text):
            self.overruled = {"dealt_with_before": match.matched if match else "a person"}
            return None
        if match is not None:
            calm = None if asked_outright(text, match.span) \
                else self._calm_by_net(scores, text, "human_veto")
            if calm is None:
                return Verdict("human", True, {"phrase": match.phrase, "matched": match.matched,
                                               "net": "lexicon"})
            self.overruled = {"overruled": match.matched, "calm_score": round(calm, 3)}
            return None
        if net_says:
            if declines_a_person(text):
                self.overruled = {"declined": "a person", "score": round(scores["human"], 3)}
                return None
            if talks_to_the_bot(text):
                self.overruled = {"talks_to_the_bot": True, "score": round(scores["human"], 3)}
                return None
            return Verdict("human", True, {"net": "semantic", "score": round(scores["human"], 3)})
        return None

    def safety_check(self, rules: GuardRules, text: str) -> dict | None:
        """Evidence for asking the caller whether they are safe (`Verdict` kind "check_in") about
        a turn not handed over, its denials set aside: a warning sign of suicide
        (`ivr.safety.warning`), or the net hears something of self-harm, from the calibrated
        `self_harm_check` bar; None otherwise, or where the plan turns the check off
        (`escalation.safety_check`)."""
        if not rules.escalation.safety_check:
            return None
        rest, _ = without_denials(text)
        if sign := warning_sign(rest):
            return {"warning_sign": sign}
        bar = self.net.thresholds().get("self_harm_check") if self.net is not None else None
        if bar is None or not rules.escalation.semantic:
            return None
        score = self.check_score(text)
        return {"safety_check": round(score, 3)} if score is not None and score >= bar else None

    def check_score(self, text: str) -> float | None:
        """The net's self-harm score that the safety check compares with its bar: of `text`
        without its denials, never above the whole turn's (set aside, words can only lower it);
        None without a net or when the turn is too short to be asked (`checkable`)."""
        rest, _ = without_denials(text)
        if self.net is None or not checkable(rest):
            return None
        score = self.net.scores(rest)["self_harm"]
        return min(score, self.net.scores(text)["self_harm"]) if rest != text else score

    def word_anger(self, rules: GuardRules, text: str) -> tuple[float, dict]:
        """Anger carried by the words of one turn, 0..1, with its evidence: hostile phrases and
        civil frustration from the lexicon, the net's angry and frustrated scores."""
        remaining = 1.0
        evidence: dict = {}
        hostile = [m.matched for m in rules.matchers["anger"].find_all(text)]
        if bare := rules.whole_turn("anger", text):   # the whole turn is 滚
            hostile.append(bare)
        if hostile:
            evidence["hostile_words"] = hostile
            remaining *= 1 - HOSTILE_GROUP_WEIGHT
        frustration = rules.matchers["frustration"].find_all(text)
        if frustration:
            evidence["frustration_words"] = [m.matched for m in frustration]
            remaining *= 1 - FRUSTRATION_WEIGHT
        scores = self._scores(rules, text)
        if scores and not _too_short(text):
            net = self.net
            angry, frustrated = scores["angry"], scores["frustrated"]
            if angry >= net.threshold("angry") and (  # type: ignore[union-attr]
                    hostile or angry - scores["neutral"] >= NET_ANGRY_LEAD
                    and not asks_for_information(text) and not says_not_angry(text)):
                evidence["net_angry"] = round(angry, 3)
                remaining *= 1 - HOSTILE_GROUP_WEIGHT
            elif angry + frustrated >= net.threshold("frustrated"):  # type: ignore[union-attr]
                evidence["net_frustrated"] = round(angry + frustrated, 3)
                remaining *= 1 - FRUSTRATION_WEIGHT
        return 1 - remaining, evidence

    def assess(self, rules: GuardRules, text: str, audio: bytes | None = None,
               speech_s: float | None = None, rate: int = PHONE_RATE) -> Verdict:
        """The whole guard on one final caller turn, in priority order. Updates the call's anger
        history (so call it once per turn); `audio` feeds the voice cues when the policy uses
        them."""
        self.overruled = {}
        if verdict := self.urgent(rules, text):
            return verdict
        if verdict := self.human(rules, text):
            return verdict
        check = self.safety_check(rules, text)
        policy = rules.escalation.anger
        if not policy.enabled:
            return Verdict("check_in" if check else "calm", False, {**self.overruled,
                                                                    **(check or {})})
        config = self.anger.config
        if (config.hostile_turn, config.threshold, config.hot_turn, config.consecutive) != \
                (policy.hostile_turn, policy.threshold, policy.hot_turn, policy.consecutive_turns):
            self.anger.config = _anger_config(policy, config)
        mood_text = without_attempt(text)    # orders to the bot are not anger at it
        word, evidence = self.word_anger(rules, mood_text)
        mood = self.anger.assess(mood_text, word, evidence, audio if policy.use_voice else None,
                                 rate, speech_s)
        figures = {"anger": round(mood.score, 3), "smoothed": round(mood.smoothed, 3),
                   **mood.evidence, **self.overruled}
        if mood.escalate:
            return Verdict("angry", True, figures, mood)
        if check is not None:
            return Verdict("check_in", False, {**figures, **check}, mood)
        if mood.score >= FRUSTRATED_TURN and word > 0:
            return Verdict("frustrated", False, figures, mood)
        return Verdict("calm", False, figures, mood)


def _too_short(text: str) -> bool:
    """Fewer than three words (four Chinese characters): too little for the net to judge an
    emergency or a mood on its own ("Purple elephants."); the lexicon still hears "Help!" and
    救命. Numbers are not words: a serial number read out ("S and 447192") says nothing."""
    tokens = tokenize(text)
    cjk = sum(1 for t in tokens if t.cjk)
    words = sum(1 for t in tokens if not t.cjk and t.norm not in UNITS and not t.norm.isdigit())
    return words < NET_MIN_WORDS and cjk < NET_MIN_CJK


def checkable(text: str) -> bool:
    """Whether a turn is long enough for the safety check: the net judges it, and it has
    `SAFETY_CHECK_MIN_TOKENS` words or Chinese characters. The net scores the clinic's commonest
    short requests near the check's bar (我想预约 0.31, 我想取消预约 0.38), while the veiled
    self-harm the check is for is told at length."""
    return bool(text) and not _too_short(text) and len(tokenize(text)) >= SAFETY_CHECK_MIN_TOKENS


def _anger_config(policy, base: AngerConfig) -> AngerConfig:
    from dataclasses import replace

    return replace(base, hostile_turn=policy.hostile_turn, threshold=policy.threshold,
                   hot_turn=policy.hot_turn, consecutive=policy.consecutive_turns)
