"""TTS and ASR engines with the real models: 8 kHz output, round trips, the phantom guard."""

from __future__ import annotations

import numpy as np

from ivr.asr.guard import PhantomGuard
from ivr.audio.frames import PHONE_RATE, silence
from ivr.audio.g711 import phone_line
from ivr.tts.sentences import SentenceBuffer, split_sentences
from ivr.tts.voices import build_voice, load_voices

from conftest import words


def test_sentences_split_for_streaming():
    # A sentence shorter than 12 characters ("Yes.") is spoken together with the next one.
    assert split_sentences("Yes. It costs 3.5 dollars a day! Anything else? 好的。谢谢") == [
        "Yes. It costs 3.5 dollars a day!", "Anything else?", "好的。", "谢谢"]
    # Abbreviations do not end a sentence.
    assert split_sentences("Open from 8 a.m. to 8 p.m. on weekdays. Call us, e.g. tomorrow.") == [
        "Open from 8 a.m. to 8 p.m. on weekdays.", "Call us, e.g. tomorrow."]
    buffer = SentenceBuffer()
    assert buffer.push("You can pay online") == []
    assert buffer.push(" or by debit. Also in the") == ["You can pay online or by debit."]
    assert buffer.flush() == ["Also in the"]


def test_piper_speaks_at_8khz_and_whisper_hears_it_over_g711(engines):
    speech = engines.voice("en").speak("Your order will arrive on Monday morning.")
    assert 1.0 < speech.audio_s < 4.0 and len(speech.pcm) % 2 == 0
    heard = engines.asr.transcribe(phone_line(speech.pcm, "pcma"), PHONE_RATE, ("en",))
    assert heard.rejected is None
    assert {"your", "order", "arrive", "monday", "morning"} <= words(heard.text), heard.text


def test_espeak_speaks_mandarin_where_no_piper_voice_exists():
    voice = build_voice(load_voices()["zh"])
    speech = voice.speak("您好，请问有什么可以帮您？")
    assert speech.audio_s > 1.0
    samples = np.frombuffer(speech.pcm, "<i2")
    assert np.abs(samples).max() > 1000


def test_guard_rejects_silence_and_noise_without_inventing_text(engines):
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.05 * 32768, PHONE_RATE * 3).astype("<i2").tobytes()
    for audio in (silence(3000), phone_line(noise)):
        transcript = engines.asr.transcribe(audio, PHONE_RATE, ("en",))
        assert transcript.rejected is not None and transcript.text == ""


def test_guard_rejects_phantom_phrases_only_when_the_model_doubts_speech():
    guard = PhantomGuard()
    assert guard.reject_reason("Thank you.", no_speech_prob=0.4, avg_logprob=-0.3) == "phantom_phrase"
    assert guard.reject_reason("Thank you.", no_speech_prob=0.02, avg_logprob=-0.2) is None
    assert guard.reject_reason("I lost my phone", no_speech_prob=0.7, avg_logprob=-1.5) == "no_speech"
    assert guard.reject_reason("I lost my phone", no_speech_prob=0.1, avg_logprob=-0.4) is None
    loop = "King 3 漢王 王 王 王 王 王 王 王 王 王 王 王 王 王 王 王"
    assert guard.reject_reason(loop, no_speech_prob=0.1, avg_logprob=-0.4) == "repetitive"
    sentence = "My phone was stolen yesterday and I need to block the SIM card."
    assert guard.reject_reason(sentence, no_speech_prob=0.1, avg_logprob=-0.4) is None
