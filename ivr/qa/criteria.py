"""The QA criteria about how a call went: greeting, closing, resolution, emergency handling,
the caller's mood by quarter, and the survey answer. Each is a function of the call's facts and
its rubric parameters (a pydantic model) that returns a `Score`; timing criteria are in
`ivr.qa.criteria_timing`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ivr.qa.call_facts import CallFacts, Score, not_applicable, rounded
from ivr.store.schema import Outcome
from ivr.text.normalize import simple_normalize


class Params(BaseModel):
    """A criterion's parameters as the rubric gives them; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GreetingParams(Params):
    within_s: float = Field(5.0, gt=0, description="the greeting's first audio at most this "
                                                   "long after the call's media started")


def greeting(call: CallFacts, p: GreetingParams) -> Score:
    """The bot greeted the caller, soon enough."""
    said = call.view.turns[0].said if call.view.turns else ""
    heard_at = call.first("playout.first_frame", call.media_start) or call.first("bot.say")
    if not said or heard_at is None:
        if call.end_t - call.media_start < p.within_s:
            return not_applicable("the call ended before a greeting was due")
        return Score(0.0, {"greeting": None})
    after = rounded(heard_at.t - call.media_start)
    return Score(1.0 if after <= p.within_s else 0.0, {"greeting": said, "after_s": after})


class ClosingParams(Params):
    phrases: list[str] = Field(default_factory=lambda: [
        "goodbye", "bye", "thank you", "thanks for calling", "再见", "谢谢"],
        min_length=1, description="a hang-up's last words hold one of these")


def closing(call: CallFacts, p: ClosingParams) -> Score:
    """The bot closed the call: a goodbye, or a transfer announcement.

    A transfer must be announced; the bot's own hang-up must end with a goodbye phrase. A
    caller who hangs up first is not the bot's to close."""
    spoken = [t for t in call.view.turns if t.said]
    last = spoken[-1].said if spoken else ""
    if call.view.transfer:
        announced = next((t.said for t in call.view.turns if t.transfer), "")
        return Score(1.0 if announced else 0.0, {"transfer_announcement": announced or None})
    if call.ended_by_caller:
        return not_applicable("the caller hung up first")
    wanted = [simple_normalize(phrase) for phrase in p.phrases]
    found = next((phrase for phrase in wanted if phrase in simple_normalize(last)), None)
    return Score(1.0 if found else 0.0, {"last_words": last or None, "goodbye": found})


class ResolutionParams(Params):
    abandoned: float | None = Field(None, ge=0, le=1, description=(
        "the score of an abandoned call; null: abandoned calls are counted apart and left out "
        "of the total"))


def resolution(call: CallFacts, p: ResolutionParams) -> Score:
    """Resolved by the bot, or handed to a person with a reason; failed calls score 0."""
    outcome = call.view.outcome
    evidence: dict[str, object] = {"outcome": outcome, "end_reason": call.view.end_reason}
    if outcome == Outcome.RESOLVED.value:
        return Score(1.0, evidence)
    if outcome == Outcome.TRANSFERRED.value:
        request = call.record.of("transfer.request")
        reason = str(request[-1]["reason"]) if request else ""
        return Score(1.0 if reason else 0.0, {**evidence, "transfer_reason": reason or None})
    if outcome == Outcome.ABANDONED.value:
        if p.abandoned is None:
            return Score(None, {**evidence, "not_applicable": "abandoned: counted apart"})
        return Score(p.abandoned, evidence)
    if outcome == Outcome.FAILED.value:
        return Score(0.0, evidence)
    return not_applicable("the call has not ended")


class EmergencyParams(Params):
    max_s: float = Field(6.0, gt=0, description="from the caller's emergency words (the end of "
                                                "the utterance, or the decision if sooner) to "
                                                "the transfer")
    reasons: list[str] = Field(default_factory=lambda: ["emergency", "self_harm"], min_length=1,
                               description="dialog decisions that are emergencies")


def emergency(call: CallFacts, p: EmergencyParams) -> Score:
    """An emergency was put through to a person within `max_s` seconds."""
    decision = next((e for e in call.record.of("dialog.decision")
                     if e["reason"] in p.reasons), None)
    if decision is None:
        return not_applicable("no emergency")
    started = decision.t
    speech = [e for e in call.record.events if e.kind in ("speech.start", "speech.end")
              and e.t <= decision.t]
    if speech and speech[-1].kind == "speech.end":  # decided after the caller finished
        started = min(started, float(speech[-1]["at"]))
    transfer = call.first("transfer.request", decision.t)
    evidence = {"reason": decision["reason"], "from_s": rounded(started - call.media_start)}
    if transfer is None:
        return Score(0.0, {**evidence, "transfer": None})
    took = rounded(transfer.t - started)
    return Score(1.0 if took <= p.max_s else 0.0,
                 {**evidence, "transfer_after_s": took, "max_s": p.max_s})


class SentimentParams(Params):
    upset_at: float = Field(0.5, ge=0, le=1, description=(
        "the anger score a turn the dialog called frustrated or angry counts as, at least"))


UPSET_DECISIONS = frozenset({"angry_offer", "angry_caller"})


def sentiment(call: CallFacts, p: SentimentParams) -> Score:
    """The caller's mood by quarter of the call; calm by the end scores well.

    Each rated turn's anger score (the dialog's, raised to `upset_at` where it decided the
    caller was frustrated or angry) falls in a quarter of the call; the score is 1 minus the
    mean of the last quarter that has turns."""
    moods: list[tuple[float, float]] = []  # (call time, 0 calm .. 1 angry)
    rated = False  # this turn's anger score is moods[-1]
    for event in call.record.events:
        if event.kind == "anger":
            moods.append((event.t, float(event["score"])))
            rated = True
        elif event.kind == "dialog.decision":
            if event["reason"] in UPSET_DECISIONS or event.data.get("mood") == "frustrated":
                t, score = moods.pop() if rated else (event.t, 0.0)
                moods.append((t, max(score, p.upset_at)))
            rated = False
    if not moods:
        return not_applicable("no turn was rated")
    span = max(call.end_t - call.media_start, 1e-9)
    quarters: list[list[float]] = [[], [], [], []]
    for t, score in moods:
        quarters[min(3, max(0, int((t - call.media_start) / span * 4)))].append(score)
    means = [rounded(sum(q) / len(q)) if q else None for q in quarters]
    last = next(m for m in reversed(means) if m is not None)
    return Score(rounded(1.0 - last), {"quarters": means, "turns_rated": len(moods)})


class SurveyParams(Params):
    answers: dict[str, float] = Field(default_factory=lambda: {"yes": 1.0, "no": 0.0},
                                      min_length=1, description="survey answer -> score")


def survey(call: CallFacts, p: SurveyParams) -> Score:
    """The caller's own answer to the survey."""
    answers = [e for e in call.record.of("slot") if e["name"] == "survey"]
    if not answers:
        return not_applicable("no survey answer")
    answer = str(answers[-1]["value"]).lower()
    if answer not in p.answers:
        return Score(None, {"answer": answer, "not_applicable": "answer not in the rubric"})
    return Score(p.answers[answer], {"answer": answer})
