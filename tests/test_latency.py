"""Per-turn latencies from a call's events, with and without recognition started at a pause."""

from __future__ import annotations

import pytest

from ivr.events import Event
from ivr.qa.latency import turn_latencies


def turn(asr_data: dict, asr_wall: float) -> list[Event]:
    """Speech ends at call time 5.0 (declared at 5.7, wall 100.0); the first audio is ready
    0.05 s (wall) after the transcript."""
    return [Event(5.7, "speech.end", {"at": 5.0, "speech_ms": 1800}, wall=100.0),
            Event(5.7, "asr.final", {"text": "hi", "language": "en", "rtf": 0.3,
                                     "compute_s": 0.75, **asr_data}, wall=asr_wall),
            Event(5.7, "tts.first_audio", {"rtf": 0.01}, wall=asr_wall + 0.05)]


def test_recognition_after_the_end_is_timed_by_the_wall_clock():
    [latency] = turn_latencies(turn({}, asr_wall=100.75))
    assert latency.endpoint_s == pytest.approx(0.7)
    assert latency.asr_s == pytest.approx(0.75)
    assert latency.total_s == pytest.approx(0.7 + 0.8)


def test_recognition_started_at_a_pause_counts_what_it_had_left_at_the_end():
    # started at 5.2 (200 ms into the silence), 0.75 s of compute: done at 5.95, 0.25 s after
    # the end at 5.7, although a simulated-time driver emitted it at once (wall +0.01)
    [latency] = turn_latencies(turn({"speculative_at": 5.2}, asr_wall=100.01))
    assert latency.asr_s == pytest.approx(0.25)
    assert latency.first_audio_s == pytest.approx(0.25 + 0.05)
    # a real-time driver that waited for it longer than that: the wall clock says so
    [late] = turn_latencies(turn({"speculative_at": 5.2}, asr_wall=100.4))
    assert late.asr_s == pytest.approx(0.4)
    # done before the end was declared: nothing left to wait for
    [early] = turn_latencies(turn({"speculative_at": 5.2, "compute_s": 0.3}, asr_wall=100.0))
    assert early.asr_s == pytest.approx(0.0)


def test_each_turn_is_labelled_with_the_path_that_answered_it():
    plain = turn({}, asr_wall=100.75)
    phrased = plain[:2] + [Event(5.7, "llm.first_token", {"latency_s": 0.3}, wall=101.0),
                           plain[2]]
    emergency = plain[:2] + [Event(5.7, "dialog.decision", {"reason": "emergency"}, wall=100.8),
                             plain[2]]
    answered = plain[:2] + [Event(5.7, "dialog.decision", {"reason": "kb_match"}, wall=100.8),
                            plain[2]]
    paths = [t.path for t in turn_latencies(plain + phrased + emergency + answered)]
    assert paths == ["answer", "llm", "handoff", "answer"]
