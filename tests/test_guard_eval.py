"""`ivr eval guard`: the hand-off guard alone on every turn of labelled sets, saved and compared,
held-out turns counted but never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.cli.main import main
from ivr.errors import IvrError
from ivr.qa.guard_eval import GuardTurn, changes, load, table, tally

PLAN = Path(__file__).parent.parent / "dialplans" / "clinic-appointments.yaml"
HELD_OUT_TEXT = "what time does the clinic open on saturdays"


def turn(label: str, kind: str, text: str = "t", name: str = "escalation_dev9.yaml",
         lang: str = "en") -> GuardTurn:
    return GuardTurn(name, lang, label, kind, "" if "holdout" in name else text)


def test_counts_per_part_and_language() -> None:
    counts = tally([turn("emergency", "emergency"), turn("self_harm", "emergency"),
                    turn("self_harm", "check_in"), turn("human", "human"),
                    turn("angry", "frustrated"), turn("neutral", "self_harm"),
                    turn("neutral", "angry"), turn("frustrated", "emergency"),
                    turn("neutral", "calm", name="escalation_holdout9.yaml", lang="zh")])
    dev = counts["dev", "en"]
    assert (dev["urgent"], dev["urgent_n"]) == (2, 3)
    assert (dev["human"], dev["human_n"], dev["angry"], dev["angry_n"]) == (1, 1, 0, 1)
    assert (dev["calm_urgent"], dev["calm_angry"], dev["calm_n"]) == (1, 1, 2)
    assert counts["held-out", "zh"]["calm_n"] == 1 and counts["held-out", "zh"]["calm_urgent"] == 0
    shown = table(counts, tally([turn("emergency", "calm")]))
    assert "0/1 -> 2/3" in shown.splitlines()[1]      # urgent, dev en: before -> after


def test_changes_list_development_turns_and_only_count_held_out_ones() -> None:
    before = [turn("neutral", "emergency", "a fire on the news"),
              turn("emergency", "emergency", name="escalation_holdout9.yaml")]
    after = [turn("neutral", "calm", "a fire on the news"),
             turn("emergency", "calm", name="escalation_holdout9.yaml")]
    moved, held_out = changes(before, after)
    assert [(a.kind, b.kind, b.text) for a, b in moved] == [("emergency", "calm",
                                                            "a fire on the news")]
    assert held_out == {"escalation_holdout9.yaml": 1}
    with pytest.raises(IvrError, match="other turns"):
        changes(before, [turn("neutral", "calm", "another turn")])


def test_a_file_that_is_no_saved_run_is_refused(tmp_path) -> None:
    bad = tmp_path / "run.json"
    bad.write_text("{not json")
    with pytest.raises(IvrError, match="not a saved guard run"):
        load(bad)


def test_the_command_saves_compares_and_never_shows_held_out_text(tmp_path, capsys) -> None:
    dev = tmp_path / "escalation_devx.yaml"
    dev.write_text(
        "utterances:\n"
        "  - {text: \"my husband collapsed and he's not breathing\", lang: en, label: emergency}\n"
        "  - {text: \"can I talk to a real person please\", lang: en, label: human}\n"
        "  - {text: \"I saw on the news that a phone shop caught fire, is my order late\", "
        "lang: en, label: neutral}\n"
        "  - {text: \"yes\", lang: en, label: neutral, context: [\"is that right?\"]}\n",
        encoding="utf-8")
    held = tmp_path / "escalation_holdoutx.yaml"
    held.write_text(f"utterances:\n  - {{text: \"{HELD_OUT_TEXT}\", lang: en, label: neutral}}\n"
                    "  - {text: \"家里着火了，孩子还在里面\", lang: zh, label: emergency}\n",
                    encoding="utf-8")
    saved = tmp_path / "run.json"
    assert main(["eval", "guard", str(dev), str(held), "--dialplan", str(PLAN),
                 "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "5 turns of 2 set(s)" in out             # the turn with a context is left out
    lines = out.splitlines()
    assert lines[1].split() == ["dev", "en", "held-out", "en", "held-out", "zh"]
    rows = {line[:32].strip(): line[32:].split() for line in lines[2:]}
    assert rows["urgent handed over"] == ["1/1", "0/0", "1/1"]
    assert rows["a person please, put through"] == ["1/1", "0/0", "0/0"]
    assert rows["calm sent to emergency help"] == ["0/1", "0/1", "0/0"]
    run = json.loads(saved.read_text(encoding="utf-8"))
    assert HELD_OUT_TEXT not in json.dumps(run) and len(run) == 5
    # a "before" in which the news caller was sent to emergency help and the held-out calm
    # caller to a person
    for row in run:
        if "news" in row[4] or row[0] == held.name and row[2] == "neutral":
            row[3] = "emergency" if "news" in row[4] else "human"
    saved.write_text(json.dumps(run), encoding="utf-8")
    assert main(["eval", "guard", str(dev), str(held), "--dialplan", str(PLAN),
                 "--compare", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "1/1 -> 0/1" in out                      # calm sent to emergency help, dev
    assert "development turns that changed: 1" in out and "emergency -> calm" in out
    assert "held-out turns that changed: escalation_holdoutx.yaml 1" in out
    assert HELD_OUT_TEXT not in out
