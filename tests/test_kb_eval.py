"""`ivr eval kb`: question sets load with exact errors, invented numbers are found, and the
runner asks the plan's real dialog (FAQ answers, declines, retrieval ranks, the document path's
"don't know")."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.dialplan.loader import load_dialplan
from ivr.errors import IvrError
from ivr.qa.kb_eval import (KBQuestion, KBReport, KBResult, KBRunner, invented_numbers,
                            load_questions, numbers, reports)

PLANS = Path(__file__).parent.parent / "dialplans"
SETS = Path(__file__).parent / "data" / "kb"


@pytest.mark.parametrize("item,message", [
    ('{text: "hi", expect: maybe}', "'expect' must be one of"),
    ('{text: "hi", expect: faq}', "needs the entry's 'id'"),
    ('{text: "hi", expect: facts}', "needs a list of 'facts'"),
    ('{text: "hi", expect: decline, part: later}', "'part' must be one of"),
    ('{expect: decline}', "needs 'text'"),
])
def test_a_bad_question_is_named_with_what_is_wrong(tmp_path: Path, item: str, message: str):
    path = tmp_path / "set.yaml"
    path.write_text(f"questions:\n  - {item}\n", encoding="utf-8")
    with pytest.raises(IvrError, match=message) as error:
        load_questions(path)
    assert "question 1" in str(error.value)


def test_shipped_sets_name_entries_their_plan_has():
    paths = sorted(SETS.glob("*.yaml"))
    assert [p.name for p in paths] == sorted(p.name for p in PLANS.glob("*.yaml"))
    for path in paths:
        plan = load_dialplan(PLANS / path.name).plan
        ids = {k.id for k in plan.knowledge}
        questions = load_questions(path)
        assert len(questions) >= 60, path
        assert {q.part for q in questions} == {"dev", "heldout"}, path
        assert {q.expect for q in questions} >= {"faq", "decline"}, path
        assert sum("adversarial" in q.tags for q in questions) >= 5, path
        assert {q.id for q in questions if q.expect == "faq"} <= ids, path
        assert len({q.text for q in questions}) == len(questions), path


def test_numbers_and_invented_numbers():
    assert numbers("Roaming costs five dollars a day, 1,000 minutes, 4.5 GB") == {
        "5", "1000", "4.5"}
    sources = ["Elsewhere it costs five dollars a day."]
    assert invented_numbers("It costs 5 dollars a day.", sources) == ()
    assert invented_numbers("It costs 7 dollars a day for 30 days.", sources) == ("30", "7")


@pytest.fixture(scope="module")
def acme() -> KBRunner:
    return KBRunner(load_dialplan(PLANS / "acme-mobile.yaml"))


def ask(runner: KBRunner, **fields):
    return runner.run([KBQuestion(**{"lang": "en", "part": "dev", **fields})])[0]


def test_a_faq_question_is_answered_from_its_entry(acme):
    result = ask(acme, text="How much does roaming cost?", expect="faq", id="roaming")
    assert result.path == "faq" and result.entry == "roaming" and result.rank == 1
    assert "European Union" in result.said and result.correct and not result.invented
    wrong = ask(acme, text="How much does roaming cost?", expect="faq", id="pay_bill")
    assert not wrong.correct and wrong.rank > 1


def test_an_approved_answer_said_by_a_menu_choice_counts_as_that_entry():
    clinic = KBRunner(load_dialplan(PLANS / "clinic-appointments.yaml"))
    result = ask(clinic, text="opening hours", expect="faq", id="opening_hours")
    assert result.reason == "menu_choice" and "8:30 a.m." in result.said
    assert result.path == "faq" and result.entry == "opening_hours" and result.correct
    booked = ask(clinic, text="book", expect="faq", id="opening_hours")
    assert booked.path == "declined" and not booked.correct


def test_an_out_of_scope_question_is_declined(acme):
    result = ask(acme, text="What is the capital of France?", expect="decline",
                 tags=("out_of_scope",))
    assert result.path in ("declined", "transfer") and result.correct
    answered = ask(acme, text="What is the capital of France?", expect="faq", id="roaming")
    assert not answered.correct


def test_the_document_path_without_a_model_says_it_does_not_know():
    runner = KBRunner(load_dialplan(PLANS / "it-hardware-support.yaml"))
    result = ask(runner, text="How long is the warranty on a rack server?", expect="facts",
                 facts=("three years",))
    assert result.path in ("declined", "transfer") and not result.correct
    table = reports("t", [result])[0].table(errors=True)
    assert "in scope answered correctly   0/1 (0%)" in table and "wanted three years" in table


def test_the_report_counts_calm_callers_the_guard_handed_over():
    def result(path: str, reason: str) -> KBResult:
        return KBResult(KBQuestion("a calm question", "en", "decline", "dev"), path, "", reason,
                        0.1)

    report = KBReport("set", [result("transfer", "self_harm"), result("transfer", "angry_caller"),
                              result("transfer", "angry_caller"), result("declined", "kb_miss"),
                              result("transfer", "support_question")])
    assert report.handed_over() == "3 (anger 2, self-harm 1)"
    assert "  handed over by the guard      3 (anger 2, self-harm 1)" in report.table()
    assert KBReport("set", [result("declined", "kb_miss")]).handed_over() == "0"


def test_asked_which_choice_the_caller_names_the_one_whose_answers_hold_the_entry():
    """A question about no menu choice is kept and the bot asks which choice it is about: the
    runner's caller names the choice whose answer node lists the expected entry, and the
    answer node takes the question up; a question whose entry no single choice holds, or an
    out-of-scope one, names nothing."""
    runner = KBRunner(load_dialplan(PLANS / "mobile-carrier.yaml"))
    text = "moving from Plus to Unlimited, how does that work for me"
    result = ask(runner, text=text, expect="faq", id="change_plan")
    assert result.chose == "data plans", result
    assert "What would you like to know about data plans?" not in result.said, result.said
    declined = ask(runner, text=text, expect="decline", tags=("out_of_scope",))
    assert declined.chose == "" and declined.reason == "menu_no_match"
    table = reports("t", [result, declined])[0].table()
    assert "asked which menu choice       2x: the caller named a choice 1" in table, table
