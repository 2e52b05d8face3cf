"""Pre-spoken prompts and answers: the TTS disk store, its keys, damage and full disks, the
size cap, the plan warm-up, and a call whose first answer comes from disk."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from ivr.dialplan.loader import LoadedPlan
from ivr.events import EventLog, ManualClock
from ivr.qa.synth import synth_caller
from ivr.session.engines import Engines, build_engines
from ivr.session.offline import run_offline
from ivr.session.session import CallSession
from ivr.tts.base import TTSEngine
from ivr.tts.sentences import split_sentences
from ivr.tts.store import DiskStore, voice_key
from ivr.tts.warm import plan_sentences, warm_plan

SENTENCE = "Roaming in the European Union is included in every plan."


class CountingVoice(TTSEngine):
    """A deterministic 16 kHz voice (so the base class resamples) that counts its syntheses."""

    name = "counting"

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self.synthesised: list[str] = []

    def identity(self) -> dict[str, object]:
        return {"engine": self.name, "speed": self.speed}

    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        self.synthesised.append(text)
        seed = int.from_bytes(hashlib.sha256(f"{self.speed}{text}".encode()).digest()[:4], "little")
        samples = np.random.default_rng(seed).integers(-8000, 8000, 1600 + 40 * len(text))
        return samples.astype("<i2").tobytes(), 16000


@pytest.fixture()
def store(tmp_path: Path) -> DiskStore:
    return DiskStore(tmp_path / "tts")


def stored_voice(store: DiskStore, **kwargs: float) -> CountingVoice:
    voice = CountingVoice(**kwargs)
    voice.attach_store(store)
    return voice


def test_a_sentence_is_synthesised_once_then_read_back_from_disk_unchanged(store):
    first = stored_voice(store).speak(SENTENCE)
    assert first.source == "synthesis"
    again = stored_voice(store)  # another process: empty memory, same store
    heard = again.speak(SENTENCE)
    assert heard.source == "disk" and heard.pcm == first.pcm and again.synthesised == []
    assert again.speak(SENTENCE).source == "memory"
    files = list(store.root.glob("counting-*/*.pcm"))
    assert len(files) == 1 and files[0].name == hashlib.sha256(SENTENCE.encode()).hexdigest() + ".pcm"


def test_disk_audio_is_sample_exact_with_a_fresh_synthesis_of_the_real_voice(store, voice_en):
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS

    writer = PiperTTS(*piper_joe(), deterministic=True)
    writer.attach_store(store)
    writer.speak(SENTENCE)
    writer.forget()
    from_disk = writer.speak(SENTENCE)
    voice_en.forget()
    fresh = voice_en.speak(SENTENCE)  # the same voice, no store: synthesised now
    assert from_disk.source == "disk" and fresh.source == "synthesis"
    assert from_disk.pcm == fresh.pcm


def test_the_key_changes_with_voice_and_speed(store, voice_en):
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS

    assert voice_key(CountingVoice().identity()) == voice_key(CountingVoice().identity())
    assert voice_key(CountingVoice().identity()) != voice_key(CountingVoice(1.2).identity())
    slower = PiperTTS(*piper_joe(), length_scale=1.3, deterministic=True)
    varied = PiperTTS(*piper_joe())  # random prosody: a different sound
    keys = {voice_key(v.identity()) for v in (voice_en, slower, varied)}
    assert len(keys) == 3
    stored_voice(store).speak(SENTENCE)
    faster = stored_voice(store, speed=1.2)
    assert faster.speak(SENTENCE).source == "synthesis" and faster.synthesised == [SENTENCE]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "empty"])
def test_a_damaged_file_is_ignored_and_written_again(store, damage, caplog):
    good = stored_voice(store).speak(SENTENCE).pcm
    path = store.path(voice_key(CountingVoice().identity()), SENTENCE)
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not audio at all" * 10, "truncated": data[:len(data) // 2],
                      "flipped": data[:-1] + bytes([data[-1] ^ 1]), "empty": b""}[damage])
    voice = stored_voice(store)
    with caplog.at_level(logging.WARNING, "ivr.tts.store"):
        speech = voice.speak(SENTENCE)
    assert speech.source == "synthesis" and speech.pcm == good and voice.synthesised == [SENTENCE]
    assert "damaged" in caplog.text
    assert store.get(voice_key(CountingVoice().identity()), SENTENCE) == (good, 8000)


def test_an_unreadable_file_falls_back_to_synthesis(store, monkeypatch, caplog):
    stored_voice(store).speak(SENTENCE)

    def refuse(self: Path) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    voice = stored_voice(store)
    with caplog.at_level(logging.WARNING, "ivr.tts.store"):
        assert voice.speak(SENTENCE).source == "synthesis"
    assert "cannot read" in caplog.text


class FullDisk:
    """A file whose writes fail as on a full disk."""

    def __init__(self, file) -> None:
        self.file = file

    def __enter__(self) -> "FullDisk":
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_still_speaks(store, monkeypatch, caplog):
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *args, **kwargs: FullDisk(
        real_fdopen(fd, *args, **kwargs)))
    voice = stored_voice(store)
    with caplog.at_level(logging.WARNING, "ivr.tts.store"):
        speech = voice.speak(SENTENCE)
    assert speech.source == "synthesis" and len(speech.pcm) > 1000
    assert "No space left" in caplog.text
    assert not [p for p in store.root.rglob("*") if p.is_file()]  # no temporary file left
    assert voice.speak(SENTENCE).source == "memory"  # the call goes on from memory


def test_least_recently_used_audio_goes_first_when_over_the_cap(tmp_path):
    store = DiskStore(tmp_path / "tts", max_bytes=10_000)
    key = "counting-test"
    pcm = bytes(2000)
    for i in range(4):
        assert store.put(key, f"sentence {i}", pcm, 8000)
        past = 1_000_000 + i
        os.utime(store.path(key, f"sentence {i}"), (past, past))
    assert store.get(key, "sentence 0") is not None  # used now: the newest
    for i in range(4, 6):
        store.put(key, f"sentence {i}", pcm, 8000)
    kept = {i for i in range(6) if store.path(key, f"sentence {i}").exists()}
    assert 0 in kept and 1 not in kept and {4, 5} <= kept
    assert store.size() <= 10_000 * 0.9


def test_plan_sentences_are_the_fixed_texts_of_every_language(demo_plan):
    plan = demo_plan.plan
    sentences = plan_sentences(plan)
    assert list(sentences) == plan.languages
    english = sentences["en"]
    assert len(english) == len(set(english))
    fixed = [plan.prompts.goodbye, plan.prompts.not_understood, plan.prompts.transfer,
             *(entry.answer for entry in plan.knowledge)]
    for text in fixed:  # built-in prompts (given in more languages than the plan's) too
        assert set(split_sentences(plan.text(text, "en"))) <= set(english), text
    assert not [s for s in english if "{" in s]  # menu options are filled in per call
    assert "You can say" not in " ".join(english)


@pytest.fixture(scope="module")
def offline_engines() -> Engines:
    """Whisper and e5 without an LLM (answers are spoken as approved), a deterministic voice."""
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS

    built = build_engines("whisper-tiny.en", ["en"])
    built.voices["en"] = PiperTTS(*piper_joe(), deterministic=True)
    return built


def test_a_warmed_plan_answers_its_first_question_from_disk(offline_engines, demo_plan: LoadedPlan,
                                                            voice_en, tmp_path):
    voice = offline_engines.voices["en"]
    voice.attach_store(DiskStore(tmp_path / "tts"))
    try:
        report = warm_plan(demo_plan.plan, lambda lang, s: voice.speak(s).source, progress=False)
        assert report.sources == {"synthesis": report.sentences} and report.failed == 0
        voice.forget()  # as after a restart: memory empty, the store warm
        offline_engines.prompt_audio.clear()
        clock = ManualClock()
        events = EventLog(clock)
        session = CallSession("disk", demo_plan, offline_engines, events)
        caller = synth_caller(voice_en, [(4.0, "How much does roaming cost?")])
        asyncio.run(run_offline(session, clock, caller))
        turn = next(i for i, e in enumerate(events.events)
                    if e.kind == "dialog.decision" and e.data["reason"] != "start")
        assert events.events[turn].data["actions"] == ["answer"], events.events[turn].data
        greeting = [e.data for e in events.events[:turn] if e.kind == "tts.first_audio"]
        answer = next(e.data for e in events.events[turn:] if e.kind == "tts.first_audio")
        assert greeting and all(g["source"] == "disk" for g in greeting), greeting
        assert answer["source"] == "disk", answer
        assert answer["compute_s"] < 0.02  # within one 20 ms tick of the decision
    finally:
        voice.attach_store(None)
        voice.forget()


def test_a_read_only_view_reads_what_the_owner_wrote_and_writes_nothing(store):
    stored_voice(store).speak(SENTENCE)
    key = voice_key(CountingVoice().identity())
    reader = CountingVoice(speed=9.0)  # another identity: only the given key finds the audio
    reader.attach_store(DiskStore(store.root, read_only=True), key)
    assert reader.stored_in is not None and reader.stored_in[1] == key
    assert reader.speak(SENTENCE).source == "disk"
    assert reader.speak("Something new.").source == "synthesis"
    assert not store.path(key, "Something new.").exists()
