"""End of turn: at a short pause, decide whether the caller has finished.

The endpointer reports a PAUSE after `TurnPolicy.judge_ms` of silence; a `TurnJudge` then asks a
`TurnModel` (Smart Turn by default, see turn_model.py) off the media path. A complete verdict
ends the turn at once unless the transcript of the turn so far (the session's speculative
recognition at the same pause) sounds unfinished (turn_text.py). A turn not ended there whose
transcript is a whole question ("Could you help me with that?") ends after `question_ms` of
silence; otherwise the endpointer's silence bound (`max_silence_ms`) still ends it, so a missing
or failing model only makes turns slower, never endless.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Protocol

from ivr.audio.turn_text import sounds_unfinished, whole_question

log = logging.getLogger("ivr.turn")


class TurnModel(Protocol):
    """Anything that scores how likely a caller's audio (ending now) is a finished turn."""

    name: str

    def probability(self, pcm: bytes, rate: int) -> float:
        """P(complete) for PCM16 mono audio at `rate` that ends at the judging moment."""
        ...


@dataclass(frozen=True)
class TurnPolicy:
    """How long a node waits for the end of a caller's turn (milliseconds of VAD silence)."""

    model: bool = True  # judge pauses with the turn model; False = fixed silence only
    judge_ms: int = 200  # silence after which the model judges
    max_silence_ms: int = 1000  # silence that ends a turn whatever the model says
    threshold: float = 0.5  # P(complete) at or above which the turn ends at the pause
    question_ms: int = 0  # silence after which a turn the model has not ended ends anyway if the
                          # transcript so far is a whole question (0: never)


FIXED_SILENCE_MS = 700
"""The fixed silence that ended every turn before the model (EndpointerConfig.end_silence_ms):
the baseline `ivr bench turn` compares with, and the wait wherever the model does not judge."""

TEXT_VETO_LANGUAGES = frozenset({"en", "zh"})
"""Languages whose transcripts turn_text.py can tell unfinished; the model judges open questions
by default only in plans that speak nothing else."""

OPEN_QUESTION = TurnPolicy(model=True, judge_ms=200, max_silence_ms=1400, threshold=0.5,
                           question_ms=600)
"""Default wait for free speech (menus, questions, answers) in English and Mandarin plans: the
model judges at 200 ms of silence and a complete verdict stands only if the speculative
transcript of the turn does not sound unfinished (turn_text.py); a turn whose transcript is a
whole question ends at 600 ms whatever the model said (on the dev parts of the four paused sets,
3 of the 7 complete turns that waited for the bound were questions the model called unfinished,
"Could you help me with that?" at P 0.48, 这个月电费怎么这么高啊？ at 0.06; the one paused turn
whose text at a pause read as one, 我笑呢 for 我想呢, the model had already ended at 200 ms).
Chosen on the dev half of the
English paused set (`ivr bench turn`): the model alone cut 7 of 16 paused turns there, with the
transcript 3 of 16 under a 1000 ms bound (all three by the bound: pauses of 1.0-1.2 s) and 0 of
16 under 1400 ms, while 7 of 8 complete turns still ended at the first pause judged. On the
Mandarin dev set the same policy cut 2 of 16 paused turns, where the fixed 700 ms cut 14. The
bound stays under 1.5 s."""

FIXED_WAIT = TurnPolicy(model=False, max_silence_ms=FIXED_SILENCE_MS)
"""Open questions where the model does not judge: a plan with a language the transcript check
cannot read (the model alone cut 31-50 % of English and 44-50 % of Mandarin paused turns),
`end_of_turn: {model: false}`, or no model installed."""

SLOT_WAIT = TurnPolicy(model=False, max_silence_ms=1200)
"""Nodes collecting digits, phone numbers or spelled IDs: callers read them out in groups whose
ends sound final (Smart Turn scored digit groups 0.92-0.98 on the dev set), so only a longer
silence ends the turn."""

SLOT_KINDS_THAT_WAIT = frozenset({"digits", "phone", "account"})


@dataclass(frozen=True)
class Verdict:
    """The judge's answer at one pause."""

    complete: bool
    probability: float | None  # None when no model answered
    compute_s: float
    error: str = ""
    text: str | None = None  # the transcript that vetoed or confirmed a complete verdict


Transcriber = Callable[[bytes, int], str]
"""PCM16 at a rate -> text (speculative recognition of the turn so far)."""


class TurnJudge:
    """Turns a model's probability into a decision under a node's policy; never raises.

    With `transcribe`, a complete verdict is checked against the text of the turn so far and
    vetoed when it sounds unfinished (turn_text.py); the transcription time counts as compute."""

    def __init__(self, model: TurnModel | None, transcribe: Transcriber | None = None) -> None:
        self.model = model
        self.transcribe = transcribe

    def judge(self, pcm: bytes, rate: int, policy: TurnPolicy) -> Verdict:
        """Blocking (tens of ms): call it off the media path, e.g. in an executor."""
        if self.model is None or not policy.model:
            return Verdict(False, None, 0.0)
        started = time.perf_counter()
        try:
            p = self.model.probability(pcm, rate)
        except Exception as exc:  # noqa: BLE001 - a broken model falls back to the silence bound
            error = f"{type(exc).__name__}: {exc}"
            log.warning("end-of-turn model %s failed (%s): turns end after %d ms of silence",
                        self.model.name, error, policy.max_silence_ms)
            return Verdict(False, None, time.perf_counter() - started, error)
        if p < policy.threshold or self.transcribe is None:
            return Verdict(p >= policy.threshold, p, time.perf_counter() - started)
        try:
            text = self.transcribe(pcm, rate)
        except Exception as exc:  # noqa: BLE001 - no text: the audio verdict stands
            log.warning("end-of-turn transcript failed (%s: %s)", type(exc).__name__, exc)
            text = None
        return with_text(Verdict(True, p, time.perf_counter() - started), text)

    def question(self, pcm: bytes, rate: int, policy: TurnPolicy) -> Verdict:
        """At `policy.question_ms` of silence in a turn not ended yet: complete when the
        transcript so far is a whole question (never without `transcribe`). Blocking, like
        `judge`."""
        if self.transcribe is None or not policy.model or not policy.question_ms:
            return Verdict(False, None, 0.0)
        started = time.perf_counter()
        try:
            text = self.transcribe(pcm, rate)
        except Exception as exc:  # noqa: BLE001 - no text: the silence bound ends the turn
            return Verdict(False, None, time.perf_counter() - started,
                           f"{type(exc).__name__}: {exc}")
        return as_question(text, time.perf_counter() - started)


def as_question(text: str | None, compute_s: float = 0.0) -> Verdict:
    """The verdict at `question_ms` on the transcript of the turn so far (None: none)."""
    return Verdict(text is not None and whole_question(text), None, compute_s, text=text)


def with_text(verdict: Verdict, text: str | None) -> Verdict:
    """A complete verdict checked against the transcript of the turn so far: vetoed when the
    text sounds unfinished; with no text (recognition failed) the audio verdict stands."""
    if not verdict.complete or text is None:
        return verdict
    return replace(verdict, complete=not sounds_unfinished(text), text=text)


@functools.lru_cache(maxsize=1)
def shared_turn_model() -> TurnModel | None:
    """The bundled Smart Turn model in its own child process (turn_process.py), started once
    per process; None (with one warning line) when it is not installed or does not load, so
    calls fall back to the silence bound."""
    try:
        from ivr.audio.turn_model import smart_turn_onnx
        from ivr.audio.turn_process import TurnModelProcess

        smart_turn_onnx()  # a missing file is said plainly, before a child is started
        return TurnModelProcess()
    except Exception as exc:  # noqa: BLE001 - missing file, damaged file, onnxruntime error
        log.warning("end-of-turn model unavailable (%s: %s): turns end after a fixed silence",
                    type(exc).__name__, exc)
        return None


def policy_for(plan_setting: object | None, node_setting: object | None,
               slot_kind: str | None, languages: tuple[str, ...] = ("en",)) -> TurnPolicy:
    """The policy of a node: the built-in default for its kind and the plan's `languages`, then
    the plan's `end_of_turn` (not for digit, phone and account slots, which keep their longer
    silence unless the node itself says otherwise), then the node's own (each field it sets
    wins). Where `model` ends up off, unset fields come from the fixed wait."""
    waits = slot_kind in SLOT_KINDS_THAT_WAIT
    fields = {}
    for setting in ((node_setting,) if waits else (plan_setting, node_setting)):
        if setting is not None:
            fields.update({k: v for k, v in vars(setting).items() if v is not None})
    if waits:
        base = SLOT_WAIT
    elif fields.get("model", set(languages) <= TEXT_VETO_LANGUAGES):
        base = OPEN_QUESTION
    else:
        base = FIXED_WAIT
    return TurnPolicy(**{**vars(base), **fields})
