"""Whisper's encoder on a short window (`DecodeOptions.window_s`): what is trimmed, and the
full-window decode that catches a loop."""

from __future__ import annotations

import numpy as np
import pytest

from ivr.asr.guard import repetitive
from ivr.asr.whisper import WHISPER_RATE, DecodeOptions, WhisperASR
from ivr.audio.resample import resample
from ivr.session.engines import asr_model_dir

LOOPING_TURN = "chest pane real bad going down my left arm"


@pytest.fixture(scope="module")
def turn_pcm() -> bytes:
    from ivr.qa.escalation_eval import caller_voice
    from ivr.qa.synth import synth_caller

    return synth_caller(caller_voice("en"), [(0.2, LOOPING_TURN)])


def asr(window_s: float) -> WhisperASR:
    return WhisperASR(asr_model_dir("whisper-tiny.en"), options=DecodeOptions(window_s=window_s))


def test_the_window_keeps_the_turn_and_drops_only_padding():
    model = asr(10.0).model
    features = np.zeros((80, 3000), np.float32)
    features[:, :420] = -0.5                                   # 4.2 s of log-mel frames
    assert model._windowed(features).shape == (80, 1000)       # padded to the 10 s window
    features[:, :1460] = -0.5                                  # a 14.6 s turn: and 1 s after it
    assert model._windowed(features).shape == (80, 1600)
    with model.full_window():
        assert model._windowed(features).shape == (80, 3000)
    assert asr(30.0).model._windowed(features).shape == (80, 3000)


def test_a_decode_that_loops_on_a_short_window_is_decoded_again_on_the_full_one(turn_pcm):
    engine = asr(8.0)     # whisper tiny.en repeats this piper turn on an 8 s window
    audio = np.frombuffer(resample(turn_pcm, 8000, WHISPER_RATE), "<i2").astype(np.float32) / 32768
    looped = engine._decode(audio, "en", 1, False).text
    assert repetitive(looped), looped
    heard = engine.transcribe(turn_pcm, 8000, ("en",)).text
    assert not repetitive(heard)
    assert heard == asr(30.0).transcribe(turn_pcm, 8000, ("en",)).text


def test_the_shipped_window_hears_the_turn_as_the_full_window_does(turn_pcm):
    assert DecodeOptions().window_s < 30
    heard = asr(DecodeOptions().window_s).transcribe(turn_pcm, 8000, ("en",)).text
    assert "chest pain" in heard.lower() and not repetitive(heard)
