"""The hotline console without a browser (TestClient): login, sessions, CSRF, lock-out,
access rules, the call list's filters and keyset paging, recordings with Range, dialplan
editing (validation, atomic save, history, rollback), `ivr console` itself and its place in
`ivr serve`. Store-backed tests run on SQLite; one on a real PostgreSQL server (the
dashboard's SQL included). The dashboard and replay have their own test_console_*.py files."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from ivr.dialplan.loader import load_dialplan
from ivr.errors import DialplanError
from ivr.store import schema
from ivr.store.store import CallStore
from ivr.web.accounts import LOCKOUT, MAX_FAILURES, Accounts
from ivr.web.app import ConsoleSettings, create_app
from ivr.web.auth import SESSION_COOKIE
from ivr.web.bench import logged_in_client
from ivr.web.sample import fill
from ivr.web.stats import dashboard

ROOT = Path(__file__).resolve().parents[1]
ADMIN, QA, PASSWORD = "ada", "quinn", "correct horse battery"
PLAN = "acme-mobile.yaml"
CALLS = 60


def write_wav(path: Path, seconds: float) -> None:
    """A stereo 8 kHz recording: a tone on the caller's side, another on the bot's."""
    import math

    rate = 8000
    frames = bytearray()
    for i in range(int(seconds * rate)):
        left = int(3000 * math.sin(2 * math.pi * 440 * i / rate))
        right = int(3000 * math.sin(2 * math.pi * 660 * i / rate))
        frames += struct.pack("<hh", left, right)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))


@dataclass
class Console:
    """A console's files on disk: store, recordings folder, dialplans folder."""

    url: str
    recordings: Path
    dialplans: Path
    call_ids: list[str]

    @property
    def plan(self) -> Path:
        return self.dialplans / PLAN


def make_console(root: Path, url: str | None = None, calls: int = CALLS) -> Console:
    """A store with `calls` synthetic calls (their recording a real WAV), an admin and a QA
    user, and a copy of the repository's dialplans."""
    recordings = root / "recordings"
    recordings.mkdir()
    write_wav(recordings / "call.wav", 40.0)
    dialplans = root / "dialplans"
    shutil.copytree(ROOT / "dialplans", dialplans, ignore=shutil.ignore_patterns(".*"))
    url = url or str(recordings / "calls.db")
    store = CallStore.open(url)
    try:
        ids = fill(store, calls, recording=recordings / "call.wav")
        accounts = Accounts(store.engine)
        accounts.add_user(ADMIN, "admin", PASSWORD)
        accounts.add_user(QA, "qa", PASSWORD)
    finally:
        store.close()
    return Console(url, recordings, dialplans, ids)


@pytest.fixture
def console(tmp_path) -> Console:
    return make_console(tmp_path)


@pytest.fixture
def app(console):
    store = CallStore.open(console.url)
    yield create_app(ConsoleSettings(console.url, console.dialplans, console.recordings), store)
    store.close()


@pytest.fixture
def anonymous(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


@pytest.fixture
def admin(app) -> Iterator[TestClient]:
    with logged_in_client(app, ADMIN, PASSWORD) as client:
        client.follow_redirects = False
        yield client


@pytest.fixture
def qa(app) -> Iterator[TestClient]:
    with logged_in_client(app, QA, PASSWORD) as client:
        yield client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


def login(client: TestClient, name: str, password: str):
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": token, "name": name, "password": password})


# ---- access rules ---------------------------------------------------------------------------
def test_every_page_api_and_recording_needs_a_login(anonymous, console):
    call = console.call_ids[0]
    for page in ("/", "/calls", f"/calls/{call}", "/dialplans", f"/dialplans/{PLAN}",
                 "/dashboard", "/replays", "/replays/some-job"):
        response = anonymous.get(page)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/login?next=")
    for machine in ("/api/calls", f"/recordings/{call}"):
        assert anonymous.get(machine).status_code == 401, machine
    assert anonymous.post(f"/dialplans/{PLAN}", data={"text": "x"}).status_code == 401
    assert anonymous.post(f"/calls/{call}/replay").status_code == 401
    assert anonymous.post("/replays").status_code == 401
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get("/static/console.css").status_code == 200


def test_qa_reads_calls_but_not_dialplans(qa, admin):
    assert qa.get("/calls").status_code == 200
    page = qa.get("/dialplans")
    assert page.status_code == 403 and "for admins" in page.text
    assert qa.get(f"/dialplans/{PLAN}").status_code == 403
    assert ">Dialplans<" not in qa.get("/calls").text
    assert admin.get("/dialplans").status_code == 200


# ---- login, cookie, logout, CSRF, lock-out --------------------------------------------------
def test_login_sets_a_secure_httponly_strict_cookie_and_logout_ends_the_session(anonymous):
    response = login(anonymous, ADMIN, PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/calls"
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith(SESSION_COOKIE + "="))
    assert all(flag in cookie.lower() for flag in ("httponly", "secure", "samesite=strict"))
    token = anonymous.cookies[SESSION_COOKIE]
    page = anonymous.get("/calls")
    assert page.status_code == 200
    assert anonymous.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    anonymous.cookies.set(SESSION_COOKIE, token)  # the old cookie, replayed
    assert anonymous.get("/calls").status_code == 303


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(anonymous):
    token = csrf_of(anonymous.get("/login").text)
    ok = anonymous.post("/login", data={"csrf": token, "name": QA, "password": PASSWORD,
                                        "next": "/calls?outcome=failed"})
    assert ok.headers["location"] == "/calls?outcome=failed"
    assert anonymous.get("/login?next=//evil.example/").headers["location"] == "/calls"


def test_passwords_are_stored_as_argon2_hashes(console):
    store = CallStore.open(console.url)
    with store.engine.connect() as conn:
        stored = conn.scalar(sa.select(schema.console_users.c.password_hash)
                             .where(schema.console_users.c.name == ADMIN))
    store.close()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_post_without_its_csrf_token_is_refused(admin, anonymous, console):
    before = console.plan.read_bytes()
    assert admin.post("/logout").status_code == 403
    assert admin.post("/logout", data={"csrf": "forged"}).status_code == 403
    refused = admin.post(f"/dialplans/{PLAN}", data={"text": "name: x\n"})
    assert refused.status_code == 403 and console.plan.read_bytes() == before
    assert admin.get("/calls").status_code == 200  # still logged in
    assert anonymous.post("/login", data={"name": ADMIN, "password": PASSWORD}).status_code == 403


def test_five_wrong_passwords_lock_the_account_for_15_minutes(anonymous, console):
    for _ in range(MAX_FAILURES - 1):
        response = login(anonymous, QA, "wrong password")
        assert response.status_code == 401 and "Wrong user name or password" in response.text
    locked = login(anonymous, QA, "wrong password")
    assert locked.status_code == 401 and "locked until" in locked.text
    still = login(anonymous, QA, PASSWORD)  # the right password, during the lock-out
    assert still.status_code == 401 and "locked until" in still.text
    assert login(anonymous, ADMIN, PASSWORD).status_code == 303  # per user
    store = CallStore.open(console.url)
    users = schema.console_users
    with store.engine.begin() as conn:
        until = conn.scalar(sa.select(users.c.locked_until).where(users.c.name == QA))
        until = until if until.tzinfo else until.replace(tzinfo=dt.timezone.utc)
        assert LOCKOUT - dt.timedelta(minutes=1) < until - dt.datetime.now(dt.timezone.utc) \
            <= LOCKOUT
        conn.execute(users.update().where(users.c.name == QA).values(
            locked_until=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    store.close()
    anonymous.cookies.clear()
    assert login(anonymous, QA, PASSWORD).status_code == 303  # the lock ran out


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(anonymous):
    response = login(anonymous, "nobody", PASSWORD)
    assert response.status_code == 401 and "Wrong user name or password" in response.text


# ---- the call list --------------------------------------------------------------------------
def _all_pages(client: TestClient, query: str, most: int = 50) -> list[dict]:
    """Every call of a filter, following the `older` cursors (at most `most` pages)."""
    seen, cursor = [], None
    for _ in range(most):
        params = dict(parse_qsl(query)) | ({"before": cursor} if cursor else {})
        response = client.get("/api/calls", params=params)
        assert response.status_code == 200, response.text
        seen += response.json()["calls"]
        cursor = response.json()["older"]
        if not cursor:
            return seen
    raise AssertionError(f"more than {most} pages for {query!r}")


def test_keyset_paging_walks_every_call_once_newest_first_and_back(qa, console):
    calls = _all_pages(qa, "")
    assert sorted(c["call_id"] for c in calls) == sorted(console.call_ids)
    keys = [(c["started_at"], c["call_id"]) for c in calls]
    assert keys == sorted(keys, reverse=True)
    first = qa.get("/api/calls").json()
    second = qa.get("/api/calls", params={"before": first["older"]}).json()
    assert second["calls"][0]["call_id"] == calls[50]["call_id"]
    back = qa.get("/api/calls", params={"after": second["newer"]}).json()
    assert [c["call_id"] for c in back["calls"]] == [c["call_id"] for c in first["calls"]]
    assert back["newer"] is None


def test_call_list_filters(qa, console):
    store = CallStore.open(console.url)
    rows = store.calls(limit=10_000)
    store.close()

    def ids(query: str) -> set[str]:
        return {c["call_id"] for c in _all_pages(qa, query)}

    def expected(keep) -> set[str]:
        return {r["call_id"] for r in rows if keep(r)}

    assert ids("outcome=transferred") == expected(
        lambda r: r["outcome"] is not None and r["outcome"].value == "transferred")
    assert ids("outcome=open") == expected(lambda r: r["outcome"] is None)
    assert ids("hotline=/plans/mobile-carrier.yaml&survey=4") == expected(
        lambda r: r["dialplan"] == "/plans/mobile-carrier.yaml" and r["survey_answer"] == "4")
    assert ids("transfer_reason=caller_angry") == expected(
        lambda r: r["transfer_reason"] == "caller_angry")
    day = max(r["started_at"] for r in rows).date()
    assert ids(f"since={day}&until={day}") == expected(lambda r: r["started_at"].date() == day)
    assert ids("text=REAL+PERSON") == expected(lambda r: r["outcome"] is not None
                                                and r["outcome"].value == "transferred")
    assert ids("text=no+such+words") == set()
    assert ids("text=50%25") == set()  # LIKE wildcards are searched for as text
    bad = qa.get("/calls?since=yesterday")
    assert bad.status_code == 400 and "is not a date" in bad.text
    assert qa.get("/api/calls?before=nonsense").status_code == 400


def test_the_call_list_filters_by_qa_score(qa, console):
    store = CallStore.open(console.url)
    totals = {r["call_id"]: (r["qa_scores"] or {}).get("total") for r in store.calls(limit=999)}
    store.close()
    scored = sorted(t for t in totals.values() if t is not None)
    assert len(set(scored)) > 1, "the sample calls should not all score the same"
    low, high = scored[len(scored) // 4], scored[3 * len(scored) // 4]

    def ids(query: str) -> set[str]:
        return {c["call_id"] for c in _all_pages(qa, query)}

    assert ids(f"min_score={low}&max_score={high}") == {
        c for c, t in totals.items() if t is not None and low <= t <= high}
    assert ids(f"min_score={high}") == {c for c, t in totals.items()
                                        if t is not None and t >= high}
    page = qa.get(f"/calls?max_score={low}").text
    assert f'id="f-max-score" min="0" max="100" step="any" class="score" value="{low}"' in page
    shown = [float(v) for v in re.findall(r'class="num qa-total">([\d.]+)<', page)]
    assert shown and max(shown) <= low
    bad = qa.get("/calls?min_score=abc")
    assert bad.status_code == 400 and "min_score" in bad.text
    assert qa.get("/calls?max_score=101").status_code == 400


# ---- the call view and its recording ----------------------------------------------------------
def test_call_view_aligns_turns_to_the_recording(qa, console):
    call_id = console.call_ids[0]
    store = CallStore.open(console.url)
    turns, events = store.turns(call_id), store.events(call_id)
    store.close()
    media_t = next(e["t"] for e in events if e["kind"] == "sip.media")
    html = qa.get(f"/calls/{call_id}").text
    starts = [float(s) for s in re.findall(r'data-start="([0-9.]+)"', html)]
    assert starts == [pytest.approx(max(0, t["t_start"] - media_t), abs=1e-3) for t in turns]
    assert f'src="/recordings/{call_id}"' in html
    for part in ("kb_match", "evidence: score=0.94", " ms</span>", 'id="ticket"', "sip.media"):
        assert part in html
    assert qa.get("/calls/no-such-call").status_code == 404


def test_recordings_are_served_with_range_and_only_from_the_stored_path(qa, console):
    call_id = console.call_ids[0]
    whole = qa.get(f"/recordings/{call_id}")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.content == (console.recordings / "call.wav").read_bytes()
    part = qa.get(f"/recordings/{call_id}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    store = CallStore.open(console.url)  # a stored path outside the recordings folder
    with store.engine.begin() as conn:
        conn.execute(schema.calls.update().where(schema.calls.c.call_id == call_id)
                     .values(recording_path=str(console.dialplans / PLAN)))
    store.close()
    assert qa.get(f"/recordings/{call_id}").status_code == 404
    assert qa.get("/recordings/..%2Fcalls.db").status_code == 404


# ---- dialplans ------------------------------------------------------------------------------
def _editor_form(client: TestClient, text: str) -> dict[str, str]:
    page = client.get(f"/dialplans/{PLAN}").text
    base = re.search(r'name="base_sha256" value="([0-9a-f]+)"', page)[1]
    return {"csrf": csrf_of(page), "base_sha256": base, "text": text}


def test_a_broken_plan_is_rejected_with_the_check_messages_and_never_written(admin, console,
                                                                           tmp_path):
    live = console.plan.read_text()
    broken = live.replace("start: welcome", "start: nowhere")
    response = admin.post(f"/dialplans/{PLAN}", data=_editor_form(admin, broken))
    assert response.status_code == 422 and "the live file is unchanged" in response.text
    assert console.plan.read_text() == live
    # the same message `ivr dialplan check` prints for that text in that file
    (tmp_path / "check").mkdir()
    shutil.copytree(console.dialplans / "knowledge", tmp_path / "check" / "knowledge")
    (tmp_path / "check" / PLAN).write_text(broken)
    with pytest.raises(DialplanError) as expected:
        load_dialplan(tmp_path / "check" / PLAN)
    message = str(expected.value).replace(str(tmp_path / "check"), str(console.dialplans))
    assert re.search(r":\d+:\d+: ", message)
    for line in message.splitlines():
        assert "<li>" + line.replace("'", "&#39;") + "</li>" in response.text
    assert not list(console.dialplans.glob(".*.console"))  # no temp file left behind


def test_save_goes_live_atomically_and_rollback_restores(admin, console):
    original = console.plan.read_text()
    edited = original.replace("How can I help", "How may I help")
    assert edited != original
    checked = admin.post(f"/dialplans/{PLAN}/check", data=_editor_form(admin, edited))
    assert checked.status_code == 200 and console.plan.read_text() == original
    assert 'class="add">+' in checked.text and "How may I help" in checked.text
    saved = admin.post(f"/dialplans/{PLAN}", data=_editor_form(admin, edited))
    assert saved.status_code == 200 and "Saved as version 2" in saved.text
    assert console.plan.read_text() == edited
    assert load_dialplan(console.plan).sha256 in saved.text
    history = admin.get(f"/dialplans/{PLAN}").text
    assert "the file as found on disk" in history and f"<td>{ADMIN}</td>" in history
    form = _editor_form(admin, "")
    rolled = admin.post(f"/dialplans/{PLAN}/rollback",
                        data={"csrf": form["csrf"], "version": "1"})
    assert rolled.status_code == 200 and "rollback to version 1" in rolled.text
    assert console.plan.read_text() == original


def test_a_save_over_a_file_changed_since_it_was_opened_is_refused(admin, console):
    form = _editor_form(admin, console.plan.read_text() + "\n# mine\n")
    console.plan.write_text(console.plan.read_text() + "\n# someone else's\n")
    response = admin.post(f"/dialplans/{PLAN}", data=form)
    assert response.status_code == 409 and "changed on disk" in response.text
    assert "# mine" not in console.plan.read_text()


def test_the_dialplan_list_shows_status_and_live_hash(admin, console):
    (console.dialplans / "broken.yaml").write_text("name: [unclosed\n")
    page = admin.get("/dialplans").text
    assert load_dialplan(console.plan).sha256[:12] in page
    assert re.search(r"broken\.yaml.*?1 error", page, re.S)
    assert admin.get("/dialplans/..%2Fsetup.sh").status_code == 404


# ---- PostgreSQL -------------------------------------------------------------------------------
def test_login_lockout_and_paging_on_postgresql(tmp_path):
    from ivr.store.pgtemp import TempPostgres

    with TempPostgres() as server:
        console = make_console(tmp_path, server.new_database(), calls=70)
        store = CallStore.open(console.url)
        app = create_app(ConsoleSettings(console.url, console.dialplans, console.recordings),
                         store)
        try:
            with TestClient(app, base_url="https://testserver") as client:
                for _ in range(MAX_FAILURES):
                    login(client, QA, "wrong")
                assert "locked until" in login(client, QA, PASSWORD).text
                assert login(client, ADMIN, PASSWORD).status_code == 200  # followed to /calls
                assert len(_all_pages(client, "")) == 70
                assert {c["call_id"] for c in _all_pages(client, "text=real+person")}
                # the dashboard's SQL (hours and days cut by PostgreSQL) agrees with the store
                week = dashboard(store.engine, "7d")
                assert week.calls == sum(n for _, n in week.per_hour) == sum(
                    r["started_at"] >= week.start for r in store.calls(limit=1000))
                assert any(day.scored for day in week.qa_trend)
                assert client.get("/dashboard?window=7d").status_code == 200
        finally:
            store.close()


# ---- the command line -------------------------------------------------------------------------
def test_ivr_console_user_add(tmp_path, monkeypatch, capsys):
    from ivr.cli.main import main

    store = str(tmp_path / "calls.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["console", "user", "add", "rita", "--role", "qa", "--password-stdin",
                 "--store", store]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another password\n"))
    assert main(["console", "user", "add", "rita", "--role", "qa", "--password-stdin",
                 "--store", store]) == 2
    assert "exists already" in capsys.readouterr().err
    opened = CallStore.open(store)
    assert Accounts(opened.engine).login("rita", "a long password").user.role == "qa"
    opened.close()


def test_ivr_console_serves_and_ivr_serve_places_it_next_to_sip(tmp_path):
    import httpx

    from ivr.cli.main import build_parser
    from ivr.cli.serve import console_port
    from ivr.service_process import free_port
    from ivr.web.process import ConsoleProcess

    parse = build_parser().parse_args
    assert console_port(parse(["serve"])) == 8060
    assert console_port(parse(["serve", "--port", "5080"])) == 8080
    assert console_port(parse(["serve", "--console-port", "0"])) == 0
    console = make_console(tmp_path, calls=3)
    with ConsoleProcess(free_port(), console.url, console.recordings, console.dialplans,
                        log_path=tmp_path / "console.log") as process:
        assert process.users() == 2
        page = httpx.get(process.url + "calls", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fcalls"
        assert httpx.get(process.url + f"recordings/{console.call_ids[0]}").status_code == 401
