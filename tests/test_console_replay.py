"""Replay from the console: the call view's button and the call list's filter start a job on
the console's background worker (CSRF-checked, one job per call at a time), its page shows
progress and then the turn-by-turn diff. A fake replayer keeps most of this fast; one test
replays a recorded call of tests/data/calls through the real engines, before and after an
admin's change to its plan."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from ivr.qa.replay import CallView, Replayed, ReplayFailure, ReplayResult, Turn, compare
from ivr.store import schema
from ivr.store.rows import Write
from ivr.store.store import CallStore
from ivr.web.app import ConsoleSettings, create_app
from ivr.web.bench import logged_in_client
from ivr.web.replay_jobs import MAX_BATCH, StoreReplayer

from test_console import ADMIN, PASSWORD, QA, Console, csrf_of, make_console

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "calls"
GREETING = Turn(0, 0.0, "", "welcome", "start", "prompt", "Hello, how can I help?")
ASKED = Turn(1, 4.4, "how much is roaming", "questions", "kb_match (roaming)", "llm",
             "Roaming is included.")
MOVED = Turn(1, 4.4, "how much is roaming", "questions", "cannot_help", "prompt", "Sorry.")


def fake_result(call_id: str) -> ReplayResult:
    """Turn 0 the same, turn 1's decision changed; the call resolved on both sides."""
    before, after = [GREETING, ASKED], [GREETING, MOVED]
    return ReplayResult(call_id, "/plans/acme-mobile.yaml", "2026-11-30T10:00 (recorded)",
                        CallView(before, "resolved", "caller_hangup", ""),
                        CallView(after, "resolved", "caller_hangup", ""),
                        compare(before, after), 9.5, 0.4)


class FakeReplayer:
    """Replays instantly (or when `gate` opens), remembering which calls it was asked for;
    `failing` calls come back as failures."""

    def __init__(self, failing: frozenset[str] = frozenset()) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.asked: list[str] = []
        self.failing = failing

    def replay(self, call_id: str) -> Replayed:
        self.asked.append(call_id)
        assert self.gate.wait(10), "the test never opened the gate"
        if call_id in self.failing:
            return ReplayFailure(call_id, f"recording missing for call {call_id}")
        return fake_result(call_id)


@pytest.fixture
def console(tmp_path) -> Console:
    return make_console(tmp_path)


@pytest.fixture
def fake(console) -> FakeReplayer:
    return FakeReplayer(failing=frozenset(console.call_ids[:1]))


@pytest.fixture
def qa(console, fake) -> Iterator[TestClient]:
    store = CallStore.open(console.url)
    app = create_app(ConsoleSettings(console.url, console.dialplans, console.recordings), store,
                     replayer=fake)
    with logged_in_client(app, QA, PASSWORD) as client:
        client.follow_redirects = False
        yield client
    store.close()


def start(client: TestClient, page: str, action: str) -> str:
    """Submit the replay form of `page` (its CSRF token) to `action`; the job's page."""
    response = client.post(action, data={"csrf": csrf_of(client.get(page).text)})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def finished(client: TestClient, job: str, timeout_s: float = 10.0) -> str:
    """The job's page once it no longer refreshes itself (the replay is done)."""
    deadline = time.monotonic() + timeout_s
    while 'http-equiv="refresh"' in (html := client.get(job).text):
        assert time.monotonic() < deadline, f"{job} did not finish"
        time.sleep(0.05)
    return html


def test_a_call_replays_from_its_page_with_progress_then_the_diff(qa, console, fake):
    call_id = console.call_ids[5]
    page = qa.get(f"/calls/{call_id}").text
    assert f'action="/calls/{call_id}/replay"' in page and 'id="replay"' in page
    assert qa.post(f"/calls/{call_id}/replay", data={"csrf": "forged"}).status_code == 403
    assert fake.asked == []

    fake.gate.clear()
    job = start(qa, f"/calls/{call_id}", f"/calls/{call_id}/replay")
    assert job.startswith("/replays/")
    running = qa.get(job).text
    assert '<meta http-equiv="refresh" content="2">' in running
    assert "0 of 1 call(s) replayed" in running and "kept in the call store" in running
    # one replay per call at a time: starting it again answers the job under way
    assert start(qa, f"/calls/{call_id}", f"/calls/{call_id}/replay") == job
    fake.gate.set()

    html = finished(qa, job)
    assert "1 of 1 call(s) replayed" in html and "decisions changed" in html
    changed = re.findall(r'<td class="(\w+) changed"><div class="before">([^<]*)</div>'
                         r"<div>([^<]*)</div></td>", html)
    assert ("decision", "kb_match (roaming)", "cannot_help") in changed
    assert ("wording", "llm", "prompt") in changed
    assert all(before != "start" for _, before, _ in changed)  # the greeting did not change
    assert fake.asked == [call_id]
    listing = qa.get("/replays").text
    assert job in listing and f"call {call_id}" in listing
    assert qa.get("/replays/no-such-job").status_code == 404


def test_the_call_lists_filter_replays_as_a_batch_with_a_summary(qa, console, fake):
    store = CallStore.open(console.url)
    rows = store.calls(limit=10_000)
    store.close()
    transferred = [r["call_id"] for r in rows
                   if r["outcome"] is not None and r["outcome"].value == "transferred"]
    assert 1 < len(transferred) < MAX_BATCH
    html = finished(qa, start(qa, "/calls?outcome=transferred",
                              "/replays?outcome=transferred"))
    assert fake.asked == transferred  # newest first, every one once
    assert "filter outcome=transferred" in html
    assert f"{len(transferred)} of {len(transferred)} call(s) replayed" in html

    fake.asked.clear()
    html = finished(qa, start(qa, "/calls", "/replays"))
    finished_calls = [r["call_id"] for r in rows if r["outcome"] is not None]
    assert fake.asked == finished_calls[:MAX_BATCH]
    totals = re.search(r'id="totals">.*?<tbody><tr>(.*?)</tr>', html, re.S)[1]
    figures = [int(float(n)) for n in re.findall(r">([\d.]+)</td>", totals)][:5]
    failed = sum(c in fake.failing for c in fake.asked)
    assert figures == [MAX_BATCH, MAX_BATCH - failed, 0, 0, failed]
    if failed:
        assert "not replayed" in html and "recording missing for call" in html

    none = qa.post("/replays?text=no+such+words", data={"csrf": csrf_of(qa.get("/calls").text)})
    assert none.status_code == 400 and "No finished call" in none.text


def test_replays_need_a_login_and_a_stored_call(qa, console, fake):
    anonymous = TestClient(qa.app, base_url="https://testserver", follow_redirects=False)
    assert anonymous.post(f"/calls/{console.call_ids[0]}/replay").status_code == 401
    assert anonymous.get("/replays").status_code == 303
    token = csrf_of(qa.get("/calls").text)
    assert qa.post("/calls/no-such-call/replay", data={"csrf": token}).status_code == 404
    assert fake.asked == []


def test_a_restarted_console_keeps_the_replays_and_shows_cut_short_ones_interrupted(console,
                                                                                      fake):
    def console_app() -> tuple[CallStore, TestClient]:
        store = CallStore.open(console.url)
        app = create_app(ConsoleSettings(console.url, console.dialplans, console.recordings),
                         store, replayer=fake)
        client = logged_in_client(app, QA, PASSWORD)
        client.follow_redirects = False
        return store, client

    done_call, running_call, queued_call = console.call_ids[5:8]
    store, first = console_app()
    with first:
        done = start(first, f"/calls/{done_call}", f"/calls/{done_call}/replay")
        assert "decisions changed" in finished(first, done)
        fake.gate.clear()
        running = start(first, f"/calls/{running_call}", f"/calls/{running_call}/replay")
        queued = start(first, f"/calls/{queued_call}", f"/calls/{queued_call}/replay")
        deadline = time.monotonic() + 10
        while fake.asked[-1:] != [running_call]:
            assert time.monotonic() < deadline, "the second job never started"
            time.sleep(0.02)
    store.close()  # the console stops with one job replaying and one queued

    store, second = console_app()
    try:
        listing = second.get("/replays").text
        states = re.findall(r'<td class="state (\w+)">', listing)
        assert states == ["interrupted", "interrupted", "done"]  # newest first
        for job in (running, queued):
            page = second.get(job).text
            assert 'data-state="interrupted"' in page and 'http-equiv="refresh"' not in page
        kept = second.get(done).text
        assert "1 of 1 call(s) replayed" in kept and "decisions changed" in kept
        assert ("decision", "kb_match (roaming)", "cannot_help") in re.findall(
            r'<td class="(\w+) changed"><div class="before">([^<]*)</div><div>([^<]*)</div>',
            kept)
        assert fake.asked == [done_call, running_call]  # the queued one never ran
    finally:
        fake.gate.set()
        second.close()
        store.close()


def test_the_console_replayer_says_when_a_calls_recording_is_missing(console):
    store = CallStore.open(console.url)
    try:
        result = StoreReplayer(store, console.recordings, console.dialplans).replay(
            console.call_ids[0])
    finally:
        store.close()
    assert isinstance(result, ReplayFailure)
    assert result.error.startswith(f"recording missing for call {console.call_ids[0]}")


# ---- one real replay ------------------------------------------------------------------------
@pytest.mark.slow
def test_a_recorded_call_replays_through_the_real_engines_on_the_current_plan(tmp_path, engines):
    console = make_console(tmp_path, calls=1)
    store = CallStore.open(console.url)
    store.write([Write(schema.calls, {
        "call_id": "faq-roaming",
        "started_at": dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc),
        "worker": "w1", "schema_version": 1, "dialplan": "dialplans/acme-mobile.yaml",
        "events_path": str(RECORDED / "faq-roaming.jsonl"),
        "recording_path": str(RECORDED / "faq-roaming.wav"),
        "outcome": schema.Outcome.RESOLVED})])
    replayer = StoreReplayer(store, console.recordings, console.dialplans, engines=engines)
    app = create_app(ConsoleSettings(console.url, console.dialplans, console.recordings), store,
                     replayer=replayer)
    try:
        with logged_in_client(app, ADMIN, PASSWORD) as admin:
            admin.follow_redirects = False
            page, action = "/calls/faq-roaming", "/calls/faq-roaming/replay"
            same = finished(admin, start(admin, page, action), timeout_s=120)
            assert "faq-roaming</a>: <span class=\"verdict ok\">unchanged" in same \
                or "wording changed" in same, same
            assert "kb_match (roaming)" in same and "decision changed" not in same
            # the admin removes the roaming answer from the console's copy of the plan
            text = console.plan.read_text()
            roaming = text.index("  - id: roaming")
            console.plan.write_text(text[:roaming] + text[text.index("  - id: data_plans"):])
            changed = finished(admin, start(admin, page, action), timeout_s=120)
            assert 'class="verdict bad">decisions changed' in changed
            cells = re.findall(r'<td class="decision changed"><div class="before">([^<]*)</div>',
                               changed)
            assert "kb_match (roaming)" in cells
    finally:
        store.close()
