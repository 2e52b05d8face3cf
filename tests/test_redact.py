"""Redaction of personal data: what is masked, what is left alone on purpose, and the plan's
own patterns (with their errors at file:line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.dialplan.loader import load_dialplan
from ivr.errors import DialplanError
from ivr.text.redact import Redactor, cn_id_ok, luhn_ok

from conftest import DEMO_PLAN

CARD = "4532015112830366"          # Visa test number, Luhn-valid
CN_ID = "11010519491231002X"       # check character X
CN_ID_DIGIT = "440524198001010013"  # check digit 3

redact = Redactor().text


def test_luhn_and_the_cn_id_check_character():
    assert luhn_ok(CARD) and not luhn_ok("4532015112830367")
    assert cn_id_ok(CN_ID) and cn_id_ok(CN_ID.lower()) and cn_id_ok(CN_ID_DIGIT)
    assert not cn_id_ok("110105194912310021")      # wrong check digit
    assert not cn_id_ok("110105194913310021")      # month 13 (check digit right for it)


@pytest.mark.parametrize("said", [
    f"my card is {CARD} thanks",
    "my card is 4532 0151 1283 0366 thanks",
    "my card is 4532-0151-1283-0366 thanks",
    "my card is four five three two zero one five one one two eight three zero three six six",
    "my card is four five three two, zero one five one, one two eight three, oh three double six",
    "Oh, 4532 0151 1283 0366, expiry 12 27",
    "卡号是四五三二零一五一幺二八三零三六六",
    "卡号是４５３２０１５１１２８３０３６６",
])
def test_card_numbers_are_masked_with_their_last_four(said: str):
    masked = redact(said)
    assert "[card ••••0366]" in masked, masked
    assert "4532" not in masked and "four five three two" not in masked


def test_a_number_failing_its_check_is_still_masked_as_a_long_number():
    assert redact("card 4532 0151 1283 0367") == "card [number]"    # one digit misheard
    assert redact("ID 110105194912310021") == "ID [number]"        # wrong check digit
    assert redact("ID 1105, 1 9 4 9 1 2 3 1 0 2 X.") == "ID [number] X."  # whisper-tiny's


@pytest.mark.parametrize("said", [
    f"身份证号是{CN_ID}", "身份证号是110105 19491231 002X", f"ID {CN_ID.lower()}",
    "身份证号是一一零一零五一九四九一二三一零零二叉",
    "one one zero one zero five one nine four nine one two three one zero zero two X",
    f"身份证{CN_ID_DIGIT}",
])
def test_cn_resident_ids_are_masked(said: str):
    masked = redact(said)
    assert "[id]" in masked and "1949" not in masked and "1980" not in masked, masked


@pytest.mark.parametrize("said", [
    "call me on +44 20 7946 0958", "call me on 13812345678", "call me on 138-1234-5678",
    "call me on (415) 555-0123", "call me on 415.555.0123", "call me on 1 415 555 0123",
    "call me on 020 7946 0958", "call me on 0755-12345678", "call me on 0044 20 7946 0958",
    "call me on +8613812345678",
    "call me on plus four four two zero seven nine four six zero nine five eight",
    "call me on five five five, one two three, four five six seven",
    "请打一三八一二三四五六七八",
])
def test_phone_numbers_are_masked(said: str):
    masked = redact(said)
    assert "[phone]" in masked and not any(c.isdigit() for c in masked), masked
    assert "(" not in masked and "five five" not in masked


def test_the_phone_after_a_number_said_just_before_is_still_found():
    assert redact("call 13812345678, 2 times") == "call [phone], 2 times"


@pytest.mark.parametrize("said", [
    "write to jane.doe+bills@example.co.uk please", "write to jane dot doe at example dot com",
    "write to jane at example.org", "写信到 zhang_san@163.com",
])
def test_email_addresses_are_masked(said: str):
    masked = redact(said)
    assert "[email]" in masked and "example" not in masked and "163" not in masked, masked


@pytest.mark.parametrize("said", [
    "Elsewhere it costs five dollars a day.",
    "Roaming costs $5 a day, or $1,234,567,890 a year.",
    "My appointment is on 2026-11-25 at 10:30, room 1204.",
    "Tomorrow, 25/11/2026, at 10 am.",
    "My PIN is 1234 and my account is 12345678.",
    "one two three four five six",
    "I bought twenty five phones for one hundred and twenty dollars",
    "I'll be there at five, see you at the shop",
    "The serial is AB1234567890123 on a 5G router, model X200.",
    "我想预约一下，一共两个人，周一上午十点",
    "Oh, I see. One moment.",
    "version 2.0.1 on 192.168.100.200",
    "You can pay your bill in the Acme app, online at acme dot com, or by direct debit.",
    "Find us at acme dot com.",
])
def test_ordinary_numbers_are_left_alone(said: str):
    assert redact(said) == said


@pytest.mark.parametrize("first,second,first_masked,second_masked", [
    ("My card number is 4532 0151", "1283 0366, expiry 12 27", "My card number is [number]",
     "[card ••••0366], expiry 12 27"),
    ("it's 4532", "0151 1283 0366", "it's 4532", "[card ••••0366]"),
    ("four five three two zero one five", "one one two eight three zero three six six",
     "[number]", "[card ••••0366]"),
    ("我的身份证号是110105", "19491231002X", "我的身份证号是110105", "[id]"),
    ("my number is 020 7946", "um 0958", "my number is [number]", "um [phone]"),
])
def test_a_number_read_out_over_two_utterances_is_masked_in_both(first, second, first_masked,
                                                                   second_masked):
    redactor = Redactor()
    redactor.heard(first)
    assert redactor.text(first) == first_masked
    redactor.heard(second)
    assert redactor.text(second) == second_masked
    summary = redactor.text(f"Caller: {first}\nBot: Thank you.\nCaller: {second}")
    assert not {"0151", "0366", "7946", "19491231002X"} & set(summary.split()), summary


def test_only_a_long_number_at_the_end_of_an_utterance_is_masked_in_case_it_runs_on():
    redactor = Redactor()
    for said, kept in [("my account is 12345678 and that's all", True),
                       ("order 123456", True),
                       ("my account is 12345678.", False),
                       ("thanks, bye", True)]:
        redactor.heard(said)
        assert (redactor.text(said) == said) == kept, said
    assert Redactor().text("my account is 12345678.") == "my account is 12345678."


def test_plan_patterns_are_masked_by_name():
    redactor = Redactor([("policy", r"\bPOL-\d{6}\b"), ("member", r"(?i)member \w+")])
    assert redactor.text("policy POL-123456 for Member ab12") == "policy [policy] for [member]"


def test_values_are_redacted_inside_dicts_and_lists():
    value = {"card": CARD, "list": ["ok", f"id {CN_ID}"], "n": 4532015112830366, "flag": True}
    assert Redactor().value(value) == {"card": "[card ••••0366]", "list": ["ok", "id [id]"],
                                       "n": 4532015112830366, "flag": True}


def _plan_with(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(DEMO_PLAN.read_text(encoding="utf-8") + section, encoding="utf-8")
    return path


def test_plan_redaction_section_loads(tmp_path: Path):
    loaded = load_dialplan(_plan_with(tmp_path, "redaction:\n  patterns:\n"
                                                "    - {name: policy, regex: 'POL-\\d{6}'}\n"))
    assert [p.name for p in loaded.plan.redaction.patterns] == ["policy"]
    assert not loaded.plan.redaction.keep_raw


def test_a_bad_plan_regex_is_reported_at_its_line(tmp_path: Path):
    path = _plan_with(tmp_path, "redaction:\n  patterns:\n    - name: policy\n"
                                "      regex: 'POL-(\\d{6}'\n")
    line = len(DEMO_PLAN.read_text(encoding="utf-8").splitlines()) + 4
    with pytest.raises(DialplanError) as error:
        load_dialplan(path)
    assert f"{path}:{line}:" in str(error.value)
    assert "redaction.patterns.0.regex: bad regular expression" in str(error.value)


def test_a_plan_regex_matching_empty_text_is_refused(tmp_path: Path):
    with pytest.raises(DialplanError, match="matches empty text"):
        load_dialplan(_plan_with(tmp_path, "redaction:\n  patterns:\n"
                                           "    - {name: digits, regex: '\\d*'}\n"))


def test_keep_raw_is_a_warning(tmp_path: Path):
    loaded = load_dialplan(_plan_with(tmp_path, "redaction:\n  keep_raw: true\n"))
    assert any("redaction.keep_raw" in w for w in loaded.warnings)
