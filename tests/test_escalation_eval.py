"""Tests for ivr.qa.escalation_eval and `ivr eval escalation`: the sets, and the figures of the
shipped plans measured through the dialog that runs on calls."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from ivr.cli import eval_cmd
from ivr.errors import IvrError
from ivr.qa.escalation_eval import (CLASSES, DevItem, ItemResult, TurnRunner, evaluate, load_set,
                                    score_results)
from ivr.safety.train import read_training
from ivr.text.normalize import normalize_text

DATA = Path(__file__).parent / "data"
DEV_SETS = tuple(DATA / f"escalation_{name}.yaml"
                 for name in ("dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8",
                              "dev15", "dev16", "dev17", "dev18", "dev19"))
HOLDOUT_SETS = {n: DATA / f"escalation_holdout{n}.yaml"
                for n in (4, 5, 7, 11, 12, 13, 14, 15, 16)}
# written as single turns, recogniser errors tagged "asr_error"
SINGLE_TURN_SETS = {*DEV_SETS[-9:], *(HOLDOUT_SETS[n] for n in (7, 11, 12, 13, 14, 15, 16))}
# written to find the misses of veiled self-harm and look-alikes: few turns of the other classes
FOCUSED_SETS = {DATA / "escalation_dev15.yaml"}
PLANS = Path(__file__).parent.parent / "dialplans"


def test_sets_are_large_split_and_disjoint() -> None:
    paths = (*DEV_SETS, *HOLDOUT_SETS.values())
    sets = [load_set(path) for path in paths]
    for path, holdout in zip(HOLDOUT_SETS.values(), sets[-len(HOLDOUT_SETS):]):
        english, chinese = (sum(1 for i in holdout if i.lang == lang) for lang in ("en", "zh"))
        # held-out 14 is Chinese-heavy; 16 was written as one of a pair (dev 16 beside it)
        least_zh, least = (130, 300) if path.name == "escalation_holdout16.yaml" else (150, 420)
        assert english >= 130 and chinese >= least_zh and english + chinese >= least, path.name
    for path, items in zip(paths, sets):
        for cls in CLASSES if path not in FOCUSED_SETS else ():
            for lang in ("en", "zh"):
                assert sum(1 for i in items if i.label == cls and i.lang == lang) >= 8, (cls, lang)
        assert sum(1 for i in items if "hard_negative" in i.tags) >= 25
        # dev 17 (2026-12-06) kept 8 after 26 turns already in project texts were dropped
        least_asr = 8 if path.name == "escalation_dev17.yaml" else 10
        assert sum(1 for i in items if {"asr", "asr_error"} & set(i.tags)) >= least_asr
        if path not in SINGLE_TURN_SETS:
            assert sum(1 for i in items if i.context) >= 8
    texts = [{normalize_text(i.text) for i in items} for items in sets]
    for k, one in enumerate(texts):
        for other in texts[k + 1:]:
            assert not one & other
    training, _, _ = read_training()
    assert not {normalize_text(t) for t in training} & set().union(*texts)


def test_a_set_holds_only_labelled_utterances(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("phrases: {emergency: {en: [fire]}}\nutterances: []\n")
    with pytest.raises(IvrError, match="only 'utterances'"):
        load_set(bad)
    bad.write_text("utterances:\n  - {text: hi, label: happy}\n")
    with pytest.raises(IvrError, match="label"):
        load_set(bad)
    with pytest.raises(IvrError, match="cannot read"):
        load_set(tmp_path / "missing.yaml")


@pytest.fixture(scope="module")
def acme() -> TurnRunner:
    return TurnRunner(PLANS / "acme-mobile.yaml")


@pytest.fixture(scope="module")
def clinic(acme) -> TurnRunner:
    return TurnRunner(PLANS / "clinic-appointments.yaml", acme.embedder.inner)


def test_the_runner_uses_the_plans_own_rules(acme, clinic) -> None:
    # the clinic plan lists 前台 ("reception") as a request for a person; the built-ins do not
    assert clinic.classify("我找前台", "zh")[0] == "human"
    assert acme.classify("How much is roaming in Spain?", "en")[0] == "neutral"
    label, detail = acme.classify("This is the third time, my bill is still wrong", "en",
                                  context=["My bill is wrong.", "My bill is still wrong."])
    assert label in ("frustrated", "angry") and detail.get("repeats") == 2


# Floors just below the figures measured on held-out sets 4, 5, 7, 11 to 16 (written blind, never tuned
# on) with the shipped plans; see README "Hand-off to humans" for the full tables. Several are below
# the targets of the safety issue (urgent recall 1.00, calm callers sent to emergency help <= 5 %):
# they record where the guard stands, so that a change that makes it worse fails. Two person-recall
# floors were lowered for the three-voice net, which misses fewer emergencies and self-harm turns
# on these sets (20 -> 11 of 1,061) but more requests for a person on two of them.
# {(set, plan, lang): (urgent recall, calm false-urgent share at most, human recall, angry recall)}
HELD_OUT_FLOORS = {
    # measured with the three-voice net (2026-12-04; the two-voice net's figures in brackets)
    (4, "acme", "en"): (0.96, 0.07, 0.95, 0.93),    # measured 0.99 (73/74), 4/122, 1.00, 0.97
    (4, "clinic", "en"): (0.96, 0.07, 0.95, 0.93),  # the same English figures
    (4, "clinic", "zh"): (0.95, 0.08, 0.95, 0.88),  # measured 0.98 (49/50), 5/98 (6), 1.00, 0.95
    (5, "acme", "en"): (0.97, 0.07, 0.93, 0.95),    # measured 1.00 (83/83; 82), 6/153 (4), 1.00,
                                                    # 1.00
    (5, "clinic", "zh"): (0.98, 0.08, 0.88, 0.92),  # measured 1.00 (56/56), 8/125 (10), 0.90
                                                    # (0.95), 0.96
    (7, "acme", "en"): (0.98, 0.07, 0.95, 0.88),    # measured 1.00 (60/60; 59), 4/130 (6), 1.00,
                                                    # 0.94
    (7, "clinic", "zh"): (0.98, 0.05, 0.95, 0.92),  # measured 1.00 (45/45), 2/93, 1.00, 0.96
    (11, "acme", "en"): (0.98, 0.03, 0.9, 0.9),     # measured 1.00 (73/73), 1/140, 0.95, 0.93
    (11, "clinic", "zh"): (0.98, 0.04, 0.95, 0.9),  # measured 1.00 (57/57), 1/103, 1.00, 0.93
    (12, "acme", "en"): (0.98, 0.05, 0.92, 0.9),    # measured 0.99 (88/89; 86), 6/157, 0.96, 0.93
    (12, "clinic", "zh"): (0.97, 0.09, 0.8, 0.88),  # measured 0.99 (68/69), 9/121 (10), 0.85, 0.92
    (13, "acme", "en"): (0.98, 0.04, 0.94, 0.9),    # measured 0.99 (87/88), 5/164 (4), 0.97, 0.97
    (13, "clinic", "zh"): (0.96, 0.03, 0.95, 0.88), # measured 0.97 (72/74; 70), 2/130 (4), 1.00,
                                                    # 0.93 (0.89)
    (14, "acme", "en"): (0.95, 0.06, 0.95, 0.88),   # measured 0.97 (38/39), 3/64, 1.00, 0.92 (0.85)
    (14, "clinic", "zh"): (0.95, 0.04, 0.95, 0.95), # measured 0.96 (82/85; 81), 3/133, 0.96
                                                    # (1.00), 1.00 (0.96)
    (15, "acme", "en"): (0.98, 0.07, 0.85, 0.9),    # measured 1.00 (59/59; 58), 4/87, 0.86
                                                    # (1.00), 0.96
    (15, "clinic", "zh"): (0.98, 0.04, 0.9, 0.92),  # measured 1.00 (60/60; 59), 2/89, 0.96, 1.00
    # held-out 16, written 2026-12-05 and run blind once with the head shipped then
    (16, "acme", "en"): (0.98, 0.06, 0.85, 0.9),    # measured 1.00 (55/55), 3/62, 0.88, 1.00
    (16, "clinic", "zh"): (0.95, 0.04, 0.8, 0.9),   # measured 0.96 (43/45), 1/53, 0.86, 1.00
}


@pytest.mark.parametrize("held_out,plan,lang", sorted(HELD_OUT_FLOORS))
def test_heldout_figures(request, held_out: int, plan: str, lang: str) -> None:
    runner = request.getfixturevalue(plan)
    report = evaluate(HOLDOUT_SETS[held_out], runner.plan_path, languages=[lang], runner=runner)
    urgent_recall, false_urgent_share, human_recall, angry_recall = \
        HELD_OUT_FLOORS[held_out, plan, lang]
    false_urgent, calm = report.calm_false_urgent
    assert report.urgent.recall >= urgent_recall, report.table()
    assert false_urgent / calm <= false_urgent_share, report.table()
    assert report.per_class["human"].recall >= human_recall, report.table()
    assert report.per_class["angry"].recall >= angry_recall, report.table()
    assert report.accuracy >= 0.85, report.table()               # measured 0.90


def test_report_table_lists_classes_confusion_and_errors() -> None:
    items = [DevItem("a", "en", "emergency"), DevItem("b", "en", "neutral"),
             DevItem("c", "en", "neutral"), DevItem("d", "en", "self_harm")]
    report = score_results([ItemResult(items[0], "emergency"), ItemResult(items[1], "neutral"),
                            ItemResult(items[2], "emergency", heard="see"),
                            ItemResult(items[3], "emergency")], set_path="x.yaml")
    assert report.per_class["emergency"].precision == pytest.approx(1 / 3)
    assert report.per_class["neutral"].recall == 0.5
    assert report.per_class["human"].support == 0
    assert report.urgent.recall == 1.0 and report.calm_false_urgent == (1, 2)
    table = report.table()
    assert "x.yaml" in table and "urgent" in table and "   -" in table   # undefined as "-"
    assert "neutral    -> emergency  'c'  [heard: 'see']" in table


def test_cli_reports_each_plan_and_fails_under_min_recall(tmp_path: Path, capsys) -> None:
    small = tmp_path / "small.yaml"
    small.write_text("utterances:\n"
                     "  - {text: \"My husband can't breathe.\", lang: en, label: emergency}\n"
                     "  - {text: \"How do I pay my bill?\", lang: en, label: neutral}\n"
                     "  - {text: \"Is roaming included?\", lang: en, label: human}\n")
    args = argparse.Namespace(sets=[small], dialplan=[PLANS / "acme-mobile.yaml"], audio=False,
                              limit=None, lang=None, errors=True, tts_noise=False,
                              min_recall=0.9)
    assert eval_cmd.run_escalation(args) == 1
    out = capsys.readouterr().out
    assert "acme-mobile.yaml" in out and "recall below 0.9: acme-mobile.yaml small.yaml human" in out
    args.min_recall = None
    assert eval_cmd.run_escalation(args) == 0
    with pytest.raises(IvrError, match="no such set"):
        eval_cmd.run_escalation(argparse.Namespace(**{**vars(args), "sets": [tmp_path / "x.yaml"]}))


# --- audio mode: piper -> G.711 -> the plan's whisper -> the dialog -------------------------------

@pytest.mark.slow
def test_audio_mode_on_a_handful(tmp_path: Path, acme, capsys) -> None:
    small = tmp_path / "small.yaml"
    small.write_text(
        "utterances:\n"
        "  - {text: \"My dad's lips have gone blue and he's gasping.\", lang: en, label: emergency}\n"
        "  - {text: \"I don't want to be alive anymore.\", lang: en, label: self_harm}\n"
        "  - {text: \"Can I speak to someone please?\", lang: en, label: human}\n"
        "  - {text: \"How much does roaming cost in Spain?\", lang: en, label: neutral}\n"
        "  - {text: \"我胸口痛\", lang: zh, label: emergency}\n", encoding="utf-8")
    report = evaluate(small, acme.plan_path, audio=True, progress=True, runner=acme)
    assert "escalation audio" in capsys.readouterr().err          # the tqdm bar
    assert len(report.results) == 2 * 4                          # English only, normal and +12 dB
    assert all(r.heard for r in report.results)
    for r in report.results:
        if r.item.label != "neutral":
            assert r.correct, report.table()                     # safety classes: no misses
        if r.variant == "gain=4":
            assert r.detail.get("loudness_delta_db", 0) > 6 or r.item.label != "neutral"
    loud_neutral = [r for r in report.results if r.item.label == "neutral" and r.variant == "gain=4"]
    assert loud_neutral and all(r.predicted == "neutral" for r in loud_neutral), report.table()


@pytest.mark.slow
def test_audio_mode_speaks_chinese_callers_with_kokoro(tmp_path: Path, clinic) -> None:
    small = tmp_path / "small_zh.yaml"
    small.write_text(
        "utterances:\n"
        "  - {text: \"我爸突然倒在地上，怎么叫都不应。\", lang: zh, label: emergency}\n"
        "  - {text: \"我想约下周三上午看牙科。\", lang: zh, label: neutral}\n", encoding="utf-8")
    report = evaluate(small, clinic.plan_path, audio=True, runner=clinic, gains=(1.0,))
    assert [r.item.lang for r in report.results] == ["zh", "zh"]
    assert all(r.heard and any("\u4e00" <= c <= "\u9fff" for c in r.heard)
               for r in report.results)                         # whisper heard Chinese
    assert [r.predicted for r in report.results] == ["emergency", "neutral"], report.table()
