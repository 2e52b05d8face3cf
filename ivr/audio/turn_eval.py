"""Replay voiced turns through the production endpointer and turn judge, in simulated time.

The judge answers at `judge_ms` of silence and, with a transcriber, at `question_ms` (whether the
turn so far is a whole question: `TurnJudge.question`).

A verdict takes effect `compute_s` after the pause was reported (the model runs off the media
path while frames keep coming), as CallSession applies it on a live call: only if the caller has
not spoken since. Measured per turn: whether it ended before its speech did (cut), and how long
after the true end of speech the turn was declared over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.audio.endpointer import Endpointer, EndpointerConfig, SpeechEvent, SpeechKind
from ivr.audio.frames import FRAME_MS, PHONE_RATE, frames
from ivr.audio.turn import TurnJudge, TurnPolicy, Verdict
from ivr.audio.turn_set import VoicedTurn

FRAME_S = FRAME_MS / 1000
CUT_SLACK_S = 0.3
"""A turn that ends this long before the true end of speech was cut (the VAD may drop a frame
or two of the quiet end of the last word, never 300 ms)."""


@dataclass
class TurnRun:
    """What the endpointer decided on one voiced turn."""

    ends: list[tuple[float, float, bool]] = field(default_factory=list)
    """(end of the turn's speech, when the end was decided, decided by a verdict)"""
    verdicts: list[Verdict] = field(default_factory=list)


@dataclass(frozen=True)
class TurnOutcome:
    """One voiced turn judged: ended before its speech did? delay from speech end to turn end."""

    id: str
    paused: bool
    cut: bool
    delay_s: float | None  # None when cut (or never ended)
    judged: int
    fallback: bool  # ended by the silence bound, not by a verdict
    slot: bool = False  # the turn answers a digits/phone/account node (waits longer by design)


def replay(turn: VoicedTurn, judge: TurnJudge | None, policy: TurnPolicy,
           config: EndpointerConfig | None = None) -> TurnRun:
    """Feed `turn` frame by frame; with no judge (or `policy.model` off) only silence ends it."""
    use_model = judge is not None and judge.model is not None and policy.model
    asks = use_model and policy.question_ms > 0 and judge.transcribe is not None  # type: ignore
    endpointer = Endpointer(config, PHONE_RATE)
    endpointer.wait((policy.judge_ms if use_model else 0, policy.question_ms if asks else 0),
                    policy.max_silence_ms)
    run = TurnRun()
    pending: list[tuple[SpeechEvent, Verdict, float]] = []  # verdicts not yet in effect
    for number, frame in enumerate(frames(turn.pcm)):
        t = number * FRAME_S
        for pause, verdict, due in [p for p in pending if t >= p[2]]:
            pending.remove((pause, verdict, due))
            end = endpointer.end_at_pause(pause) if verdict.complete else None
            if end is not None:
                run.ends.append((end.t, t, True))
        for event in endpointer.process(frame, t):
            if event.kind is SpeechKind.PAUSE and use_model:
                ask = judge.question if event.silence_ms == policy.question_ms \
                    else judge.judge  # type: ignore[union-attr]
                verdict = ask(event.audio, PHONE_RATE, policy)
                run.verdicts.append(verdict)
                pending.append((event, verdict, t + FRAME_S + verdict.compute_s))
            elif event.kind is SpeechKind.END and not event.dropped:
                run.ends.append((event.t, t + FRAME_S, False))
                pending.clear()
    return run


def outcome(turn: VoicedTurn, run: TurnRun) -> TurnOutcome:
    """Score a replay against the turn's known speech boundaries."""
    cut = any(end_t < turn.speech_end - CUT_SLACK_S for end_t, _, _ in run.ends)
    final = run.ends[-1] if run.ends and not cut else None
    return TurnOutcome(turn.item.id, turn.item.paused, cut,
                       None if final is None else max(0.0, final[1] - turn.speech_end),
                       len(run.verdicts), final is not None and not final[2],
                       turn.item.slot is not None)
