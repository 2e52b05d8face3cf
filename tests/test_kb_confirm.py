"""A question that nearly matches an FAQ entry (`answers.confirm_score` up to `min_score`) gets
"Is your question: ...?" instead of "I can't help"; yes answers it, no is a miss, anything else
is a new turn. One that fits two entries about equally (`answers.tie_margin`) gets "Is your
question: A, or B?"; the caller names one. Real e5 retrieval on the shipped plans."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.audio.g711 import phone_line
from ivr.dialog.actions import Answer, Say
from ivr.dialog.ordinals import ordinal_choice
from ivr.dialplan.loader import load_dialplan
from ivr.errors import IvrError
from ivr.events import EventLog, ManualClock
from ivr.qa.kb_eval import KBQuestion, KBRunner
from ivr.session.offline import ScriptTurn, run_script
from ivr.session.session import CallSession

from conftest import transcribe, words

PLANS = Path(__file__).parent.parent / "dialplans"
NEAR = "is it expensive to phone home from spain"   # roaming, just under the plan's min_score


@pytest.fixture(scope="module")
def runner() -> KBRunner:
    return KBRunner(load_dialplan(PLANS / "acme-mobile.yaml"))


def asked(runner: KBRunner, text: str = NEAR, plan=None):
    dialog = runner.engine(plan)
    dialog.start()
    return dialog, dialog.on_text(text, "en")


def test_the_question_scores_between_confirm_score_and_min_score(runner) -> None:
    match = runner.retriever.search(NEAR)
    answers = runner.plan.answers
    assert match.entry is None and match.nearest.id == "roaming"
    assert answers.confirm_score <= match.score < answers.min_score


def test_a_near_match_is_asked_about_and_yes_answers_it(runner) -> None:
    dialog, step = asked(runner)
    assert step.reason == "kb_confirm" and step.evidence["asked_about"] == "roaming"
    assert [a.text for a in step.actions if isinstance(a, Say)] == \
        ["Is your question: How much does roaming cost?"]
    step = dialog.on_text("yes please", "en")
    answers = [a for a in step.actions if isinstance(a, Answer)]
    assert step.reason == "kb_match" and step.evidence["confirmed"] is True
    assert [a.entry.id for a in answers] == ["roaming"] and answers[0].question == NEAR
    assert dialog.state.unresolved == 0


def test_no_is_a_miss_and_another_question_is_a_new_turn(runner) -> None:
    dialog, _ = asked(runner)
    step = dialog.on_text("no", "en")
    assert step.reason == "out_of_scope" and step.evidence["declined_entry"] == "roaming"
    assert dialog.state.unresolved == 1 and dialog.state.confirming == ((), "")
    dialog, _ = asked(runner)
    step = dialog.on_text("How do I pay my bill?", "en")
    assert step.reason == "kb_match" and step.evidence["entry"] == "pay_bill"


def test_a_hand_off_drops_the_question(runner) -> None:
    dialog, _ = asked(runner)
    step = dialog.on_text("I want to talk to a real person", "en")
    assert step.reason == "caller_asked_for_human" and dialog.state.confirming == ((), "")


def test_without_confirm_score_a_near_match_is_a_miss(runner) -> None:
    answers = runner.plan.answers.model_copy(update={"confirm_score": None})
    _, step = asked(runner, plan=runner.plan.model_copy(update={"answers": answers}))
    assert step.reason == "out_of_scope"


@pytest.mark.parametrize("scores, reason", [({"en": 0.85}, "kb_confirm"),
                                             ({"zh": 0.85}, "out_of_scope")])
def test_confirm_score_per_language_asks_only_callers_of_those_languages(runner, scores,
                                                                         reason) -> None:
    answers = runner.plan.answers.model_copy(update={"confirm_score": scores})
    _, step = asked(runner, plan=runner.plan.model_copy(update={"answers": answers}))
    assert step.reason == reason


def test_the_clinic_asks_english_callers_about_a_near_match() -> None:
    # its confirm_score is English only: "should I bring my old medical records" scores just
    # under min_score against what to bring, and is asked about instead of "didn't catch that"
    clinic = KBRunner(load_dialplan(PLANS / "clinic-appointments.yaml"))
    assert clinic.plan.answers.confirm_floor("zh") is None
    dialog = clinic.engine()
    dialog.start()
    step = dialog.on_text("should i bring my old medical records along", "en")
    assert step.reason == "kb_confirm" and step.evidence["asked_about"] == "what_to_bring"


def test_an_unrelated_question_is_not_asked_about(runner) -> None:
    _, step = asked(runner, "What is the capital of France?")
    assert step.reason == "out_of_scope"


def test_confirm_score_must_be_below_min_score(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    text = (PLANS / "acme-mobile.yaml").read_text()
    bad.write_text(text.replace("  confirm_score: 0.85", "  confirm_score: 0.9"))
    with pytest.raises(IvrError, match=r"plan.yaml:\d+:\d+: answers: confirm_score \(0.9\) must "
                                       r"be below min_score"):
        load_dialplan(bad)
    bad.write_text(text.replace("  confirm_score: 0.85", "  confirm_score: {en: 0.85, zh: 0.9}"))
    with pytest.raises(IvrError, match=r"answers: confirm_score.zh \(0.9\) must be below"):
        load_dialplan(bad)
    bad.write_text(text.replace("  confirm_score: 0.85", "  confirm_score: {EN: 0.85}"))
    with pytest.raises(IvrError, match=r"plan.yaml:\d+:\d+: answers.confirm_score.EN: unknown "
                                       r"language 'EN', expected one of: en"):
        load_dialplan(bad)


def test_the_kb_eval_answers_like_a_caller(runner) -> None:
    meant = asyncio.run(runner.ask(KBQuestion(NEAR, "en", "faq", "dev", "roaming")))
    assert meant.confirm == ("roaming",) and meant.correct and meant.path == "faq"
    other = asyncio.run(runner.ask(KBQuestion(NEAR, "en", "faq", "dev", "pay_bill")))
    assert other.confirm == ("roaming",) and not other.correct and other.path == "declined"


@pytest.fixture(scope="module")
def carrier(runner) -> KBRunner:
    """The mobile-carrier plan starts at a menu (its FAQ is reached through the choices)."""
    return KBRunner(load_dialplan(PLANS / "mobile-carrier.yaml"), embedder=runner.embedder.inner)


def test_at_a_menu_a_near_match_is_asked_about_and_the_choices_follow_its_answer(carrier) -> None:
    dialog, step = asked(carrier)
    menu = dialog.state.node
    assert carrier.plan.nodes[menu].type == "menu"
    assert step.reason == "kb_confirm" and step.evidence["asked_about"] == "roaming_elsewhere"
    assert [a.text for a in step.actions] == \
        ["Is your question: How much does roaming cost in Europe?"]
    step = dialog.on_text("yes", "en")
    answer, after = step.actions
    assert isinstance(answer, Answer) and answer.entry.id == "roaming_elsewhere"
    assert after.text.startswith("Anything else?") and "roaming" in after.text
    assert step.node == menu == dialog.state.node and dialog.state.confirming == ((), "")


def test_at_a_menu_no_names_the_choices_again(carrier) -> None:
    dialog, _ = asked(carrier)
    step = dialog.on_text("no, that's not it", "en")
    assert step.reason == "confirm_declined" and dialog.state.unresolved == 0
    assert [a.text for a in step.actions] == \
        ["You can say billing, data plans, outage, roaming or lost phone, or say repeat to hear all "
         "the options."]
    step = dialog.on_text("roaming", "en")
    assert step.reason == "menu_choice" and step.node == "roaming_questions"


def test_at_a_menu_an_entry_without_a_clear_lead_is_asked_about(carrier) -> None:
    # autopay leads pay_bill by ~0.012: no clear lead to answer at once, no tie to ask which of
    # two, so the bot asks about the best entry instead of "sorry, I didn't catch that"
    question = "Can you just take the money automatically every month?"
    match = carrier.retriever.search(question)
    assert match.entry.id == "autopay"
    assert carrier.plan.answers.tie_margin <= match.score - match.runner_up \
        < carrier.plan.menus.question_margin
    dialog = carrier.engine()
    dialog.start()
    step = dialog.on_text(question, "en")
    assert step.reason == "kb_confirm" and step.evidence["asked_about"] == "autopay"
    step = dialog.on_text("yes", "en")
    assert step.evidence.get("entry") == "autopay"


def test_a_choice_whose_answer_node_cannot_answer_the_question_leaves_no_trace(carrier) -> None:
    # the outage answers are tried on the caller's words; they do not answer, so the caller
    # hears the outage prompt with no miss counted and nothing asked about
    dialog = carrier.engine()
    dialog.start()
    step = dialog.on_text("it's about the signal where I live please", "en")
    assert step.reason == "menu_choice" and step.node == "outage_questions"
    assert dialog.state.unresolved == 0 and dialog.state.confirming == ((), "")


def test_a_question_asked_with_a_choice_is_asked_about_at_its_answer_node(runner) -> None:
    # "warranty" picks the hardware line's other-questions node; the question fits two of its
    # entries about equally, so the caller is asked which instead of "What would you like to
    # know?", and the second one is answered
    hardware = KBRunner(load_dialplan(PLANS / "it-hardware-support.yaml"),
                        embedder=runner.embedder.inner)
    dialog = hardware.engine()
    dialog.start()
    dialog.on_text("S N 4 4 7 1 9 2", "en")
    step = dialog.on_text("what warranty options are there", "en")
    assert step.reason == "menu_answer" and step.node == "general_questions"
    assert step.evidence["asked_about"] == ["warranty_status", "warranty_extension"]
    assert [a.text for a in step.actions if isinstance(a, Say)] == [
        "Is your question: Is my server still under warranty, or Can I extend my warranty?"]
    step = dialog.on_text("the second one", "en")
    assert [a.entry.id for a in step.actions if isinstance(a, Answer)] == ["warranty_extension"]


def test_the_kb_eval_answers_what_is_asked_once_a_kept_question_is_taken_up(runner) -> None:
    # the hardware line asks for the serial number first; the question kept there nearly matches
    # an entry at the menu behind it, so the bot asks about it once the serial is given
    hardware = KBRunner(load_dialplan(PLANS / "it-hardware-support.yaml"),
                        embedder=runner.embedder.inner)
    question = KBQuestion("how do i get the latest version for the management controller", "en",
                          "faq", "dev",
                          "firmware_update", slots=(("serial_number", "S N 4 4 7 1 9 2"),))
    result = asyncio.run(hardware.ask(question))
    assert result.confirm == ("firmware_update",) and result.correct and result.path == "faq"


TIE = "my data plan doesn't work abroad"   # roaming and outage, a few thousandths apart


def test_a_question_that_fits_two_entries_asks_which(runner) -> None:
    match = runner.retriever.search(TIE)
    assert {match.entry.id, match.second.id} == {"roaming", "outage"}
    assert match.score - match.runner_up < runner.plan.answers.tie_margin
    dialog, step = asked(runner, TIE)
    assert step.reason == "kb_choose" and step.evidence["asked_about"] == ["roaming", "outage"]
    first, second = (dialog.entry_question(e) for e in (match.entry, match.second))
    assert [a.text for a in step.actions] == [f"Is your question: {first}, or {second}?"]
    assert not any(isinstance(a, Answer) for a in step.actions)


@pytest.mark.parametrize("reply, entry", [("the roaming one", "roaming"),
                                          ("no, the roaming one", "roaming"),
                                          ("is the network down", "outage"),
                                          ("the second one", "outage"),
                                          ("first", "roaming")])
def test_the_caller_names_the_entry_they_meant(runner, reply: str, entry: str) -> None:
    dialog, _ = asked(runner, TIE)
    step = dialog.on_text(reply, "en")
    answers = [a for a in step.actions if isinstance(a, Answer)]
    assert step.reason == "kb_match" and [a.entry.id for a in answers] == [entry]
    assert answers[0].question == TIE and dialog.state.confirming == ((), "")


def test_a_bare_yes_to_two_entries_asks_which_one_again_and_then_ends_as_misses_end(
        runner) -> None:
    dialog, _ = asked(runner, TIE)
    step = dialog.on_text("yes", "en")
    first, second = (dialog.entry_question(e) for e in (runner.retriever.search(TIE).entry,
                                                        runner.retriever.search(TIE).second))
    assert step.reason == "kb_choose" and step.evidence["again"] is True
    assert [a.text for a in step.actions] == [f"Which one do you mean: {first}, or {second}?"]
    assert dialog.state.unresolved == 1
    named = dialog.on_text("the second one", "en")
    assert [a.entry.id for a in named.actions if isinstance(a, Answer)] == ["outage"]
    # yes after yes: each counts as an unresolved turn, and the last of them hands over
    dialog, _ = asked(runner, TIE)
    limit = dialog.escalation().max_unresolved_turns
    reasons = [dialog.on_text("yes", "en").reason for _ in range(limit)]
    assert reasons[:-1] == ["kb_choose"] * (limit - 1) and reasons[-1] != "kb_choose"
    assert dialog.state.confirming == ((), "")


def test_neither_is_a_miss(runner) -> None:
    dialog, _ = asked(runner, TIE)
    step = dialog.on_text("no, neither of those", "en")
    assert step.evidence["declined_entry"] == ["roaming", "outage"]
    assert dialog.state.unresolved == 1 and not any(isinstance(a, Answer) for a in step.actions)


def test_without_a_tie_margin_the_best_entry_is_answered(runner) -> None:
    plan = runner.plan.model_copy(update={"answers": runner.plan.answers.model_copy(
        update={"tie_margin": 0.0})})
    _, step = asked(runner, TIE, plan)
    assert step.reason == "kb_match" and step.evidence["entry"] == "roaming"


def test_the_kb_eval_caller_repeats_the_entry_they_meant(runner) -> None:
    meant = asyncio.run(runner.ask(KBQuestion(TIE, "en", "faq", "dev", "outage")))
    assert meant.confirm == ("roaming", "outage") and meant.correct and meant.entry == "outage"
    other = asyncio.run(runner.ask(KBQuestion(TIE, "en", "faq", "dev", "pay_bill")))
    assert other.confirm == ("roaming", "outage") and not other.correct


def test_choose_question_names_both_entries(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    text = (PLANS / "acme-mobile.yaml").read_text()
    bad.write_text(text.replace("prompts:\n", "prompts:\n  choose_question: {en: 'Is it {question}?'}\n", 1))
    with pytest.raises(IvrError, match=r"choose_question.*only placeholders here are \{first\} "
                                       r"and \{second\}"):
        load_dialplan(bad)


@pytest.mark.parametrize("reply, language, position", [
    ("the first one", "en", 0), ("second", "en", 1), ("the latter please", "en", 1),
    ("two", "en", 1), ("I have two questions about my bill", "en", None),
    ("the other one", "en", None), ("第二个", "zh", 1), ("第一個吧", "zh", 0),
    ("后面那个", "zh", 1), ("都不是", "zh", None)])
def test_a_reply_names_an_option_by_position(reply: str, language: str, position) -> None:
    assert ordinal_choice(reply, language) == position


@pytest.mark.parametrize("reply", ["no, neither of those", "nope", "none of them"])
def test_a_plain_no_names_neither_entry(runner, reply: str) -> None:
    dialog, _ = asked(runner, TIE)
    step = dialog.on_text(reply, "en")
    assert not any(isinstance(a, Answer) for a in step.actions)
    assert step.reason in ("out_of_scope", "cannot_help") and dialog.state.unresolved == 1


@pytest.fixture(scope="module")
def clinic(runner) -> KBRunner:
    return KBRunner(load_dialplan(PLANS / "clinic-appointments.yaml"),
                    embedder=runner.embedder.inner)


@pytest.mark.parametrize("reply, entry", [("不是", None), ("都不是", None), ("我问的是医保", "insurance"),
                                          ("地址", "address"), ("第二个", "address")])
def test_a_mandarin_caller_names_one_of_two_or_neither(clinic, reply: str, entry) -> None:
    dialog = clinic.engine()
    dialog.start()
    dialog.state.confirming = (("insurance", "address"), "看病能报销吗，诊所在哪")
    step = dialog.on_text(reply, "zh")
    assert [a.entry.id for a in step.actions if isinstance(a, Answer)] == ([entry] if entry else [])


def test_by_voice_the_caller_hears_both_questions_and_names_the_second(engines, voice_en) -> None:
    # piper caller -> G.711 -> whisper -> dialog -> piper bot, through the offline call driver
    plan = load_dialplan(PLANS / "acme-mobile.yaml")
    script = [ScriptTurn(audio=phone_line(b"".join(s.pcm for s in voice_en.speak_all(text))))
              for text in (TIE, "The second one.")]
    clock = ManualClock()
    events = EventLog(clock)
    session = CallSession("choose", plan, engines, events)
    result = asyncio.run(run_script(session, clock, script))
    decisions = [e.data for e in events.of_kind("dialog.decision")]
    asked_at = next(i for i, d in enumerate(decisions) if d["reason"] == "kb_choose")
    assert decisions[asked_at]["asked_about"] == ["roaming", "outage"]
    assert decisions[asked_at + 1]["reason"] == "kb_match"
    assert decisions[asked_at + 1]["entry"] == "outage"
    outage = next(k for k in plan.plan.knowledge if k.id == "outage").answer["en"]
    heard = words(transcribe(engines, result.bot_audio))
    assert {"roaming", "or"} <= heard and len(words(outage) & heard) >= len(words(outage)) * 0.7


# ---- an answer to a cost question must state a price ------------------------------------
@pytest.mark.parametrize("question, lang, near", [
    ("how much does a flu shot cost", "en", "vaccinations"),
    ("打流感疫苗要多少钱", "zh", "vaccinations"),
])
def test_a_cost_question_is_not_answered_by_an_entry_stating_no_cost(clinic, question, lang,
                                                                     near) -> None:
    assert clinic.retriever.search(question).nearest.id == near   # near on its words
    result = asyncio.run(clinic.ask(KBQuestion(question, lang, "decline", "dev")))
    assert result.path not in ("faq", "documents", "converse") and result.correct

