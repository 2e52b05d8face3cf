"""What makes replay fast must not change what it finds: the stand-in voice (each sentence as
long as the recording played it, no synthesis) gives the same turns, at the same times, as
synthesising; the transcript cache gives the model's own results, recognises each utterance
once, and is keyed by the model. Speed itself is measured by `python -m ivr.qa.replay_bench`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ivr.asr.whisper import WhisperASR
from ivr.audio.frames import rms_dbfs
from ivr.qa.replay import ReplayResult, replay_call, replay_engines
from ivr.qa.replay_asr import CachedASR, TranscriptCache, asr_identity, cached_turn_judge
from ivr.qa.replay_runner import ReplaySettings, Replayer, replay_batch
from ivr.qa.replay_sources import calls_at, plan_path
from ivr.qa.replay_voice import STAND_IN_DBFS, ReplayVoice, recorded_durations
from ivr.dialplan.loader import load_dialplan

from conftest import ROOT

CALLS = ROOT / "tests" / "data" / "calls"
FOUR = ("faq-roaming", "ask-for-person", "emergency", "menu-by-keys")


def four_calls():
    return [c for c in calls_at(CALLS) if c.call_id in FOUR]


def test_the_stand_in_voice_plays_each_sentence_as_long_as_the_recording_did(engines):
    call = next(c for c in four_calls() if c.call_id == "faq-roaming")
    durations = recorded_durations(call.record.events)
    voice = replay_engines(call, engines).voice("en")
    assert isinstance(voice, ReplayVoice)
    for text, seconds in durations.items():
        speech = voice.speak(text)
        assert abs(speech.audio_s - seconds) <= 0.02, (text, speech.audio_s, seconds)
        assert speech.compute_s == 0.0
    unknown = voice.speak("A sentence the recording never had, of some length.")
    assert 1.5 < unknown.audio_s < 5.0  # at the recording's own speaking rate
    assert abs(rms_dbfs(unknown.pcm[:320]) - STAND_IN_DBFS) < 0.1
    assert engines.voice("en") is not voice  # the shared engines keep their real voice


def test_stand_in_and_synthesised_speech_give_the_same_turns_at_the_same_times(engines):
    for call in four_calls():
        loaded = load_dialplan(plan_path(call))
        fast = replay_call(call, loaded, engines)
        slow = replay_call(call, loaded, engines, synthesise=True)
        assert [dataclasses.astuple(t)[:5] for t in fast.replayed.turns] == \
            [dataclasses.astuple(t)[:5] for t in slow.replayed.turns], call.call_id
        assert fast.replayed.outcome == slow.replayed.outcome
        barge = [e.t for e in fast.events if e.kind == "barge_in"]
        assert barge == [e.t for e in slow.events if e.kind == "barge_in"], call.call_id


def test_the_transcript_cache_recognises_each_utterance_once(engines, tmp_path: Path):
    settings = ReplaySettings(asr_cache=tmp_path / "asr.db")
    first = Replayer(settings, engines)
    before = replay_batch(four_calls(), settings, replayer=first)
    hits, misses = first.asr_counts
    assert misses >= 4 and hits == 0
    again = Replayer(settings, engines)  # another process, the same cache file
    after = replay_batch(four_calls(), settings, replayer=again)
    assert again.asr_counts == (misses, 0)
    for old, new in zip(before, after):
        assert isinstance(old, ReplayResult) and isinstance(new, ReplayResult)
        assert old.replayed == new.replayed and not new.decision_changed


def test_cached_results_are_the_models_own_and_keyed_by_the_model(engines, voice_en,
                                                                  tmp_path: Path):
    pcm = b"".join(s.pcm for s in voice_en.speak_all("How much does roaming cost?"))
    cache = TranscriptCache(tmp_path / "asr.db")
    tiny = CachedASR(engines.asr, asr_identity("whisper-tiny.en", "cpu"), cache)
    direct = engines.asr.transcribe(pcm, 8000, ("en",))
    first, second = (tiny.transcribe(pcm, 8000, ("en",)) for _ in range(2))
    assert (tiny.misses, tiny.hits) == (1, 1)
    assert first.text == second.text == direct.text and "roaming" in direct.text.lower()
    other = CachedASR(engines.asr, asr_identity("whisper-base", "cpu"), cache)
    other.transcribe(pcm, 8000, ("en",))
    assert other.misses == 1  # another model never reads tiny's results
    quiet = tiny.transcribe(bytes(16000), 8000, ("en",))
    assert quiet.rejected == "silence" and tiny.misses == 1  # the guard runs first, as always
    noisy = (np.random.default_rng(1).normal(0, 3000, 8000)).astype("<i2").tobytes()
    assert tiny.transcribe(noisy, 8000, ("en",)).text == \
        tiny.transcribe(noisy, 8000, ("en",)).text
    assert isinstance(engines.asr, WhisperASR)


def test_a_cache_file_that_cannot_be_written_only_slows_replay(engines, tmp_path: Path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    cache = TranscriptCache(blocked / "asr.db")
    asr = CachedASR(engines.asr, "tiny", cache)
    pcm = bytes(np.full(8000, 4000, "<i2").tobytes())
    assert asr.transcribe(pcm, 8000, ("en",)).audio_s == 1.0 and asr.misses == 1


def test_the_end_of_turn_models_results_are_cached_too(voice_en, tmp_path: Path):
    from ivr.audio.turn import TurnJudge, TurnPolicy, shared_turn_model

    model = shared_turn_model()
    assert model is not None, "the bundled end-of-turn model did not load"
    cache = TranscriptCache(tmp_path / "asr.db")
    judge = cached_turn_judge(TurnJudge(model), cache)
    pcm = b"".join(s.pcm for s in voice_en.speak_all("I would like to pay my bill."))
    judged = TurnPolicy()   # the model on, as a plan turns it on
    direct = TurnJudge(model).judge(pcm, 8000, judged)
    first, second = (judge.judge(pcm, 8000, judged) for _ in range(2))
    assert first.probability == second.probability == direct.probability
    assert first.complete == direct.complete
    key = cache.key(judge.model.identity, pcm, 8000, ("turn",))  # type: ignore[union-attr]
    assert cache.get(key) == {"p": direct.probability}
    assert cached_turn_judge(TurnJudge(None), cache).model is None
