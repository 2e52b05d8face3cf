"""`ivr serve --rubric FILE`: a broken rubric stops serve at file:line before anything starts;
a good one reaches every worker's call store writer, which scores finished calls with it."""

from __future__ import annotations

from pathlib import Path

from ivr.cli.main import main
from ivr.sip.worker import WorkerSettings, open_store
from ivr.store.store import CallStore, default_url
from ivr.store.synthetic import call_events

from conftest import DEMO_PLAN
from test_store import feed

MINE = """name: night-shift
criteria:
  - id: resolution
    title: Resolved or escalated
    weight: 1
"""


def test_a_broken_rubric_stops_serve_at_its_line_before_anything_starts(tmp_path: Path, capsys):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(MINE + "  - id: politeness\n    title: Polite\n    weight: 1\n")
    run_dir = tmp_path / "run"
    code = main(["serve", "--rubric", str(rubric), "--run-dir", str(run_dir),
                 "--recordings", str(tmp_path / "rec"), "--port", "5999"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{rubric}:6:" in err and "unknown criterion 'politeness'" in err, err
    assert "Traceback" not in err
    assert not run_dir.exists() and not (tmp_path / "rec").exists()  # nothing started
    assert main(["serve", "--rubric", str(tmp_path / "none.yaml"), "--run-dir",
                 str(run_dir)]) == 2
    assert f"{tmp_path / 'none.yaml'}: cannot read" in capsys.readouterr().err


def test_a_workers_store_scores_calls_with_the_rubric_it_was_given(tmp_path: Path):
    rubric = tmp_path / "rubric.yaml"
    rubric.write_text(MINE)
    settings = WorkerSettings(dialplan=DEMO_PLAN, recordings=tmp_path, rubric=rubric)
    writer = open_store(settings)
    feed(writer, "c1", call_events("c1", questions=1, end="transferred"))
    assert writer.flush()
    writer.close()
    default = open_store(WorkerSettings(dialplan=DEMO_PLAN, recordings=tmp_path, name="w2"))
    feed(default, "c2", call_events("c2", questions=1, end="transferred", worker="w2"))
    assert default.flush()
    default.close()
    store = CallStore.open(default_url(tmp_path))
    mine, shipped = store.call("c1")["qa_scores"], store.call("c2")["qa_scores"]
    store.close()
    assert mine["rubric"] == "night-shift"
    assert [c["id"] for c in mine["criteria"]] == ["resolution"]
    assert shipped["rubric"] == "default" and len(shipped["criteria"]) > 1
