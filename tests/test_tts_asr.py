"""TTS and ASR engines with the real models: 8 kHz output, round trips, the phantom guard."""

from __future__ import annotations

import numpy as np
import pytest

from ivr.asr.guard import PhantomGuard
from ivr.audio.frames import PHONE_RATE, silence
from ivr.audio.g711 import phone_line
from ivr.tts.sentences import SentenceBuffer, split_sentences
from ivr.errors import IvrError
from ivr.qa.voice_bench import UNCLEAR, hear_back, summarise
from ivr.tts.voices import VoiceSpec, build_voice, load_voices

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


MANDARIN = ["您好，这里是健康诊所，请问有什么可以帮您？", "我想预约下周二上午的牙科门诊。",
            "我的孩子发烧三天了，需要挂号吗？"]


@pytest.fixture(scope="module")
def whisper_base():
    from ivr.asr.whisper import WhisperASR
    from ivr.session.engines import asr_model_dir

    return WhisperASR(asr_model_dir("whisper-base"))


def character_error_rate(reference: str, heard: str) -> float:
    from rapidfuzz.distance import Levenshtein

    def hanzi(text: str) -> str:
        return "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")

    return Levenshtein.distance(hanzi(reference), hanzi(heard)) / len(hanzi(reference))


def test_kokoro_speaks_mandarin_that_whisper_hears_in_simplified_characters(whisper_base):
    voice = build_voice(load_voices()["zh"], "zh")
    assert voice.name == "kokoro"
    errors, chars, heard_all = 0.0, 0, []
    for sentence in MANDARIN:
        speech = voice.speak(sentence)
        assert 1.5 < speech.audio_s < 6.0
        heard = whisper_base.transcribe(phone_line(speech.pcm), PHONE_RATE, ("zh",)).text
        heard_all.append(heard)
        n = sum("\u4e00" <= ch <= "\u9fff" for ch in sentence)
        errors, chars = errors + character_error_rate(sentence, heard) * n, chars + n
    assert errors / chars < 0.2, heard_all
    assert not any(t in "".join(heard_all) for t in "這裡請問診預約發燒掛號嗎")  # simplified


def test_english_inside_mandarin_is_spoken_as_english(whisper_base):
    # the clinic's Chinese greeting ends "For English, just speak English.": misaki passed the
    # letters on as phonemes and the line was heard as 用手指的方法 ("Only use spackness." as
    # English) until 2026-12-04. Heard back as `ivr bench voice` hears a plan's sentences.
    voice = build_voice(load_voices()["zh"], "zh")
    greeting, english = "您好，这里是康宁社区诊所。", "For English, just speak English."
    heard = hear_back(voice, whisper_base, [greeting, english], "clinic", ("zh", "en"),
                      progress=False)
    assert [h.sentence for h in heard] == [greeting, english]
    assert heard[1].edits / heard[1].chars <= UNCLEAR, heard[1].heard   # heard as English
    assert heard[0].edits / heard[0].chars <= 0.35, heard[0].heard      # 诊所 is often 整所
    figures = summarise(heard)["parts"]["clinic"]
    assert figures["sentences"] == 2 and figures["tts_rtf_p50"] > 0
    assert voice.mandarin_phonemes(greeting + english).startswith(
        voice.mandarin_phonemes(greeting))   # the Chinese as misaki alone says it
    assert "English" not in voice.mandarin_phonemes(greeting + english)


def test_bench_voice_names_the_languages_a_plan_speaks(capsys):
    from ivr.cli.main import main

    assert main(["bench", "voice", "--lang", "fr"]) == 2
    assert "clinic-appointments.yaml does not speak 'fr' (it speaks zh, en)" in \
        capsys.readouterr().err
    assert main(["bench", "voice", "--heldout", "no-such-file.yaml"]) == 2
    assert "no held-out sentence file no-such-file.yaml" in capsys.readouterr().err


def test_kokoro_english_voice_and_espeak_as_the_last_resort(engines):
    kokoro = build_voice(VoiceSpec(engine="kokoro", voice="af_heart"), "en")
    speech = kokoro.speak("Your order will arrive on Monday morning.")
    heard = engines.asr.transcribe(phone_line(speech.pcm), PHONE_RATE, ("en",))
    assert len({"order", "arrive", "monday", "morning"} & words(heard.text)) >= 3, heard.text
    with pytest.raises(IvrError, match="zm_yunjian"):
        build_voice(VoiceSpec(engine="kokoro", voice="zz_nobody"), "zh")
    espeak = build_voice(VoiceSpec(engine="espeak-ng", voice="cmn"), "zh")
    samples = np.frombuffer(espeak.speak("您好，请问有什么可以帮您？").pcm, "<i2")
    assert samples.size > PHONE_RATE and np.abs(samples).max() > 1000


def test_a_voice_remembers_the_sentences_it_spoke(engines):
    voice = build_voice(load_voices()["en"], "en")
    first = voice.speak("Thank you for calling, how can I help?")
    again = voice.speak("Thank you for calling, how can I help?")
    assert again.pcm == first.pcm and again.compute_s == 0.0 < first.compute_s
    other = voice.speak("Thank you for calling, goodbye.")
    assert other.compute_s > 0.0 and other.pcm != first.pcm


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
