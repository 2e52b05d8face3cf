"""Per-turn stage latencies read from a call's events (the same events every driver emits)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivr.events import Event


HANDOFF_REASONS = frozenset({"emergency", "self_harm", "caller_asked_for_human", "angry_caller"})
"""`dialog.decision` reasons that hand the caller to a person at once."""


@dataclass(frozen=True)
class TurnLatency:
    """Seconds from the end of the caller's speech (all wall-clock except `endpoint_s`)."""

    endpoint_s: float          # end-of-turn silence the endpointer waited (call time)
    asr_s: float               # end detected -> ASR final
    llm_first_token_s: float | None  # ASR final -> first LLM token (None: no LLM in this turn)
    first_audio_s: float       # end detected -> first TTS audio ready
    asr_rtf: float
    tts_rtf: float | None
    path: str = "answer"       # answer, llm (the LLM was asked), handoff (a guard transferred)

    @property
    def total_s(self) -> float:
        """End of caller speech -> first bot audio ready to play."""
        return self.endpoint_s + self.first_audio_s


def turn_latencies(events: list[Event]) -> list[TurnLatency]:
    """One entry per caller turn that got a spoken reply."""
    turns: list[TurnLatency] = []
    end: Event | None = None
    asr: Event | None = None
    llm: Event | None = None
    handoff = False
    for event in events:
        if event.kind == "speech.end" and not event.data.get("dropped"):
            end, asr, llm, handoff = event, None, None, False
        elif event.kind == "asr.final" and end is not None:
            asr = event
        elif event.kind == "llm.first_token" and asr is not None:
            llm = event
        elif event.kind == "dialog.decision" and asr is not None:
            handoff = handoff or event.data.get("reason") in HANDOFF_REASONS
        elif event.kind == "tts.first_audio" and end is not None and asr is not None:
            asr_s = recognised_after_end(end, asr)
            turns.append(TurnLatency(
                endpoint_s=event_gap(end), asr_s=asr_s,
                llm_first_token_s=(llm.wall - asr.wall) if llm else None,
                first_audio_s=asr_s + event.wall - asr.wall, asr_rtf=asr.data["rtf"],
                tts_rtf=event.data.get("rtf"),
                path="handoff" if handoff else "llm" if llm else "answer"))
            end = asr = llm = None
    return turns


def recognised_after_end(end: Event, asr: Event) -> float:
    """Seconds from the end of the turn being declared to its transcript. Recognition started
    at a pause (`speculative_at`) ran while the endpointer waited: it is done at its start plus
    its compute time, which a simulated-time driver (which waits for model work before the next
    frame) does not show in wall time, so that bound is taken too."""
    waited = asr.wall - end.wall
    started = asr.data.get("speculative_at")
    if started is None:
        return waited
    return max(waited, started + asr.data["compute_s"] - end.t)


def event_gap(end: Event) -> float:
    """Call time between the last voiced frame and the moment the endpointer declared the end."""
    return max(0.0, end.t - end.data.get("at", end.t))


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p95); NaN for no values."""
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))
