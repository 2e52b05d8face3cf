"""Scripted Mandarin clinic conversations end to end, by audio: each caller turn of
tests/data/zh_callers.yaml is a Kokoro (or espeak-ng) voice through an 8 kHz G.711 line, played
into the clinic plan through the same CallSession as a SIP call (offline driver, simulated
time), heard by multilingual whisper base, answered in Kokoro's zm_yunjian. Each test asserts
what the bot heard, the slots and nodes it reached, its transfer decision, and what it said, by
transcribing its own audio back."""

from __future__ import annotations

import pytest

from ivr.audio.frames import FRAME_BYTES, FRAME_MS, PHONE_RATE
from ivr.dialplan.loader import load_dialplan
from ivr.events import EventLog
from ivr.qa.cer import char_errors
from ivr.qa.zh_callers import CallerVoices, load_callers
from ivr.session.engines import build_engines
from ivr.session.offline import OfflineResult, ScriptTurn, run_script, simulate
from ivr.tts.store import DiskStore
from ivr.tts.voices import VoiceSpec
from ivr.tts.warm import warm_plan

from conftest import ROOT

pytestmark = pytest.mark.slow

CALLERS = load_callers(ROOT / "tests" / "data" / "zh_callers.yaml")
# One voice and condition per conversation, so that the set's voices and shouting reach the
# dialog; `ivr bench asr-zh` measures every turn in every voice. Every dev conversation and one
# holdout one; the known failures are strict xfails (they fail the run when they start
# passing) naming what went wrong when measured on 2026-11-30 or later.


def known_failure(reason: str) -> pytest.MarkDecorator:
    """A conversation that fails today for `reason` (and must fail until fixed)."""
    return pytest.mark.xfail(strict=True, reason=reason)


CASES = [
    # the phone number was heard with a digit too many (138123455678) until 2026-12-04: it is
    # now read again carefully (beam 5), see the test below
    pytest.param("dev", "book", "zm_yunxia", "normal"),
    pytest.param("dev", "reschedule", "zf_xiaobei", "normal", marks=known_failure(
        "routed right since 改一下 moves an appointment; the phone number is then heard with a "
        "digit missing (1390012233) on both readings, so the bot reads it back (10 digits) and "
        "the scripted caller answers with the date, not yes or no")),
    pytest.param("dev", "cancel", "zf_xiaoyi", "shouted", marks=known_failure(
        "the shouted first turn is heard as 我要起乡议院 and taken for a booking, and the shouted "
        "phone number loses a digit (1987654321). Until 2026-12-05 the loud high voice also made "
        "that misheard first turn (angry 0.40 by the net) a hostile one, a transfer")),
    # heard the opening hours twice (the menu's FAQ answer, then the choice's own node) until
    # 2026-12-04, and so failed on the bot's words heard back
    pytest.param("dev", "hours", "zm_yunxi", "normal"),
    # the bot's transfer announcement was heard back with CER 0.42 (诊所 -> 阵俗), and in the
    # angry call its apology with 0.16 (抱歉 -> 报线), until its voice spoke at 0.9 of Kokoro's
    # rate (2026-12-05, `ivr bench voice`)
    pytest.param("dev", "person", "zf_xiaoyi", "normal"),
    pytest.param("dev", "emergency", "zm_yunjian", "shouted"),
    pytest.param("dev", "angry", "zm_yunxia", "shouted"),
    # the first turn came back as whisper's own prompt, and the bot's 62-character booking
    # confirmation was cut at whisper's 96-token limit, until 2026-12-04. Not strict: it passed
    # in two clean-clone runs on 2026-12-04's first machine, and fails on the AVX-512 machine of
    # the next session with either guard head: the first turn is heard there as 您和我要挂手,
    # which the net scores angry (0.46 against 0.425; 0.60 with the head before), a hostile turn
    pytest.param("holdout", "book", "zf_xiaoyi", "normal", marks=pytest.mark.xfail(
        strict=False, reason="whisper base's decoding of the first turn seems to differ by CPU; "
        "on AVX-512 it is heard as 您和我要挂手 and the net takes it for a hostile turn")),
]
HEARD = ("asr.final", "asr.partial")  # an emergency is acted on from an interim result
# the bot's last words, transcribed back through the line: #10's goal of 15 % is over the set
# (the benchmark's figure); one reply read back may do worse on another CPU (dev-book's 62
# characters: 10 errors on this AMD AVX2 machine), and a voice whisper cannot follow (espeak-ng)
# is far above either
BOT_CER_MAX = 0.2


@pytest.fixture(scope="module")
def clinic():
    return load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml")


@pytest.fixture(scope="module")
def zh_engines(clinic):
    """The clinic's engines, its prompts pre-spoken on disk as `ivr serve` keeps them (warmed
    here as `ivr serve` warms them: a long prompt synthesised mid-call on two busy cores would
    hit the session's TTS deadline)."""
    built = build_engines(clinic.plan.asr_model, list(clinic.plan.languages), None)
    for voice in built.voices.values():
        voice.attach_store(DiskStore())
    warm_plan(clinic.plan, lambda lang, sentence: built.voice(lang).speak(sentence).source)
    return built


def conversation(split: str, name: str):
    return next(c for c in CALLERS.split(split) if c.id == name)


def run_conversation(engines, clinic, split: str, name: str, voice: str,
                     condition: str) -> tuple[OfflineResult, EventLog, object]:
    conv = conversation(split, name)
    audio = CallerVoices().conversation_audio(VoiceSpec(engine="kokoro", voice=voice), condition,
                                             conv.turns)
    turns = [ScriptTurn(audio=pcm) for pcm in audio]
    sessions = []

    def drive(session, clock):
        sessions.append(session)
        return run_script(session, clock, turns, gap_s=0.8)

    result, events = simulate(f"zh-{split}-{name}", clinic, engines, drive, now=CALLERS.today)
    return result, events, sessions[0]


def last_words(result: OfflineResult, events: EventLog) -> tuple[str, bytes]:
    """The bot's sentences after the caller's last turn, and their audio as the caller heard it."""
    last_heard = max(e.t for e in events.events if e.kind in HEARD)
    said = [e for e in events.of_kind("bot.say") if e.t >= last_heard]
    assert said, "the bot said nothing after the caller's last turn"
    start = int(said[0].t * 1000 / FRAME_MS) * FRAME_BYTES
    length = sum(e.data["audio_s"] for e in said) + 0.6
    return "".join(e.data["text"] for e in said), result.bot_audio[start:start + int(
        length * PHONE_RATE) * 2]


@pytest.mark.parametrize("split,name,voice,condition", CASES,
                         ids=[f"{s}-{n}-{v}-{c}" for s, n, v, c in (p.values for p in CASES)])
def test_clinic_conversation_by_voice(zh_engines, clinic, split, name, voice, condition):
    conv = conversation(split, name)
    result, events, session = run_conversation(zh_engines, clinic, split, name, voice, condition)
    heard = [e.data["text"] for e in events.events if e.kind in HEARD]  # interim ones too
    nodes = [e.data["node"] for e in events.of_kind("dialog.node")]
    context = {"heard": heard, "nodes": nodes,
               "decisions": [e.data for e in events.of_kind("dialog.decision")]}
    assert heard, context
    assert all(e.data["language"] == "zh" for e in events.of_kind("asr.final")), context
    for slot, value in conv.expect.slots.items():
        assert session.dialog.state.slots.get(slot) == value, (slot, context)
    for node in conv.expect.nodes:
        assert node in nodes, (node, context)
    if conv.expect.transfer is None:
        assert result.transfer is None, (result.transfer, context)
    else:
        request, = events.of_kind("transfer.request")
        assert {k: request.data[k] for k in conv.expect.transfer} == conv.expect.transfer, context
    text, audio = last_words(result, events)
    said_back = zh_engines.asr.transcribe(audio, PHONE_RATE, ("zh",)).text
    errors = char_errors(text, said_back)
    assert errors.rate <= BOT_CER_MAX, (text, said_back, errors)


def test_a_phone_number_heard_with_a_digit_too_many_is_read_again_carefully(zh_engines, clinic):
    """The clinic's mobile numbers usually have 11 digits (`usual_length`): whisper base's greedy
    reading of this one is not taken as it is (with AVX-512 kernels it has 12 digits; on this
    AMD AVX2 machine a trailing 吧), so the turn is read again with the careful decoding, whose
    11 digits are taken. (Which first readings call for a second one:
    `test_a_mobile_number_of_another_length_is_worth_a_careful_second_reading`.)"""
    _, events, session = run_conversation(zh_engines, clinic, "dev", "book", "zm_yunxia", "normal")
    reread, = events.of_kind("asr.reread")
    assert reread.data["taken"] and reread.data["text"] != reread.data["first"], reread.data
    assert session.dialog.state.slots["phone"] == "13812345678"


def test_a_digit_written_as_a_word_with_its_sound_is_read_as_the_digit(zh_engines, clinic):
    """Shouted by zm_yunxia, 一五九八七六五四三二一 is first heard at another length, and its
    careful second reading writes the lone yi that starts it as 以 ("以5987654321": ten digits
    and a word); at the mobile-number prompt that reading is taken with 以 as a 1, not read back
    as ten digits. (The rest of this call fails on the date, heard as 铭血下午的, so the whole
    conversation is no case above.)"""
    audio = CallerVoices().conversation_audio(VoiceSpec(engine="kokoro", voice="zm_yunxia"),
                                             "shouted", conversation("dev", "cancel").turns[:2])
    sessions = []

    def drive(session, clock):
        sessions.append(session)
        return run_script(session, clock, [ScriptTurn(audio=pcm) for pcm in audio], gap_s=0.8)

    _, events = simulate("zh-digit-sound", clinic, zh_engines, drive, now=CALLERS.today)
    heard = [e.data["text"] for e in events.of_kind("asr.final")]   # numbers redacted
    reread, = events.of_kind("asr.reread")
    assert reread.data["text"].startswith("以") and reread.data["taken"], reread.data
    assert sessions[0].dialog.state.slots.get("phone") == "15987654321", heard
    assert not events.of_kind("dialog.number_check"), heard
    assert "cancel_date" in [e.data["node"] for e in events.of_kind("dialog.node")], heard


def test_a_number_read_back_and_refused_by_voice_is_keyed_in(zh_engines, clinic):
    """A ten-digit number said at the clinic's mobile-number prompt (usually 11 digits) is read
    back; the caller says 不对 and is asked for the keypad, and the keyed digits are taken: the
    whole exchange by audio, the bot's keypad request transcribed back through the line."""
    voices, spec = CallerVoices(), VoiceSpec(engine="kokoro", voice="zf_xiaoyi")
    said = [voices.line_audio(spec, "normal", text)
            for text in ("我要取消预约。", "一三九零零一二二三三。", "不对。")]
    turns = [*(ScriptTurn(audio=pcm) for pcm in said), ScriptTurn(keys="13900112233#")]
    sessions = []

    def drive(session, clock):
        sessions.append(session)
        return run_script(session, clock, turns, gap_s=0.8)

    result, events = simulate("zh-read-back-refused", clinic, zh_engines, drive,
                              now=CALLERS.today)
    checks = [e.data["answer"] for e in events.of_kind("dialog.number_check")]
    heard = [e.data["text"] for e in events.of_kind("asr.final")]
    assert checks == ["no"], (checks, heard)
    assert sessions[0].dialog.state.slots["phone"] == "13900112233", heard
    assert "cancel_date" in [e.data["node"] for e in events.of_kind("dialog.node")]
    check, = events.of_kind("dialog.number_check")
    reply = [e for e in events.of_kind("bot.say") if e.t == check.t]
    text = "".join(e.data["text"] for e in reply)
    assert text == clinic.plan.prompts.number_by_keypad["zh"], text   # not "didn't catch that"
    start = int(check.t * 1000 / FRAME_MS) * FRAME_BYTES
    length = sum(e.data["audio_s"] for e in reply) + 0.6
    audio = result.bot_audio[start:start + int(length * PHONE_RATE) * 2]
    said_back = zh_engines.asr.transcribe(audio, PHONE_RATE, ("zh",)).text
    assert char_errors(text, said_back).rate <= BOT_CER_MAX, (text, said_back)
