"""Tests for ivr.qa.escalation_eval and `ivr eval escalation` on the development set."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from ivr.cli import eval_cmd
from ivr.errors import IvrError
from ivr.qa.escalation_eval import (CLASSES, DevItem, EscalationClassifier, ItemResult, evaluate,
                                    load_set, score_results)

DEV_SET = Path(__file__).parent / "data" / "escalation_dev.yaml"

# Measured on the development set in text mode: precision and recall 1.00 for every class
# (94 utterances). The floor allows one miss in the smallest class (16 human requests).
TEXT_FLOOR = 0.93


@pytest.fixture(scope="module")
def text_report():
    return evaluate(DEV_SET)


def test_dev_set_shape() -> None:
    dev = load_set(DEV_SET)
    assert len(dev.items) >= 60
    for cls in CLASSES:
        for lang in ("en", "zh"):
            assert sum(1 for i in dev.items if i.label == cls and i.lang == lang) >= 5, (cls, lang)
    assert sum(1 for i in dev.items if "hard_negative" in i.tags) >= 15
    assert sum(1 for i in dev.items if "asr" in i.tags) >= 10
    assert any(i.context for i in dev.items)


@pytest.mark.parametrize("cls", CLASSES)
def test_text_mode_precision_and_recall(text_report, cls: str) -> None:
    score = text_report.per_class[cls]
    assert score.precision >= TEXT_FLOOR and score.recall >= TEXT_FLOOR, text_report.table()


def test_text_mode_catches_every_emergency(text_report) -> None:
    assert text_report.per_class["emergency"].recall == 1.0, text_report.table()
    assert text_report.accuracy >= 0.96


def test_report_table_lists_classes_confusion_and_errors() -> None:
    items = [DevItem("a", "en", "emergency"), DevItem("b", "en", "neutral"),
             DevItem("c", "en", "neutral")]
    report = score_results([ItemResult(items[0], "emergency"), ItemResult(items[1], "neutral"),
                            ItemResult(items[2], "emergency", heard="see")], set_path="x.yaml")
    assert report.per_class["emergency"].precision == 0.5
    assert report.per_class["neutral"].recall == 0.5
    assert report.per_class["human"].support == 0
    table = report.table()
    assert "x.yaml" in table and "emergency" in table and "   -" in table   # undefined as "-"
    assert "neutral   -> emergency 'c'  [heard: 'see']" in table
    assert report.confusion[("neutral", "emergency")] == 1


def test_classifier_priority_and_context() -> None:
    dev = load_set(DEV_SET)
    clf = EscalationClassifier(dev.phrases, dev.exclusions)
    assert clf.classify("This is ridiculous, I can't breathe").label == "emergency"
    assert clf.classify("This is ridiculous, get me an agent").label == "human"
    complaint = "You charged me twice for roaming, my bill is wrong."
    assert clf.classify(complaint).label == "neutral"
    assert clf.classify(complaint, context=["My bill is wrong, you charged me twice for roaming.",
                                            "Roaming was charged twice, the bill is wrong."]
                        ).label == "angry"


def test_load_set_rejects_bad_labels(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"utterances": [{"text": "hi", "label": "furious"}]}))
    with pytest.raises(IvrError, match="label"):
        load_set(bad)
    with pytest.raises(IvrError):
        load_set(tmp_path / "missing.yaml")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ivr")
    sub = parser.add_subparsers(dest="command", required=True)
    eval_cmd.register(sub)
    return parser.parse_args(argv)


def test_cli_prints_the_table(capsys) -> None:
    args = parse(["eval", "escalation", str(DEV_SET), "--lang", "zh"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "escalation eval:" in out and "precision" in out and "(text," in out
    args = parse(["eval", "escalation", str(DEV_SET), "--limit", "3", "--min-recall", "1.01"])
    assert args.func(args) == 1
    with pytest.raises(IvrError):
        args = parse(["eval", "escalation", "nope.yaml"])
        args.func(args)


# --- audio mode: piper -> G.711 -> whisper tiny.en ----------------------------------------------

@pytest.mark.slow
def test_audio_mode_on_a_handful(tmp_path: Path, capsys) -> None:
    dev = yaml.safe_load(DEV_SET.read_text(encoding="utf-8"))
    picked = ["I have chest pain and my left arm is numb.", "I can not breathe properly.",
              "Can I speak to someone please?", "This is absolutely unacceptable.",
              "How much does roaming cost in Spain?", "I lost my phone yesterday."]
    dev["utterances"] = [u for u in dev["utterances"] if u["text"] in picked]
    assert len(dev["utterances"]) == len(picked)
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(dev, allow_unicode=True), encoding="utf-8")

    report = evaluate(small, audio=True, progress=True)
    assert "escalation audio" in capsys.readouterr().err          # the tqdm bar
    assert len(report.results) == 2 * len(picked)                # normal and +12 dB
    assert all(r.heard for r in report.results)
    for r in report.results:
        if r.item.label in ("emergency", "human"):
            assert r.correct, report.table()                     # safety classes: no misses
        if r.variant == "gain=4":
            assert r.detail.get("loudness_delta_db", 99) > 6 or r.item.label in ("emergency",
                                                                                   "human")
    loud_neutral = [r for r in report.results if r.item.label == "neutral" and r.variant == "gain=4"]
    assert loud_neutral and all(r.predicted == "neutral" for r in loud_neutral), report.table()
    assert report.accuracy >= 11 / 12, report.table()
