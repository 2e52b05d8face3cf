"""Tests for ivr.audio.endpointer on synthetic signals with known speech boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import webrtcvad

from ivr.audio.endpointer import Endpointer, EndpointerConfig, SpeechEvent, SpeechKind

RATE = 8000


def pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x * 32768), -32768, 32767).astype("<i2").tobytes()


def voice(seconds: float, rate: int = RATE, dbfs: float = -20.0) -> np.ndarray:
    """Speech-like signal: harmonics of 150 Hz with a 4 Hz amplitude modulation."""
    t = np.arange(int(round(seconds * rate))) / rate
    harmonics = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 15))
    x = harmonics * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    return x / np.sqrt(np.mean(x ** 2)) * 10 ** (dbfs / 20)


def quiet(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(round(seconds * rate)))


def noise(seconds: float, dbfs: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    white = np.random.default_rng(seed).standard_normal(int(round(seconds * rate)))
    return white * 10 ** (dbfs / 20)


def run(signal: np.ndarray, config: EndpointerConfig | None = None,
        rate: int = RATE) -> list[SpeechEvent]:
    endpointer = Endpointer(config, rate)
    pcm, size = pcm16(signal), rate // 50 * 2
    events: list[SpeechEvent] = []
    for i in range(0, len(pcm) - size + 1, size):
        events += endpointer.process(pcm[i:i + size], i / size * 0.02)
    return events


def turns(events: list[SpeechEvent]) -> list[SpeechEvent]:
    return [e for e in events if e.kind is SpeechKind.END and not e.dropped]


def test_webrtcvad_calls_the_synthetic_voice_speech() -> None:
    vad, pcm = webrtcvad.Vad(2), pcm16(voice(1.0))
    flags = [vad.is_speech(pcm[i:i + 320], RATE) for i in range(0, len(pcm), 320)]
    assert sum(flags) / len(flags) > 0.95


def test_silence_gives_no_events() -> None:
    assert run(quiet(3.0)) == []


def test_quiet_noise_gives_no_events() -> None:
    assert run(noise(3.0, -60)) == []


def test_white_noise_at_minus_30_dbfs_gives_no_turn() -> None:
    assert run(noise(3.0, -30)) == []
    assert run(noise(3.0, -30, rate=16000), rate=16000) == []


def test_webrtcvad_alone_fires_on_white_noise_so_the_noise_gate_matters() -> None:
    # Observed with webrtcvad-wheels: 8 kHz white noise at -30 dBFS is ~90% "speech" at mode 2.
    ungated = EndpointerConfig(noise_margin_db=-np.inf)
    assert [e.kind for e in run(noise(3.0, -30), ungated)] == [SpeechKind.START]


@pytest.mark.parametrize("rate", [8000, 16000])
def test_one_utterance_between_silences(rate: int) -> None:
    events = run(np.concatenate([quiet(1.0, rate), voice(1.5, rate), quiet(1.5, rate)]), rate=rate)
    assert [e.kind for e in events] == [SpeechKind.START, SpeechKind.END]
    start, end = events
    assert start.t == pytest.approx(1.0, abs=0.05) and start.audio == b""  # backdated to onset
    assert end.t == pytest.approx(2.5, abs=0.1)
    assert not end.dropped and end.speech_ms >= 1300
    assert len(end.audio) >= 1.5 * rate * 2
    audio = np.frombuffer(end.audio, dtype="<i2")
    assert not audio[: int(0.2 * rate)].any()  # pre-roll: silence before the speech is included


def test_utterance_in_background_noise() -> None:
    signal = np.concatenate([quiet(1.0), voice(1.5), quiet(1.5)]) + noise(4.0, -35)
    events = run(signal)
    assert [e.kind for e in events] == [SpeechKind.START, SpeechKind.END]
    assert events[0].t == pytest.approx(1.0, abs=0.1)
    assert events[1].t == pytest.approx(2.5, abs=0.1)


def test_long_pause_splits_turns() -> None:
    signal = np.concatenate([quiet(1.0), voice(1.0), quiet(1.2), voice(1.0), quiet(1.5)])
    events = run(signal)
    assert [e.kind for e in events] == [SpeechKind.START, SpeechKind.END] * 2
    assert [e.t for e in events] == pytest.approx([1.0, 2.0, 3.2, 4.2], abs=0.1)


def test_short_pause_keeps_one_turn() -> None:
    signal = np.concatenate([quiet(1.0), voice(1.0), quiet(0.3), voice(1.0), quiet(1.5)])
    events = run(signal)
    assert [e.kind for e in events] == [SpeechKind.START, SpeechKind.END]
    assert events[1].t == pytest.approx(3.3, abs=0.1)
    assert len(events[1].audio) >= 2.3 * RATE * 2


def test_max_turn_forces_end() -> None:
    config = EndpointerConfig(max_turn_ms=2000)
    events = run(np.concatenate([quiet(1.0), voice(5.0), quiet(1.5)]), config)
    assert events[0].kind is SpeechKind.START and events[1].kind is SpeechKind.END
    assert events[1].t - events[0].t == pytest.approx(2.0, abs=0.03)
    assert len(turns(events)) >= 2  # speech goes on, so a new turn starts after the forced end


def test_click_shorter_than_min_speech_is_dropped() -> None:
    events = run(np.concatenate([quiet(1.0), voice(0.16), quiet(1.5)]))
    assert [e.kind for e in events] == [SpeechKind.START, SpeechKind.END]
    assert events[1].dropped and events[1].audio == b"" and events[1].speech_ms < 200


def test_in_speech_and_voiced_ms_track_the_turn() -> None:
    endpointer = Endpointer()
    pcm = pcm16(np.concatenate([quiet(0.5), voice(1.0), quiet(1.0)]))
    seen = []
    for i in range(0, len(pcm), 320):
        endpointer.process(pcm[i:i + 320], i / 16000)
        seen.append((endpointer.in_speech, endpointer.voiced_ms))
    at_0_4, at_1_0, at_1_45, at_2_4 = seen[20], seen[50], seen[72], seen[119]
    assert at_0_4 == (False, 0)
    assert at_1_0[0] and 300 <= at_1_0[1] <= 520
    assert at_1_45[0] and at_1_45[1] >= 900
    assert at_2_4 == (False, 0)


def test_reset_forgets_a_turn_in_progress() -> None:
    endpointer = Endpointer()
    pcm = pcm16(voice(0.5))
    for i in range(0, len(pcm), 320):
        endpointer.process(pcm[i:i + 320], i / 16000)
    assert endpointer.in_speech
    endpointer.reset()
    assert not endpointer.in_speech and endpointer.voiced_ms == 0
    silence = bytes(320)
    assert all(endpointer.process(silence, 0.5 + k * 0.02) == [] for k in range(50))


def test_rejects_wrong_frame_size_and_rate() -> None:
    with pytest.raises(ValueError, match="320"):
        Endpointer().process(bytes(160), 0.0)
    with pytest.raises(ValueError, match="44100"):
        Endpointer(rate=44100)


def pause_run(signal: np.ndarray, pause_ms: int = 200,
              end_silence_ms: int = 1000) -> tuple[Endpointer, list[tuple[float, SpeechEvent]]]:
    endpointer = Endpointer(EndpointerConfig(), RATE)
    endpointer.wait((pause_ms,), end_silence_ms)
    pcm, size = pcm16(signal), RATE // 50 * 2
    events = []
    for i in range(0, len(pcm) - size + 1, size):
        t = i / size * 0.02
        events += [(t, e) for e in endpointer.process(pcm[i:i + size], t)]
    return endpointer, events


def test_a_pause_is_reported_once_per_silence_with_the_audio_so_far() -> None:
    signal = np.concatenate([quiet(1.0), voice(1.0), quiet(0.6), voice(1.0), quiet(1.5)])
    _, events = pause_run(signal)
    kinds = [e.kind for _, e in events]
    assert kinds == [SpeechKind.START, SpeechKind.PAUSE, SpeechKind.PAUSE, SpeechKind.END]
    (t1, p1), (t2, p2) = [(t, e) for t, e in events if e.kind is SpeechKind.PAUSE]
    assert p1.t == pytest.approx(2.0, abs=0.05) and t1 - p1.t == pytest.approx(0.18, abs=0.03)
    assert p2.t == pytest.approx(3.6, abs=0.05)
    assert len(p1.audio) >= 1.2 * RATE * 2  # pre-roll + speech + the 200 ms of silence
    assert events[-1][1].t == pytest.approx(3.6, abs=0.05)  # ended by the 1000 ms bound
    assert events[-1][0] - events[-1][1].t == pytest.approx(0.98, abs=0.03)


def test_each_pause_length_is_reported_once_per_silence() -> None:
    endpointer = Endpointer(EndpointerConfig(), RATE)
    endpointer.wait((120, 200), 1000)
    pcm, size = pcm16(np.concatenate([quiet(1.0), voice(1.0), quiet(0.6), voice(1.0),
                                      quiet(1.5)])), RATE // 50 * 2
    pauses = [e for i in range(0, len(pcm) - size + 1, size)
              for e in endpointer.process(pcm[i:i + size], i / size * 0.02)
              if e.kind is SpeechKind.PAUSE]
    assert [p.silence_ms for p in pauses] == [120, 200, 120, 200]
    assert pauses[0].t == pauses[1].t and len(pauses[1].audio) - len(pauses[0].audio) \
        == 80 * RATE // 1000 * 2


def test_no_pause_events_unless_asked() -> None:
    _, events = pause_run(np.concatenate([quiet(1.0), voice(1.0), quiet(1.5)]), pause_ms=0)
    assert [e.kind for _, e in events] == [SpeechKind.START, SpeechKind.END]


def test_end_at_pause_ends_the_turn_only_while_the_caller_stays_silent() -> None:
    endpointer, events = pause_run(np.concatenate([quiet(1.0), voice(1.0), quiet(0.3)]))
    pause = next(e for _, e in events if e.kind is SpeechKind.PAUSE)
    end = endpointer.end_at_pause(pause)
    assert end is not None and end.kind is SpeechKind.END and end.t == pause.t
    assert len(end.audio) >= RATE * 2 and not endpointer.in_speech
    assert endpointer.end_at_pause(pause) is None  # already ended

    endpointer, events = pause_run(np.concatenate([quiet(1.0), voice(1.0), quiet(0.3),
                                                   voice(0.5)]))
    pause = next(e for _, e in events if e.kind is SpeechKind.PAUSE)
    assert endpointer.end_at_pause(pause) is None and endpointer.in_speech  # spoke again
