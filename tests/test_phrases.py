"""Tests for ivr.dialog.phrases: robust phrase spotting in ASR text."""

from __future__ import annotations

import pytest

from ivr.dialog.phrases import PhraseMatcher, phonetic_key, token_similarity
from ivr.text.normalize import normalize_text, pinyin, stem, tokenize

EMERGENCY = {
    "en": ["chest pain", "can't breathe", "cannot breathe", "heart attack", "overdose",
           "call 911", "there's a fire", "on fire", "fire", "kill myself"],
    "zh": ["胸痛", "呼吸困难", "救命", "自杀"],
}
HUMAN = {"en": ["agent", "real person", "representative", "operator", "talk to a person"],
         "zh": ["转人工", "我要人工", "人工客服"]}
EXCLUSIONS = {"en": ["fire my", "fire tablet", "human error", "network operator"],
              "zh": ["人工智能"]}


@pytest.fixture(scope="module")
def emergency() -> PhraseMatcher:
    return PhraseMatcher(EMERGENCY, EXCLUSIONS)


@pytest.fixture(scope="module")
def human() -> PhraseMatcher:
    return PhraseMatcher(HUMAN, EXCLUSIONS)


# --- normalisation -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["I can't", "I cant", "I can not", "I cannot", "I CAN\u2019T",
                                  "i  can't!"])
def test_negation_forms_normalise_alike(text: str) -> None:
    assert normalize_text(text) == "i cannot"


def test_numbers_are_spelled_digit_by_digit() -> None:
    assert normalize_text("Call 911") == normalize_text("call nine one one") \
        == normalize_text("call 9-1-1") == "call nine one one"


def test_contractions_possessives_and_full_width() -> None:
    assert normalize_text("There's a fire") == "there is a fire"
    assert normalize_text("my son's phone") == "my son phone"
    assert normalize_text("ＡＧＥＮＴ") == "agent"


def test_cjk_characters_are_tokens_and_traditional_is_folded() -> None:
    toks = tokenize("我要轉人工 please")
    assert [t.norm for t in toks] == ["我", "要", "转", "人", "工", "please"]
    assert all(t.cjk for t in toks[:5]) and not toks[5].cjk
    assert (toks[2].start, toks[2].end) == (2, 3)


def test_sentence_punctuation_starts_a_clause_but_an_ellipsis_does_not() -> None:
    assert [t.clause for t in tokenize("fire. my agent")] == [0, 1, 1]
    assert [t.clause for t in tokenize("I can't... breathe")] == [0, 0, 0]


# --- similarity ----------------------------------------------------------------------------------

def test_stems_and_pinyin() -> None:
    assert stem("killing") == stem("killed") == stem("kill")
    assert stem("breathing") == stem("breathe")
    assert pinyin("痛") == pinyin("通") == "tong" and pinyin("a") == ""


@pytest.mark.parametrize("text,phrase", [
    ("I'm killing myself tonight", "kill myself"), ("I killed the noise", None),
    ("there is a pain in my chest", "chest pain"), ("my chest, the pain is bad", "chest pain"),
    ("she is overdosing", "overdose"),
])
def test_inflections_and_word_order(emergency: PhraseMatcher, text: str, phrase: str | None) -> None:
    found = emergency.find(text)
    assert (found.phrase if found else None) == phrase


def test_negated_phrases_keep_their_order(emergency: PhraseMatcher) -> None:
    assert emergency.find("breathe easy, I cannot find my bill") is None


@pytest.mark.parametrize("text,phrase", [("呼西困难", "呼吸困难"), ("呼吸困難", "呼吸困难"),
                                         ("我要转人公", None)])
def test_chinese_homophones_match_by_sound(emergency: PhraseMatcher, text: str,
                                          phrase: str | None) -> None:
    found = emergency.find(text)
    assert (found.phrase if found else None) == phrase


def test_chinese_homophone_human_request(human: PhraseMatcher) -> None:
    assert human.find("我要转人公").phrase == "转人工"
    assert human.find("人工智能是什么") is None


@pytest.mark.parametrize("a,b", [("pain", "pane"), ("breathe", "breath"), ("breathe", "brief"),
                                 ("heart", "hard"), ("night", "nite")])
def test_sound_alikes_share_a_phonetic_key(a: str, b: str) -> None:
    assert phonetic_key(a) == phonetic_key(b)


@pytest.mark.parametrize("a,b", [("pain", "game"), ("fire", "fine"), ("there", "fire"),
                                 ("believe", "breathe")])
def test_different_words_get_different_keys(a: str, b: str) -> None:
    assert phonetic_key(a) != phonetic_key(b)


def test_token_similarity_bounds() -> None:
    assert token_similarity("pain", "pain") == 1.0
    assert token_similarity("pain", "pane") >= 0.9
    assert token_similarity("pain", "pains") >= 0.85
    assert token_similarity("suicidal", "still") < 0.7  # same key, but far too short
    assert token_similarity("胸", "胸") == 1.0 and token_similarity("胸", "痛") == 0.0


# --- English matching -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,phrase", [
    ("I have chest pain", "chest pain"),
    ("I have chest pane", "chest pain"),
    ("my chest pains are bad", "chest pain"),
    ("I cant breath", "can't breathe"),
    ("I can't brief", "can't breathe"),
    ("I can not breathe", "can't breathe"),
    ("I can't really breathe", "can't breathe"),
    ("I can't... breathe", "can't breathe"),
    ("my husband is having a hard attack", "heart attack"),
    ("I think it's a heartattack", "heart attack"),
    ("he took an over dose", "overdose"),
    ("call nine one one", "call 911"),
    ("There's a fire in the kitchen", "there's a fire"),
])
def test_asr_style_variants_match(emergency: PhraseMatcher, text: str, phrase: str) -> None:
    match = emergency.find(text)
    assert match is not None and match.phrase == phrase, emergency.find_all(text)
    assert 0.8 <= match.score <= 1.0


@pytest.mark.parametrize("text", [
    "I have a chess game tonight",
    "I can't believe how cheap this is",
    "The heart rate app drains my battery",
    "I killed my battery playing games",
    "I'm fine thanks",
    "there is a fight on tv",
    "Where can I buy a fire tablet charger?",
    "I want to fire my agent",
    "Damn it, my phone still has no signal",
    "Can I switch to another operator?",
])
def test_hard_negatives_do_not_match(emergency: PhraseMatcher, text: str) -> None:
    assert emergency.find(text) is None, emergency.find_all(text)


def test_fire_my_agent_is_a_request_for_a_human_not_an_emergency(
        emergency: PhraseMatcher, human: PhraseMatcher) -> None:
    assert emergency.find("I want to fire my agent") is None
    assert human.find("I want to fire my agent").phrase == "agent"
    # the exclusion only covers its own clause: a real fire after it is still found
    assert emergency.find("Fire my agent. There's a fire!").phrase == "there's a fire"
    # without the exclusion the bare word would match: the exclusion is what decides
    assert PhraseMatcher(EMERGENCY).find("I want to fire my agent").phrase == "fire"


def test_exclusions(human: PhraseMatcher) -> None:
    assert human.find("the network operator is down") is None
    assert human.find("operator please").phrase == "operator"
    assert human.find("I want a real persen").phrase == "real person"
    assert human.find("representive").phrase == "representative"


def test_match_reports_span_and_text(emergency: PhraseMatcher) -> None:
    text = "Help, I have chest pane and..."
    match = emergency.find(text)
    assert match.matched == "chest pane" == text[match.span[0]:match.span[1]]
    assert not match.exact and match.complete and match.language == "en"
    exact = emergency.find("chest pain")
    assert exact.exact and exact.score == 1.0 and exact.span == (0, 10)


def test_short_single_words_match_only_exactly() -> None:
    matcher = PhraseMatcher({"en": ["agent", "operator"]})
    assert matcher.find("urgent") is None
    assert matcher.find("agents please").phrase == "agent"  # plural
    assert matcher.find("operater").phrase == "operator"     # long word: fuzzy


def test_a_phrase_with_one_content_word_needs_its_small_words() -> None:
    matcher = PhraseMatcher({"en": ["transfer me", "on fire"]})
    assert matcher.find("how long does a number transfer take") is None
    assert matcher.find("the fire alarm test is on friday") is None
    assert matcher.find("can you transfer me please").phrase == "transfer me"
    assert matcher.find("the kitchen is on fire").phrase == "on fire"
    # two content words: a small word may still be dropped or misheard
    assert PhraseMatcher({"en": ["kill myself"]}).find("i want to kill my self") is not None


def test_threshold_is_configurable() -> None:
    strict = PhraseMatcher({"en": ["chest pain"]}, threshold=0.99)
    assert strict.find("chest pane") is None and strict.find("chest pain") is not None
    with pytest.raises(ValueError):
        PhraseMatcher({"en": ["x"]}, threshold=0)


def test_languages_filter_and_duplicates(emergency: PhraseMatcher) -> None:
    assert emergency.find("胸痛", languages=["en"]) is None
    assert emergency.find("胸痛", languages=["zh"]).language == "zh"
    assert emergency.phrases.count("can't breathe") == 1 and "cannot breathe" not in emergency.phrases


# --- Chinese -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,phrase", [
    ("我胸痛", "胸痛"),
    ("我胸很痛", "胸痛"),              # a filler inside
    ("我呼吸很困难", "呼吸困难"),
    ("我呼吸困難", "呼吸困难"),        # traditional characters
    ("呼吸困南", "呼吸困难"),          # one character misrecognised in four
    ("救命啊！", "救命"),
])
def test_chinese_substring_and_fuzzy(emergency: PhraseMatcher, text: str, phrase: str) -> None:
    match = emergency.find(text)
    assert match is not None and match.phrase == phrase, emergency.find_all(text)


@pytest.mark.parametrize("text", ["胸口", "火车上信号不好", "我要人工智能的资料", "呼吸", "我要人"])
def test_chinese_negatives(emergency: PhraseMatcher, human: PhraseMatcher, text: str) -> None:
    assert emergency.find(text) is None and human.find(text) is None


def test_chinese_human_requests(human: PhraseMatcher) -> None:
    assert human.find("帮我转人工").phrase == "转人工"
    assert human.find("我要轉人工。") is not None
    match = human.find("喂，人工客服在吗")
    assert match.phrase == "人工客服" and match.matched == "人工客服" and match.span == (2, 6)


# --- partial results -----------------------------------------------------------------------------

def test_partial_text_with_an_unfinished_last_word(emergency: PhraseMatcher) -> None:
    match = emergency.find("I can't brea", partial=True)
    assert match is not None and match.phrase == "can't breathe" and not match.complete
    assert emergency.find("I can't brea") is None            # a final result needs the word
    assert emergency.find("I have chest pa", partial=True) is None  # too short to tell
    assert emergency.find("I can't", partial=True) is None   # nothing of "breathe" yet


def test_partial_text_with_complete_words_matches_completely(emergency: PhraseMatcher) -> None:
    match = emergency.find("I think I have chest pain and", partial=True)
    assert match.phrase == "chest pain" and match.complete
    match = emergency.find("I cant breath", partial=True)
    assert match.phrase == "can't breathe" and match.complete


def test_empty_and_punctuation_only_text(emergency: PhraseMatcher) -> None:
    assert emergency.find("") is None and emergency.find("...!?") is None
    assert emergency.find_all("   ") == []
