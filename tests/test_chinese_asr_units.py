"""The pieces of Mandarin recognition measurement and tuning that need no model: the CER's
normalisation, the language choice, the plan's vocabulary, decoding overrides, the caller set."""

from __future__ import annotations

import pytest

from ivr.asr.vocabulary import plan_vocabulary
from ivr.asr.base import question_particle
from ivr.asr.whisper import DecodeOptions
from ivr.asr.whisper_model import choose_language
from ivr.dialplan.loader import load_dialplan
from ivr.qa.cer import char_errors, cer_text
from ivr.qa.zh_callers import load_callers, shout, utterances
from ivr.text.normalize import digits_as_hanzi

from conftest import ROOT


def test_cer_compares_simplified_characters_and_numbers_as_said():
    assert digits_as_hanzi("12月3号，10点") == "十二月三号，十点"
    assert digits_as_hanzi("13812345678") == "一三八一二三四五六七八"
    assert cer_text("我想預約，看醫生！") == "我想预约看医生"
    assert char_errors("改到十二月三号。", "改到12月3號").edits == 0
    assert char_errors("一三八一二三四五六七八", "138 1234 5678").edits == 0
    wrong = char_errors("我想预约看医生。", "我想预约看一声")
    assert (wrong.edits, wrong.chars) == (2, 7)
    assert char_errors("是的", "").rate == 1.0


def test_language_choice_keeps_the_main_language_unless_another_is_clear():
    short_yes = {"en": 0.55, "zh": 0.35, "ja": 0.05}
    assert choose_language(short_yes, ("zh", "en"), None) == "en"      # most likely wins
    assert choose_language(short_yes, ("zh", "en"), 0.8) == "zh"       # main language kept
    assert choose_language({"en": 0.93, "zh": 0.04}, ("zh", "en"), 0.8) == "en"
    assert choose_language({"ja": 0.9, "zh": 0.05}, ("zh", "en"), 0.8) == "zh"  # not allowed
    assert choose_language({"fr": 0.7, "en": 0.2}, (), None) == "fr"


def test_plan_vocabulary_is_its_hotwords_then_menu_words_without_repeats():
    plan = load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml").plan
    words = plan_vocabulary(plan, "zh")
    assert words[:2] == plan.asr.hotwords["zh"][:2]
    assert "改约" in words and "门诊时间" in words and len(words) == len(set(words))
    assert "book" in plan_vocabulary(plan, "en") and plan_vocabulary(plan, "fr") == []


def test_decoding_overrides_are_typed_and_checked():
    options = DecodeOptions().with_overrides({"beam_size": "3", "temperatures": [0, 0.2],
                                              "switch_language_min_prob": "0.8"})
    assert (options.beam_size, options.temperatures) == (3, (0.0, 0.2))
    assert options.switch_language_min_prob == 0.8
    with pytest.raises(ValueError, match="unknown ASR option"):
        DecodeOptions().with_overrides({"beam": 3})


def test_caller_set_has_every_scenario_in_both_parts_and_no_shared_turns():
    callers = load_callers(ROOT / "tests" / "data" / "zh_callers.yaml")
    scenarios = {"book", "reschedule", "cancel", "hours", "emergency", "person", "angry"}
    assert {c.id for c in callers.dev} == scenarios == {c.id for c in callers.holdout}
    dev = {u.text for u in utterances(callers, "dev")}
    holdout = {u.text for u in utterances(callers, "holdout")}
    assert not dev & holdout
    assert {v.engine for v in callers.voices} == {"kokoro", "espeak-ng"}


def test_a_shouting_caller_is_louder_and_clipped():
    import numpy as np

    pcm = (np.sin(np.arange(800) / 5) * 12000).astype("<i2").tobytes()
    loud = np.frombuffer(shout(pcm), "<i2")
    assert loud.max() == 32767 and loud.min() == -32768


@pytest.mark.parametrize("heard, meant", [
    ("请问你们周末开门骂。", "请问你们周末开门吗？"), ("能用医保骂", "能用医保吗？"),
    ("我想预约，明天开门骂？", "我想预约，明天开门吗？"),
    # scolding said as such stays: an object, a verb with 骂, intent in the clause, 骂 alone
    ("我就天天打电话骂你们。", None), ("天天挨骂。", None), ("别骂", None), ("他们辱骂", None),
    ("我要在网上骂", None), ("骂", None), ("你好", None)])
def test_a_turn_final_ma_misheard_as_scold_is_a_question(heard, meant):
    assert question_particle(heard) == (meant or heard)
