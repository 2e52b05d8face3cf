"""Menus that listen: the caller's own words by meaning, a short re-prompt after a miss, the
whole menu on request or on the last try, and the measured gain on the labelled menu set."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from ivr.dialog.actions import Answer, Say
from ivr.dialog.engine import DialogEngine
from ivr.dialog.menus import MenuMeaning, is_repeat_request, options_text
from ivr.dialplan.loader import load_dialplan
from ivr.errors import DialplanError
from ivr.events import EventLog, ManualClock
from ivr.kb.retriever import KBEntry, Retriever
from ivr.qa.menu_eval import MenuRunner, evaluate_menus, load_menu_set, outcome_counts

from conftest import ROOT

WEDNESDAY_10AM = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.timezone.utc)
MENU_SET = ROOT / "tests" / "data" / "menu_meaning.yaml"


@pytest.fixture(scope="module")
def clinic():
    return load_dialplan(ROOT / "dialplans" / "clinic-appointments.yaml")


def at_menu(clinic, engines, meaning: bool = True) -> DialogEngine:
    plan = clinic.plan
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    dialog = DialogEngine(plan, Retriever(entries, engines.embedder, plan.answers.min_score),
                          None, EventLog(ManualClock()), now=WEDNESDAY_10AM,
                          menus=MenuMeaning(plan, engines.embedder) if meaning else None)
    dialog.start()
    assert dialog.state.node == "main_menu"
    return dialog


def said(step) -> str:
    return " ".join(a.text for a in step.actions if isinstance(a, Say))


def test_choices_are_named_briefly_in_each_language(clinic):
    menu = clinic.plan.nodes["main_menu"]
    assert options_text(menu, "zh", "zh") == "预约、改约、取消、门诊时间或其他问题"
    assert options_text(menu, "en", "zh") == "book, change, cancel, opening hours or other questions"
    assert is_repeat_request("重复") and is_repeat_request("Could you repeat that?")
    assert not is_repeat_request("I want to repeat my appointment booking")


def test_a_menu_options_prompt_with_another_placeholder_is_refused_at_its_line(tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: t\nprompts:\n  menu_options:\n    en: \"Say {choice}\"\ntransfer:\n"
                    "  default: sip:a@127.0.0.1\nstart: bye\nnodes:\n  bye:\n    type: hangup\n",
                    encoding="utf-8")
    with pytest.raises(DialplanError, match=r"plan.yaml:3:3: prompts.menu_options: en: the only "
                                            r"placeholder here is \{options\}"):
        load_dialplan(plan)


def test_a_caller_not_understood_hears_the_choices_not_the_whole_menu(clinic, engines):
    dialog = at_menu(clinic, engines)
    full_menu = clinic.plan.nodes["main_menu"].prompt["zh"]
    first = dialog.on_text("嗯 我也说不好", "zh")
    assert first.reason == "menu_no_match" and full_menu not in said(first)
    assert "预约、改约、取消、门诊时间或其他问题" in said(first)
    again = dialog.on_text("重复", "zh")                     # on request: the whole menu
    assert again.reason == "menu_repeat" and said(again).endswith(full_menu)
    second = dialog.on_text("今天外面天气怎么样啊", "zh")      # the last try: the whole menu
    assert second.reason == "menu_no_match" and full_menu in said(second)
    third = dialog.on_text("喂 喂 听得见吗", "zh")
    assert third.reason == "menu_no_match_gave_up" and dialog.state.node != "main_menu"


@pytest.mark.parametrize("choose", ["data plans", "[key 2]"])
def test_a_sentence_about_no_choice_is_asked_about_and_kept_for_the_choice(engines, choose):
    """A whole sentence at a menu that names, means and answers nothing there was heard: not
    "say it again" but which choice it is about; the choice then named or keyed leads to an
    answer node that takes the kept words up instead of asking again."""
    loaded = load_dialplan(ROOT / "dialplans" / "mobile-carrier.yaml")
    dialog = at_menu(loaded, engines)
    step = dialog.on_text("moving from Plus to Unlimited, how does that work for me", "en")
    assert step.reason == "menu_no_match", step.reason
    assert said(step).startswith(loaded.plan.prompts.not_matched["en"]), said(step)
    assert "data plans" in said(step)
    step = dialog.on_dtmf("2") if choose.startswith("[key") else dialog.on_text(choose, "en")
    assert step.reason == "menu_choice" and dialog.state.node == "plans_questions"
    assert step.evidence["pending"] in ("kb_match", "kb_confirm", "kb_choose"), step.evidence
    assert loaded.plan.nodes["plans_questions"].prompt["en"] not in said(step)
    assert dialog.state.pending == ""


def test_a_short_turn_about_no_choice_is_asked_again(clinic, engines):
    step = at_menu(clinic, engines).on_text("嗯", "zh")
    assert said(step).startswith(clinic.plan.prompts.not_understood["zh"]), said(step)


def test_own_words_route_by_meaning_where_listed_words_do_not(clinic, engines):
    words_only = at_menu(clinic, engines, meaning=False)
    assert words_only.on_text("周四那次我来不了了，帮我撤掉", "zh").reason == "menu_no_match"
    dialog = at_menu(clinic, engines)
    step = dialog.on_text("周四那次我来不了了，帮我撤掉", "zh")
    assert step.reason == "menu_choice" and dialog.state.node == "cancel_phone"
    assert step.evidence["matched"] == "meaning" and step.evidence["score"] >= 0.86
    english = at_menu(clinic, engines).on_text("what time do you close on Saturdays", "en")
    assert english.reason == "menu_choice" and english.node == "hours_info"


def test_a_cancellation_in_own_words_reaches_the_cancellation(clinic, engines):
    """周四的那个就算了吧我不来了 scores at the safety check's bar (self-harm 0.285 against 0.284
    with the guard net's n-gram voice), so a machine's float rounding decides whether the caller
    is first asked whether they are safe (it was, on 2026-12-05's first machine; not on the
    next): asked or not, a calm caller who says so ends at the cancellation, never handed over.
    (It was a strict xfail that passed or not with the machine.)"""
    dialog = at_menu(clinic, engines)
    step = dialog.on_text("周四的那个就算了吧我不来了", "zh")
    if step.reason == "safety_check":
        step = dialog.on_text("我没事", "zh")
    assert step.reason == "menu_choice" and dialog.state.node == "cancel_phone", step.reason
    assert not step.transfer


def test_meaning_understands_more_callers_without_more_wrong_routes(engines):
    runner = MenuRunner(engines.embedder)
    for section in ("dev", "holdout"):
        rows = load_menu_set(MENU_SET, section)
        words = outcome_counts(evaluate_menus(rows, runner, meaning=False))
        both = outcome_counts(evaluate_menus(rows, runner, meaning=True))
        assert both["right"] >= words["right"] + 12, (section, words, both)
        assert both["wrong"] <= words["wrong"] + 2, (section, words, both)
        assert both["none_routed"] <= 4, (section, both)
        # a question the knowledge base knows is answered at the menu: rarely off-menu talk
        assert both["none_answered"] <= 2 and both["answered"] >= 10, (section, both)
        # calm callers all: a hand-off guard takes few (measured 8 and 4 of 90); "is your
        # question ...?" is the knowledge base asking, not a guard
        assert both["guarded"] <= 10 and both["asked"] >= 10, (section, both)


def test_a_question_asked_at_the_menu_is_answered_there_and_a_topic_word_is_routed(engines):
    loaded = load_dialplan(ROOT / "dialplans" / "mobile-carrier.yaml")
    plan = loaded.plan
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    retriever = Retriever(entries, engines.embedder, plan.answers.min_score)

    def menu() -> DialogEngine:
        dialog = DialogEngine(plan, retriever, None, EventLog(ManualClock()),
                              menus=MenuMeaning(plan, engines.embedder))
        dialog.start()
        assert dialog.state.node == "main_menu"
        return dialog

    # the whole question: answered at the roaming node at once, not asked for again
    step = menu().on_text("I'm travelling abroad, what does it cost?", "en")
    assert step.reason == "menu_answer" and step.evidence["entry"] == "roaming_elsewhere"
    assert step.evidence["choice"] == "roaming_questions"
    assert "Travel Pass" in " ".join(getattr(a, "approved", "") for a in step.actions)
    assert "Where are you travelling" not in said(step)
    # a topic word alone picks the choice, and the node asks what the caller wants to know
    step = menu().on_text("roaming", "en")
    assert step.reason == "menu_choice" and "Where are you travelling" in said(step)
    # a billing question goes the plan's way: the account number first
    step = menu().on_text("how do I pay my bill with a credit card please", "en")
    assert step.reason == "menu_choice" and step.node == "billing_number"


def test_a_question_the_knowledge_base_answers_is_answered_at_the_menu(clinic, engines):
    dialog = at_menu(clinic, engines)
    step = dialog.on_text("is parking free for patients", "en")
    assert step.reason == "menu_question" and step.evidence["entry"] == "parking"
    assert step.evidence["score"] - step.evidence["runner_up"] >= clinic.plan.menus.question_margin
    answers = [a for a in step.actions if hasattr(a, "approved")]
    assert len(answers) == 1 and "two hours" in answers[0].approved
    assert said(step) == ("Anything else? You can say book, change, cancel, opening hours or "
                          "other questions.")
    assert dialog.state.node == "main_menu" and dialog.state.attempts == 0
    # the caller is still at the menu: a choice word now routes
    assert dialog.on_text("cancel", "en").node == "cancel_phone"


def test_a_question_holding_a_choice_word_is_answered_when_the_answer_fits_it_better(clinic,
                                                                                      engines):
    # 看病 ("see a doctor") books, but this caller asks what to bring: the knowledge base's
    # entry leads the booking choice's meaning score by the plan's question margin
    step = at_menu(clinic, engines).on_text("第一次去看病需要带哪些证件", "zh")
    assert step.reason == "menu_question" and step.evidence["entry"] == "what_to_bring"
    # a booking said as a booking still books
    step = at_menu(clinic, engines).on_text("我想下周三去看病，帮我约一下", "zh")
    assert (step.reason, step.node) == ("menu_choice", "book_date"), step.evidence
    # without a lead over the choice, the choice stands
    strict = clinic.plan.model_copy(update={"menus": clinic.plan.menus.model_copy(
        update={"question_margin": 0.2})})
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in strict.knowledge]
    dialog = DialogEngine(strict, Retriever(entries, engines.embedder, strict.answers.min_score),
                          None, EventLog(ManualClock()), now=WEDNESDAY_10AM,
                          menus=MenuMeaning(strict, engines.embedder))
    dialog.start()
    assert dialog.on_text("第一次去看病需要带哪些证件", "zh").node == "book_date"


def test_a_question_the_knowledge_base_does_not_know_is_not_answered_at_the_menu(clinic, engines):
    for text, language in (("is there a pharmacy near the clinic that's open late", "en"),
                           ("你们有牙科吗我想洗个牙", "zh")):
        step = at_menu(clinic, engines).on_text(text, language)
        assert step.reason != "menu_question", (text, step.evidence)
        assert not any(hasattr(a, "approved") for a in step.actions)
    off = clinic.plan.model_copy(update={"menus": clinic.plan.menus.model_copy(
        update={"questions": False})})
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in off.knowledge]
    dialog = DialogEngine(off, Retriever(entries, engines.embedder, off.answers.min_score), None,
                          EventLog(ManualClock()), now=WEDNESDAY_10AM,
                          menus=MenuMeaning(off, engines.embedder))
    dialog.start()
    assert dialog.on_text("is parking free for patients", "en").reason == "menu_no_match"


@pytest.mark.parametrize("text,meaning,node", [
    ("我想取消预约", False, "cancel_phone"),     # 取消预约 (cancel) holds 预约, the booking word
    ("我要修改预约", False, "change_phone"),
    ("cancel my appointment", False, "cancel_phone"),
    ("我想预约", False, "book_date"),
    ("预约", False, "book_date"),               # a shared word alone: still the choice it names
    ("预约", True, "book_date"),                # ... and by meaning too
])
def test_the_longest_word_said_names_the_choice(clinic, engines, text, meaning, node):
    dialog = at_menu(clinic, engines, meaning)
    step = dialog.on_text(text, "zh" if text[0] > "\u3000" else "en")
    assert (step.reason, step.node) == ("menu_choice", node), step.evidence


def test_a_question_whose_choice_says_the_answer_hears_it_once(clinic, engines):
    # "what time do you open" picks the opening-hours choice, whose node says the hours: the
    # FAQ's same answer is not said before it (a Chinese caller heard the hours twice, 17 s)
    hours = clinic.plan.nodes["hours_info"].say["zh"]
    for text in ("请问你们几点开门。", "你们周六几点开门？"):
        step = at_menu(clinic, engines).on_text(text, "zh")
        assert step.node == "hours_info" and "answered_first" not in step.evidence, text
        assert said(step).count(hours) == 1 and not any(isinstance(a, Answer) for a in step.actions)


def test_a_question_asked_with_a_choice_whose_flow_will_not_answer_it_is_answered_first(engines):
    # "lost phone" leads to blocking the SIM, which answers no question: the FAQ does, then the
    # flow goes on; the choice alone, or with menus.questions off, gets the flow only
    loaded = load_dialplan(ROOT / "dialplans" / "mobile-carrier.yaml")
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in loaded.plan.knowledge]
    retriever = Retriever(entries, engines.embedder, loaded.plan.answers.min_score)

    def asked(text: str, plan=loaded.plan):
        dialog = DialogEngine(plan, retriever, None, EventLog(ManualClock()),
                              menus=MenuMeaning(plan, engines.embedder))
        dialog.start()
        return dialog.on_text(text, "en")

    question = "my phone got stolen out of my bag, do I have to go to the police"
    step = asked(question)
    assert step.reason == "menu_choice" and step.node == "lost_block_now"
    assert step.evidence["answered_first"] == "stolen_phone_police"
    answer, prompt = step.actions
    assert answer.entry.id == "stolen_phone_police" and "block your SIM" in prompt.text
    step = asked("my phone was stolen")
    assert step.node == "lost_block_now" and "answered_first" not in step.evidence
    quiet = loaded.plan.model_copy(update={"menus": loaded.plan.menus.model_copy(
        update={"questions": False})})
    step = asked(question, quiet)
    assert step.node == "lost_block_now" and "answered_first" not in step.evidence
