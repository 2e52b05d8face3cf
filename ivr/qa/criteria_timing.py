"""The QA criteria about the flow of talk: answer latency per turn, barge-ins, long silences and
repetition. Each is a function of the call's facts and its rubric parameters that returns a
`Score` (see `ivr.qa.criteria`)."""

from __future__ import annotations

import difflib

from pydantic import Field

from ivr.qa.call_facts import CallFacts, Score, not_applicable, rounded
from ivr.qa.criteria import Params
from ivr.qa.latency import percentiles, turn_latencies
from ivr.text.normalize import simple_normalize


class LatencyParams(Params):
    limit_s: float = Field(2.0, gt=0, description="a turn answered slower than this is late")


def latency(call: CallFacts, p: LatencyParams) -> Score:
    """The share of turns answered within `limit_s`, with p50 and p95.

    Per answered turn, the end of the caller's speech to the bot's first audio, as `ivr bench`
    measures it (`ivr.qa.latency`): the endpointer's wait plus the work."""
    waits = [turn.total_s for turn in turn_latencies(call.record.events)]
    if not waits:
        return not_applicable("no spoken turn was answered")
    late = sum(wait > p.limit_s for wait in waits)
    p50, p95 = percentiles(waits)
    return Score(rounded(1.0 - late / len(waits)),
                 {"turns": len(waits), "p50_s": rounded(p50), "p95_s": rounded(p95),
                  "over_limit": rounded(late / len(waits)), "limit_s": p.limit_s})


class CountParams(Params):
    allowed: int = Field(0, ge=0, description="this many cost nothing")
    penalty: float = Field(0.5, ge=0, le=1, description="each one more costs this much")


def counted(count: int, p: CountParams, evidence: dict[str, object]) -> Score:
    """1 for up to `allowed`, then `penalty` less for each one more (never below 0)."""
    return Score(rounded(max(0.0, 1.0 - max(0, count - p.allowed) * p.penalty)),
                 {"count": count, **evidence})


class BargeInParams(CountParams):
    allowed: int = Field(1, ge=0, description="this many cost nothing")
    penalty: float = Field(0.25, ge=0, le=1, description="each one more costs this much")


def barge_ins(call: CallFacts, p: BargeInParams) -> Score:
    """How often the caller had to talk over the bot to be heard."""
    barged = call.record.of("barge_in")
    return counted(len(barged), p, {"at_s": [rounded(e.t - call.media_start) for e in barged]})


class SilenceParams(CountParams):
    gap_s: float = Field(5.0, gt=0, description="neither side speaking for longer than this")


def silences(call: CallFacts, p: SilenceParams) -> Score:
    """Gaps longer than `gap_s` with neither side speaking.

    From the media's start to the end of the call or its transfer; a hold is not a gap.
    Evidence `gaps`: [seconds after the media's start, length in seconds] of each."""
    busy = _talk(call)
    transfer = call.first("transfer.request")
    end = transfer.t if transfer else call.end_t
    gaps, cursor = [], call.media_start
    for start, stop in sorted(busy) + [(end, end)]:
        if min(start, end) - cursor > p.gap_s:
            gaps.append([rounded(cursor - call.media_start), rounded(min(start, end) - cursor)])
        cursor = max(cursor, stop)
    return counted(len(gaps), p, {"gaps": gaps, "gap_s": p.gap_s})


def _talk(call: CallFacts) -> list[tuple[float, float]]:
    """(start, end) call times of the caller's speech, the bot's audio (queued sentences play
    one after another; a barge-in or flush cuts what is left, a pause holds it until the bot
    resumes) and holds."""
    spans: list[tuple[float, float]] = []
    bot: list[list[float]] = []
    held: list[list[float]] = []  # bot audio a pause holds: (start, end) after its resume
    paused = False
    opened: dict[str, float] = {}  # "caller" / "hold": when the open span began
    for event in call.record.events:
        if event.kind == "speech.start":
            opened["caller"] = float(event["at"])
        elif event.kind == "speech.end" and "caller" in opened:
            spans.append((opened.pop("caller"), float(event["at"])))
        elif event.kind == "sip.hold":
            opened["hold"] = event.t
        elif event.kind == "sip.unhold" and "hold" in opened:
            spans.append((opened.pop("hold"), event.t))
        elif event.kind == "bot.say":
            length = float(event["audio_s"])
            if paused:  # queued behind what the pause holds
                start = held[-1][1] if held else 0.0
                held.append([start, start + length])
            else:
                start = max(event.t, bot[-1][1]) if bot else event.t
                bot.append([start, start + length])
        elif event.kind == "bot.paused":
            paused = True
            held = [[max(s, event.t) - event.t, e - event.t] for s, e in bot if e > event.t]
        elif event.kind == "bot.resumed" and paused:
            paused = False
            bot += [[event.t + s, event.t + e] for s, e in held]
        if event.kind in ("barge_in", "playout.flushed", "bot.paused"):
            for sentence in bot:
                sentence[0], sentence[1] = min(sentence[0], event.t), min(sentence[1], event.t)
        if event.kind == "barge_in":
            paused, held = False, []
    spans += [(start, call.end_t) for start in opened.values()]
    return spans + [(start, end) for start, end in bot]


class RepeatParams(CountParams):
    similarity: float = Field(0.85, gt=0, le=1, description=(
        "two texts this alike (0..1, after case and punctuation are dropped) are the same"))
    min_chars: int = Field(8, ge=1, description="shorter texts (yes, no, a key) never count")


def repeats(call: CallFacts, p: RepeatParams) -> Score:
    """The caller asked the same thing twice, or the bot repeated a prompt.

    Turn by turn: the caller's words like an earlier turn's, and the bot's turn like an earlier
    one (a re-prompt, the same answer again)."""
    caller = _repeated([t.heard for t in call.view.turns], p)
    bot = _repeated([t.said for t in call.view.turns], p)
    return counted(len(caller) + len(bot), p, {"caller": caller, "bot": bot})


def _repeated(texts: list[str], p: RepeatParams) -> list[str]:
    """Each text (in order) that is like an earlier one."""
    seen: list[str] = []
    found = []
    for text in texts:
        norm = simple_normalize(text)
        if len(norm) < p.min_chars:
            continue
        if any(norm == old or _alike(norm, old, p.similarity) for old in seen):
            found.append(text)
        seen.append(norm)
    return found


def _alike(a: str, b: str, similarity: float) -> bool:
    """difflib's ratio at least `similarity` (its cheap upper bounds first)."""
    matcher = difflib.SequenceMatcher(None, a, b)
    return (matcher.real_quick_ratio() >= similarity and matcher.quick_ratio() >= similarity
            and matcher.ratio() >= similarity)
