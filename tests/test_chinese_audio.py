"""Mandarin callers heard by audio: a Kokoro caller voice (zf_xiaoyi) through G.711 into the
clinic line, whose bot speaks with Kokoro's zm_yunjian and hears with multilingual whisper base.
Each call runs offline in simulated time through the same CallSession as a SIP call."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from ivr.asr.whisper import ZH_PROMPT, echoes_prompt
from ivr.audio.g711 import phone_line
from ivr.audio.frames import PHONE_RATE
from ivr.events import EventLog, ManualClock
from ivr.qa.synth import synth_caller
from ivr.session.offline import run_offline
from ivr.session.session import CallSession
from ivr.tts.voices import VoiceSpec, build_voice

from test_chinese_calls import clinic, zh_engines  # noqa: F401 - the clinic, prompts pre-spoken

pytestmark = pytest.mark.slow

WEDNESDAY_10AM = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.timezone.utc)  # 10:00 CST


@pytest.fixture(scope="module")
def caller_voice():
    return build_voice(VoiceSpec(engine="kokoro", voice="zf_xiaoyi"), "zh")


def chinese_call(engines, clinic, voice, turns: list[tuple[float, str]]) -> EventLog:
    pcm = synth_caller(voice, turns)  # already through the G.711 line
    clock = ManualClock()
    events = EventLog(clock)
    session = CallSession("zh-test", clinic, engines, events, now=WEDNESDAY_10AM)
    asyncio.run(run_offline(session, clock, pcm))
    return events


def test_greeting_is_mandarin_that_whisper_understands(zh_engines, clinic):
    greeting = clinic.plan.nodes["welcome"].say["zh"].split("For English")[0]
    speech = zh_engines.voice("zh").speak(greeting)
    heard = zh_engines.asr.transcribe(phone_line(speech.pcm), PHONE_RATE, ("zh",)).text
    assert "您好" in heard and "这里是" in heard and "社区" in heard, heard   # simplified 这


def test_caller_books_by_saying_it_in_mandarin(zh_engines, clinic, caller_voice):
    events = chinese_call(zh_engines, clinic, caller_voice, [(4.0, "我想预约看医生。")])
    heard = [e.data["text"] for e in events.of_kind("asr.final")]
    assert any("预约" in text for text in heard), heard
    nodes = [e.data["node"] for e in events.of_kind("dialog.node")]
    assert "book_date" in nodes, (nodes, heard)


def test_mandarin_emergency_in_own_words_goes_to_the_duty_nurse(zh_engines, clinic, caller_voice):
    events = chinese_call(zh_engines, clinic, caller_voice,
                          [(4.0, "我爸爸突然胸口很痛，喘不过气来了。")])
    transfer, = events.of_kind("transfer.request")
    assert transfer.data["target"] == "sip:duty-nurse@127.0.0.1:5070", transfer.data
    assert transfer.data["reason"] == "emergency"


def test_a_mandarin_caller_who_goes_on_after_a_pause_is_heard_as_one_turn(zh_engines, clinic,
                                                                          caller_voice):
    """When the clinic ended turns after 700 ms of silence, 我想问一下 [0.9 s] 你们几点开门 was two
    turns, and the second alone was heard as 你们起点开门 and transferred as an angry caller.
    Now the end of turn waits at a preface (turn_text.py), and a caller who goes on as the bot
    begins to reply continues the turn: either way the dialog hears one turn, whole."""
    events = chinese_call(zh_engines, clinic, caller_voice,
                          [(4.0, "我想问一下，"), (0.9, "你们几点开门？")])
    pieces = [e for e in events.of_kind("speech.end") if not e.data.get("dropped")]
    assert len(pieces) - len(events.of_kind("turn.continued")) == 1, \
        [e.data for e in events.of_kind("asr.final")]
    heard = events.of_kind("asr.final")[-1].data["text"]
    assert "问" in heard and "开门" in heard, heard
    assert not events.of_kind("transfer.request")
    assert "hours_info" in [e.data["node"] for e in events.of_kind("dialog.node")]


def test_a_mandarin_caller_pausing_after_because_is_not_cut_off(zh_engines, clinic,
                                                                caller_voice):
    """The clinic judges the end of a Mandarin turn with the turn model and the transcript of
    the turn so far (turn_text.py): 我打电话是因为 [0.9 s] 上次的化验结果还没出来 is one turn. With
    the fixed 700 ms the pause ended it, and the bot began to answer the half sentence."""
    events = chinese_call(zh_engines, clinic, caller_voice,
                          [(4.0, "我打电话是因为"), (0.9, "上次的化验结果还没出来。")])
    pieces = [e for e in events.of_kind("speech.end") if not e.data.get("dropped")]
    heard = [e.data["text"] for e in events.of_kind("asr.final")]
    assert len(pieces) == 1 and not events.of_kind("turn.continued"), heard
    assert "因为" in heard[-1] and "结果" in heard[-1], heard


def test_a_mandarin_yes_no_question_is_answered_not_taken_for_anger(zh_engines, clinic):
    """请问你们周末开门吗？ in zf_xiaobei's voice after the menu: whisper base writes the question's
    吗 as 骂 ("scold"), which the guard took for a hostile first turn and transferred the caller
    to reception (found with `ivr talk`). Now the particle is read as a question, and answered."""
    voice = build_voice(VoiceSpec(engine="kokoro", voice="zf_xiaobei"), "zh")
    events = chinese_call(zh_engines, clinic, voice, [(45.0, "请问你们周末开门吗？")])
    heard = [e.data["text"] for e in events.of_kind("asr.final")]
    assert any("周末开门" in text for text in heard), heard
    assert not events.of_kind("transfer.request"), heard
    asked = max(e.t for e in events.of_kind("asr.final"))
    said = "".join(e.data["text"] for e in events.of_kind("bot.say") if e.t >= asked)
    assert "周六" in said or "周末" in said, said


def test_a_long_mandarin_turn_is_heard_to_its_end(zh_engines, caller_voice):
    # a caller who tells the whole story at once, 24 s: more tokens than one turn's 96 (whisper
    # writes a Mandarin character as one to three, traditional ones most), which once cut the
    # turn off before its last clause
    text = ("我上个星期在你们诊所做了血常规检查，医生说三天以后就能出结果，可是到现在我还没有"
            "收到任何短信通知，我想问一下怎么查询检查结果，需要带什么证件过来取报告，还有就是"
            "如果结果有问题的话，是不是要重新挂号再看一次医生。另外我想问一下，你们周六上午开不开"
            "门，我平时要上班，只有周末才有时间过来，诊所旁边停车方便吗？")
    pcm = synth_caller(caller_voice, [(0.2, text)])
    assert len(pcm) / 2 / PHONE_RATE > 20
    heard = zh_engines.asr.transcribe(pcm, PHONE_RATE, ("zh",)).text
    # (its first clause's 血常规 is misheard as 细长规 on this AMD AVX2 machine: the start is
    # checked by 上个星期)
    assert "上个星期" in heard[:15] and "重新挂号" in heard and "停车" in heard[-15:], heard


def test_whisper_writing_its_own_prompt_back_is_not_taken_for_the_caller():
    assert echoes_prompt(ZH_PROMPT) and echoes_prompt("以下是普通话电话录音的简体中文转写")
    assert echoes_prompt("普通话电话录音") and echoes_prompt("录音。") and echoes_prompt("下")
    assert not echoes_prompt("你好，我要挂号") and not echoes_prompt("")
    assert not echoes_prompt("我想转写一下电话号码")


def test_a_short_yes_is_heard_not_a_piece_of_the_prompt(zh_engines, caller_voice):
    # with the prompt, whisper base writes this "是的" as 下 (from 以下是...): decoded again
    # without it, it is heard (as 是的 with AVX-512 kernels, 是吧 on this AMD AVX2 machine)
    pcm = synth_caller(caller_voice, [(0.3, "是的")]) + bytes(PHONE_RATE * 2)
    heard = zh_engines.asr.transcribe(pcm, PHONE_RATE, ("zh",)).text.rstrip("。")
    assert heard in ("是的", "是吧", "是"), heard
