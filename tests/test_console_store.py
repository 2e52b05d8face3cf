"""The console's tables on SQLite and a real PostgreSQL server: the replay jobs' history
(results with their diffs as JSON, interrupted jobs, pruning), user management's rules, and
the additive migration that brought them (a 0002 database keeps its rows)."""

from __future__ import annotations

import datetime as dt
import pytest
import sqlalchemy as sa
from alembic import command

from ivr.qa.replay import CallView, ReplayFailure, ReplayResult, Turn, compare
from ivr.store import schema
from ivr.store.migrate import alembic_config, head
from ivr.store.store import CallStore, create_engine
from ivr.web import replay_history
from ivr.web.accounts import Accounts
from ivr.web.replay_history import ReplayHistory, ReplayJob, decode, encode
from ivr.web.user_admin import LastAdminError, UserAdmin
from test_store import postgres, store, store_url  # noqa: F401 - both databases

PASSWORD = "correct horse battery"


def result(call_id: str) -> ReplayResult:
    before = [Turn(0, 0.0, "", "welcome", "start", "prompt", "Hello."),
              Turn(1, 4.4, "roaming?", "questions", "kb_match (roaming)", "llm", "Included.")]
    after = [before[0], Turn(1, 4.4, "roaming?", "questions", "cannot_help", "prompt", "Sorry.",
                             "sip:agents (unresolved)")]
    return ReplayResult(call_id, "/plans/acme.yaml", "2026-11-30T10:00",
                        CallView(before, "resolved", "caller_hangup", ""),
                        CallView(after, "transferred", "transferred", "sip:agents"),
                        compare(before, after) + compare(before[:1], []), 9.5, 0.4)


def job(job_id: str, minutes_ago: int, *calls: str) -> ReplayJob:
    return ReplayJob(job_id, f"job {job_id}", calls, "ada",
                     dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago))


# ---- replay jobs --------------------------------------------------------------------------------
def test_a_replay_result_survives_its_json_unchanged():
    original = result("c1")
    assert decode(encode(original)) == original
    assert decode(encode(original)).decision_changed
    failure = ReplayFailure("c2", "recording missing for call c2")
    assert decode(encode(failure)) == failure


def test_replay_jobs_are_kept_with_progress_and_cut_short_ones_become_interrupted(store):
    history = ReplayHistory(store.engine)
    finished, running, queued = job("j1", 30, "c1", "c2"), job("j2", 20, "c3"), job("j3", 10, "c4")
    for j in (finished, running, queued):
        history.add(j)
    finished.results = [result("c1"), ReplayFailure("c2", "no recording")]
    finished.state, finished.elapsed_s = "done", 1.5
    finished.finished_at = dt.datetime.now(dt.timezone.utc)
    history.save(finished)
    running.state, running.current = "running", "c3"
    history.save(running)

    kept = history.get("j1")
    assert kept.results == finished.results and kept.state == "done" and kept.done
    assert kept.call_ids == ("c1", "c2") and kept.started_by == "ada"
    assert kept.created_at == finished.created_at
    assert history.get("j2").current == "c3" and not history.get("j2").done
    assert [j.id for j in history.recent()] == ["j3", "j2", "j1"]

    assert history.interrupt_unfinished() == 2
    for job_id in ("j2", "j3"):
        cut = history.get(job_id)
        assert cut.state == "interrupted" and cut.done and cut.current is None
    assert history.get("j1").state == "done" and history.interrupt_unfinished() == 0
    assert history.get("nope") is None


def test_only_the_newest_finished_jobs_are_kept(store, monkeypatch):
    monkeypatch.setattr(replay_history, "KEPT_JOBS", 2)
    history = ReplayHistory(store.engine)
    for i in range(4):
        old = job(f"done{i}", 100 - i, "c")
        history.add(old)
        old.state, old.finished_at = "done", dt.datetime.now(dt.timezone.utc)
        history.save(old)
    history.add(job("live", 1, "c"))  # unfinished jobs are never pruned
    assert [j.id for j in history.recent()] == ["live", "done3", "done2"]


# ---- users --------------------------------------------------------------------------------------
def test_the_last_enabled_admin_stays(store):
    accounts, admin = Accounts(store.engine), UserAdmin(store.engine)
    accounts.add_user("ada", "admin", PASSWORD)
    accounts.add_user("bob", "admin", PASSWORD)
    accounts.add_user("quinn", "qa", PASSWORD)
    admin.disable("bob")   # a disabled admin does not count
    for change in (lambda: admin.set_role("ada", "qa"), lambda: admin.disable("ada"),
                   lambda: admin.remove("ada")):
        with pytest.raises(LastAdminError, match="only enabled admin"):
            change()
    admin.remove("quinn")
    admin.enable("bob")
    admin.set_role("ada", "qa")
    with pytest.raises(LastAdminError):
        admin.remove("bob")
    assert [(u.name, u.role, u.disabled) for u in admin.users()] == [
        ("ada", "qa", False), ("bob", "admin", False)]


def test_disable_and_a_new_password_end_sessions(store):
    accounts, admin = Accounts(store.engine), UserAdmin(store.engine)
    accounts.add_user("ada", "admin", PASSWORD)
    accounts.add_user("quinn", "qa", PASSWORD)
    user = accounts.login("quinn", PASSWORD).user
    token = accounts.start_session(user)
    assert admin.users()[1].sessions == 1
    admin.disable("quinn")
    assert accounts.session(token) is None and admin.users()[1].sessions == 0
    assert accounts.login("quinn", PASSWORD).disabled
    admin.enable("quinn")
    token = accounts.start_session(accounts.login("quinn", PASSWORD).user)
    admin.set_password("quinn", "another password")
    assert accounts.session(token) is None
    assert accounts.login("quinn", "another password").user.name == "quinn"


# ---- the migration ------------------------------------------------------------------------------
def test_a_0002_database_keeps_its_rows_through_the_upgrade(store_url):
    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(sa.text("INSERT INTO console_users (name, role, password_hash, "
                             "failed_logins, created_at) VALUES ('ada', 'admin', 'h', 0, "
                             ":at)"), {"at": dt.datetime.now(dt.timezone.utc)})
        conn.execute(sa.text("INSERT INTO calls (call_id, started_at, worker, caller_number, "
                             "schema_version) VALUES ('c1', :at, 'w1', '', 1)"),
                     {"at": dt.datetime.now(dt.timezone.utc)})
    engine.dispose()
    store = CallStore.open(store_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() \
                == head()
            users = conn.execute(sa.select(schema.console_users)).mappings().all()
        assert [(u["name"], u["disabled"]) for u in users] == [("ada", False)]
        assert store.call("c1")["worker"] == "w1"
        assert UserAdmin(store.engine).users()[0].name == "ada"
        assert ReplayHistory(store.engine).recent() == []
    finally:
        store.close()
