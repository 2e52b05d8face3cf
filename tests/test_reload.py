"""Hot reload: good edits go live for new calls, bad edits are rejected, calls keep their plan."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from ivr.dialplan.store import PlanStore
from ivr.events import EventLog, ManualClock
from ivr.session.session import CallSession

from conftest import DEMO_PLAN

GREETING = "Hello, you've reached Acme Mobile. How can I help you today?"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    stat = path.stat()  # make sure the change is visible even within one mtime tick
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_good_edit_goes_live_and_changes_the_hash(tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    shutil.copy(DEMO_PLAN, plan)
    store = PlanStore(plan)
    before = store.current()
    edit(plan, GREETING, "Welcome to Acme Mobile, the new greeting.")
    assert store.poll() is True
    after = store.current()
    assert after.sha256 != before.sha256
    assert after.plan.nodes["welcome"].say["en"] == "Welcome to Acme Mobile, the new greeting."


def test_bad_edit_is_rejected_with_its_error_and_the_last_good_plan_stays(tmp_path: Path, caplog):
    plan = tmp_path / "plan.yaml"
    shutil.copy(DEMO_PLAN, plan)
    store = PlanStore(plan)
    good = store.current()
    edit(plan, "next: questions", "next: nowhere")
    assert store.poll() is False
    assert store.current() is good
    assert store.last_error is not None and "unknown node 'nowhere'" in store.last_error
    assert f"{plan}:" in store.last_error
    assert "rejected, keeping the running plan" in caplog.text
    edit(plan, "next: nowhere", "next: questions")  # fixed: the same as the live plan
    assert store.poll() is False and store.current() is good
    assert store.last_error is None
    edit(plan, GREETING, "Welcome to Acme Mobile, fixed and changed.")  # a good edit goes live
    assert store.poll() is True and store.current().sha256 != good.sha256


def test_a_call_in_progress_keeps_the_plan_it_started_with(tmp_path: Path, engines):
    plan = tmp_path / "plan.yaml"
    shutil.copy(DEMO_PLAN, plan)
    store = PlanStore(plan)

    async def scenario():
        events = EventLog(ManualClock())
        session = CallSession("reload", store.current(), engines, events)
        session.start()
        await session.settle()
        edit(plan, "in every plan", "in no plan at all")
        assert store.poll()
        step = session.dialog.on_text("How much does roaming cost?")
        await session.close("test")
        return events, step

    events, step = asyncio.run(scenario())
    assert "every plan" in step.actions[0].approved
    assert events.of_kind("call.start")[0].data["dialplan_sha256"] != store.current().sha256
    assert "no plan at all" in store.current().plan.knowledge[1].answer["en"]


def test_watch_thread_picks_up_an_edit(tmp_path: Path):
    import time

    plan = tmp_path / "plan.yaml"
    shutil.copy(DEMO_PLAN, plan)
    store = PlanStore(plan)
    before = store.current().sha256
    stop = store.watch(interval_s=0.1)
    try:
        edit(plan, GREETING, "Hi from the watcher.")
        deadline = time.monotonic() + 5
        while store.current().sha256 == before and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
    assert store.current().sha256 != before
