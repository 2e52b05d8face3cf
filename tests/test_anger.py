"""Tests for ivr.safety.anger: voice against typical speech and the caller's own baseline, repeats,
hysteresis. (Which words carry anger is the guard's job: tests/test_guard.py.)"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

from ivr.audio.g711 import phone_line
from ivr.audio.resample import resample
from ivr.safety.anger import (AngerConfig, AngerTracker, estimate_f0, repeat_similarity,
                              voice_features)

RATE = 8000
CALM = ["I would like to know how much roaming costs in Spain.",
        "My bill this month seems higher than usual.",
        "Can you tell me about the data plans you have?",
        "I want to check whether my phone is blocked.",
        "Do you have a cheaper plan for my daughter?"]


# --- signals ------------------------------------------------------------------------------------

def harmonic(f0: float, seconds: float, amp: float = 0.2, seed: int = 0) -> np.ndarray:
    """A voiced, speech-like signal: harmonics of a slowly wavering F0, syllable-rate envelope."""
    t = np.arange(int(seconds * RATE)) / RATE
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t + seed))
    phase = 2 * np.pi * np.cumsum(f) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 20) if k * f0 < 3800)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t + seed) ** 2
    x = x * envelope
    return amp * x / np.max(np.abs(x))


def to_pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x * 32768), -32768, 32767).astype("<i2").tobytes()


def utterance(f0: float, amp: float, seconds: float = 2.0, seed: int = 0) -> bytes:
    """Silence, a voiced stretch, silence: what the endpointer hands over."""
    gap = np.zeros(int(0.3 * RATE))
    return to_pcm(np.concatenate([gap, harmonic(f0, seconds, amp, seed), gap]))


def with_noise(pcm: bytes, dbfs: float, seed: int) -> bytes:
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    noise = np.random.default_rng(seed).normal(0, 32768 * 10 ** (dbfs / 20), x.size)
    return phone_line(np.clip(x + noise, -32768, 32767).astype("<i2").tobytes())


def pitch_up(pcm: bytes, factor: float = 1.3) -> bytes:
    """Raise pitch (and tempo) by `factor`: the audio is played back faster."""
    return resample(pcm, int(RATE * factor), RATE)


@pytest.fixture(scope="module")
def speak():
    from ivr.qa.synth import synth_caller
    from ivr.tts.voices import build_voice, load_voices

    voice = build_voice(load_voices()["en"])
    if hasattr(voice, "syn_config"):  # piper: no random prosody, so every run hears the same audio
        from piper.config import SynthesisConfig
        voice.syn_config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)

    @lru_cache(maxsize=None)
    def _speak(text: str, gain: float = 1.0) -> bytes:
        return synth_caller(voice, [(0.3, text)], gain=gain)
    return _speak


# Word scores as the guard gives them (ivr.safety.guard): a hostile phrase 0.6, civil
# frustration 0.3, none 0.
HOSTILE, FRUSTRATED = 0.6, 0.3


def run(tracker: AngerTracker, turns) -> list:
    return [tracker.assess(text, 0.0, {}, audio) for text, audio in turns]


# --- pitch and voice features -------------------------------------------------------------------

@pytest.mark.parametrize("f0", [80.0, 120.0, 200.0, 300.0])
def test_f0_of_synthetic_voiced_signals(f0: float) -> None:
    est = estimate_f0(harmonic(f0, 1.0))
    voiced = est[~np.isnan(est)]
    assert voiced.size > 0.8 * est.size
    assert abs(np.median(voiced) / f0 - 1) < 0.03


def test_f0_survives_background_noise_and_the_phone_line() -> None:
    pcm = with_noise(to_pcm(harmonic(150, 1.0, 0.2)), -30, seed=1)
    est = estimate_f0(np.frombuffer(pcm, "<i2") / 32768.0)
    assert abs(np.nanmedian(est) / 150 - 1) < 0.05


def test_no_f0_in_noise_or_silence() -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, RATE)
    assert np.isnan(estimate_f0(noise)).mean() > 0.95
    assert np.isnan(estimate_f0(np.zeros(RATE))).all()
    assert estimate_f0(np.zeros(100)).size == 0


def test_voice_features_level_pitch_and_rate() -> None:
    quiet = voice_features(utterance(120, 0.05), RATE, "one two three four")
    loud = voice_features(utterance(120, 0.2), RATE, "one two three four")
    assert loud.level_dbfs - quiet.level_dbfs == pytest.approx(20 * math.log10(4), abs=0.5)
    assert quiet.f0_hz == pytest.approx(120, rel=0.03)
    assert quiet.voiced_s == pytest.approx(2.0, abs=0.25)       # the pauses don't count
    assert quiet.rate_wps == pytest.approx(2.0, rel=0.15)
    assert voice_features(utterance(120, 0.05), RATE, "one two", speech_s=4.0).rate_wps == 0.5
    empty = voice_features(b"", RATE, "hello")
    assert empty.level_dbfs is None and empty.f0_hz is None and empty.rate_wps is None


# --- words, repeats and hysteresis ------------------------------------------------------------

def test_one_hostile_turn_escalates_at_once() -> None:
    tracker = AngerTracker()
    result = tracker.assess("You stupid machine.", HOSTILE, {"hostile_words": ["stupid"]})
    assert result.hostile and result.escalate and result.evidence["trigger"] == "hostile_turn"
    assert result.evidence["hostile_words"] == ["stupid"]


def test_civil_frustration_alone_never_escalates() -> None:
    tracker = AngerTracker()
    results = [tracker.assess(t, FRUSTRATED, {}) for t in
               ["This is the third time I call.", "I've been waiting ages.", "Not helpful."]]
    assert not any(r.escalate or r.hostile for r in results)
    assert all(r.score == pytest.approx(FRUSTRATED) for r in results)


def test_the_same_complaint_repeated_turns_frustration_into_anger() -> None:
    complaint = "You charged me twice for roaming, my bill is wrong."
    history = ["My bill is wrong, you charged me twice for roaming.",
               "I said the roaming charge on my bill is wrong, it is twice."]
    assert repeat_similarity(complaint, history[0]) >= 0.6
    assert repeat_similarity(complaint, "How do I pay my bill?") < 0.6
    assert repeat_similarity("我的话费扣错了", "话费又扣错了") >= 0.6
    tracker = AngerTracker()
    first = tracker.assess(history[0], 0.0, {})
    second = tracker.assess(history[1], FRUSTRATED, {})
    third = tracker.assess(complaint, FRUSTRATED, {})
    assert first.score == 0 and second.evidence["repeats"] == 1
    assert third.evidence["repeats"] == 2 and third.score > second.score >= 0.5
    assert not second.escalate and third.escalate and third.evidence["trigger"] == "hostile_turn"


def test_a_hot_turn_between_calm_ones_does_not_escalate() -> None:
    tracker = AngerTracker()
    results = [tracker.assess(t, w, {}) for t, w in
               [("How much is roaming?", 0.0), ("This is ridiculous.", 0.45),
                ("OK, and in France?", 0.0), ("Unacceptable.", 0.45), ("Thanks.", 0.0)]]
    assert not any(r.escalate for r in results)


def test_threshold_release_and_hostile_turn_are_configurable() -> None:
    eager = AngerTracker(AngerConfig(threshold=0.2, release=0.1, hostile_turn=0.9))
    assert eager.assess("This is ridiculous.", 0.45, {}).escalate   # smoothed 0.225 >= 0.2
    assert eager.assess("OK.", 0.0, {}).escalate                      # 0.11: held (hysteresis)
    assert not eager.assess("OK.", 0.0, {}).escalate                  # 0.06 < release
    strict = AngerTracker(AngerConfig(consecutive=3, hostile_turn=0.95))
    assert not strict.assess("Ridiculous.", 0.45, {}).escalate
    assert not strict.assess("Unacceptable.", 0.45, {}).escalate
    assert strict.assess("Outrageous.", 0.45, {}).escalate


def test_reset_forgets_the_call() -> None:
    tracker = AngerTracker()
    tracker.assess("Ridiculous.", 0.45, {})
    tracker.reset()
    assert tracker.smoothed == 0 and tracker.history == []
    assert not tracker.assess("Unacceptable.", 0.45, {}).escalate


# --- voice against the caller's baseline --------------------------------------------------------

def test_voice_only_anger_escalates_over_turns(speak) -> None:
    """Calm words said 12 dB louder and 30 % higher: never on one turn (the voice alone is not
    hostile), but by the third (with deterministic synthesis, on the second)."""
    tracker = AngerTracker()
    turns = [(CALM[0], speak(CALM[0]))] + [(t, pitch_up(speak(t, 4.0))) for t in CALM[1:4]]
    first, *hot = run(tracker, turns)
    assert first.evidence["voice_score"] == 0 and first.evidence["baseline_turns"] == 0
    assert all(h.evidence["word_score"] == 0 for h in hot)
    assert hot[0].evidence["loudness_delta_db"] > 6 and hot[0].evidence["pitch_delta_pct"] > 15
    assert hot[0].score > 0.3 and not hot[0].escalate and not hot[0].hostile
    assert hot[1].escalate or hot[2].escalate
    assert max(h.evidence["voice_score"] for h in hot) > 0.5


def test_voice_only_with_synthetic_signals() -> None:
    tracker = AngerTracker()
    texts = iter(["one two three four five six", "seven eight nine ten eleven twelve",
                  "red green blue yellow black white", "north south east west up down"])
    calm = [tracker.assess(next(texts), 0.0, {}, utterance(110, 0.05, seed=i)) for i in range(2)]
    angry = [tracker.assess(next(texts), 0.0, {}, utterance(150, 0.2, seed=i)) for i in range(2)]
    assert not any(r.escalate for r in calm)
    assert angry[0].evidence["pitch_delta_pct"] == pytest.approx(36, abs=3)
    assert angry[0].evidence["loudness_delta_db"] == pytest.approx(12, abs=0.5)
    assert not angry[0].escalate and angry[1].escalate


def test_loudness_alone_or_pitch_alone_is_not_anger(speak) -> None:
    loud = AngerTracker()
    results = run(loud, [(CALM[0], speak(CALM[0]))] + [(t, speak(t, 4.0)) for t in CALM[1:]])
    assert results[1].evidence["loudness_delta_db"] > 6
    assert not any(r.escalate for r in results)
    assert max(r.score for r in results) < loud.config.hot_turn
    high = AngerTracker()
    results = run(high, [(CALM[0], speak(CALM[0]))] + [(t, pitch_up(speak(t))) for t in CALM[1:]])
    assert results[1].evidence["pitch_delta_pct"] > 15
    assert not any(r.escalate for r in results)


def test_words_and_voice_together_score_higher_than_either(speak) -> None:
    angry = "This is ridiculous, my bill is wrong again."
    shouted = pitch_up(speak(angry, 4.0))
    words_only = AngerTracker()
    words_only.assess(CALM[0], 0.0, {}, speak(CALM[0]))
    w = words_only.assess(angry, FRUSTRATED, {}, speak(angry))
    voice_only = AngerTracker()
    voice_only.assess(CALM[0], 0.0, {}, speak(CALM[0]))
    v = voice_only.assess(CALM[1], 0.0, {}, pitch_up(speak(CALM[1], 4.0)))
    both = AngerTracker()
    both.assess(CALM[0], 0.0, {}, speak(CALM[0]))
    b = both.assess(angry, FRUSTRATED, {}, shouted)
    assert b.score > max(w.score, v.score) + 0.1 and b.evidence["voice_score"] > 0.3
    assert b.hostile and b.escalate          # a shouted complaint is acted on at once
    assert not w.escalate and not v.escalate


def test_voice_counts_on_the_first_turn_against_typical_speech(speak) -> None:
    """Before the caller has a calm turn, a loud high voice makes a complaint hot, not hostile
    (a loud line and a naturally high voice sound the same): the second complaint escalates,
    as the same two complaints in a normal voice do not."""
    text, again = "This is ridiculous, my bill is wrong again.", "I've been waiting all week."
    tracker = AngerTracker()
    shouted = tracker.assess(text, FRUSTRATED, {}, pitch_up(speak(text, 4.0), 2.0))
    second = tracker.assess(again, FRUSTRATED, {}, pitch_up(speak(again, 4.0), 2.0))
    normal = AngerTracker()
    calm_voice = [normal.assess(t, FRUSTRATED, {}, speak(t)) for t in (text, again)]
    assert shouted.evidence["baseline_turns"] == 0 and shouted.evidence["voice_score"] > 0.3
    assert shouted.score >= normal.config.hostile_turn > calm_voice[0].score
    assert not shouted.hostile and not shouted.escalate
    assert second.escalate and second.evidence["trigger"] == "hot_turns"
    assert all(r.evidence["voice_score"] == 0 and not r.escalate for r in calm_voice)
    loud_calm = AngerTracker().assess(CALM[0], 0.0, {}, speak(CALM[0], 4.0))
    assert loud_calm.evidence["loudness_delta_db"] > 6 and loud_calm.score == 0


def test_calm_caller_on_a_uniformly_loud_line_is_not_escalated(speak) -> None:
    tracker = AngerTracker()
    results = run(tracker, [(t, speak(t, 4.0)) for t in CALM])
    assert all(r.evidence["loudness_dbfs"] > -12 for r in results)   # really loud
    assert all(r.evidence["voice_score"] == 0 for r in results)
    assert not any(r.escalate for r in results)


def test_calm_caller_with_steady_background_noise_is_not_escalated(speak) -> None:
    tracker = AngerTracker()
    results = run(tracker, [(t, with_noise(speak(t), -30, i)) for i, t in enumerate(CALM)])
    assert not any(r.escalate for r in results)
    assert max(r.score for r in results) < 0.2


def test_noise_that_starts_mid_call_is_not_anger(speak) -> None:
    tracker = AngerTracker()
    turns = [(CALM[0], speak(CALM[0]))] + [(t, with_noise(speak(t), -28, i))
                                           for i, t in enumerate(CALM[1:])]
    results = run(tracker, turns)
    assert results[1].evidence["loudness_delta_db"] > 2    # the noise does raise the level
    assert not any(r.escalate for r in results)


def test_one_loud_word_does_not_escalate(speak) -> None:
    tracker = AngerTracker()
    turns = [(CALM[0], speak(CALM[0])), ("No!", pitch_up(speak("No!", 4.0))),
             (CALM[1], speak(CALM[1])), (CALM[2], speak(CALM[2]))]
    results = run(tracker, turns)
    assert results[1].evidence["voiced_s"] < 0.8   # short: its voice score is scaled down
    assert not any(r.escalate for r in results)


def test_one_shouted_sentence_does_not_escalate(speak) -> None:
    tracker = AngerTracker()
    turns = [(CALM[0], speak(CALM[0])), (CALM[1], pitch_up(speak(CALM[1], 4.0))),
             (CALM[2], speak(CALM[2])), (CALM[3], speak(CALM[3]))]
    results = run(tracker, turns)
    assert results[1].score >= 0.3
    assert not any(r.escalate for r in results)


def test_a_caller_loud_and_high_from_the_first_word_is_not_angry_by_voice_alone(speak) -> None:
    """Calm words, every turn 12 dB louder and far higher than typical telephone speech (a
    naturally high voice on a hot line): hot against typical speech, but with no calm turn of
    this caller to compare with, the voice alone never escalates."""
    tracker = AngerTracker()
    results = run(tracker, [(t, pitch_up(speak(t, 4.0), 2.0)) for t in CALM[:3]])
    assert results[0].evidence["baseline_turns"] == 0
    assert results[0].score >= tracker.config.hot_turn and results[1].score >= tracker.config.hot_turn
    assert not any(r.escalate for r in results)
    words = AngerTracker()   # the same voice with anger words is acted on
    assert words.assess("This is a scam, you stole my money.", 0.6, {},
                        pitch_up(speak(CALM[0], 4.0), 2.0)).escalate
