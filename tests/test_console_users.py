"""User management from the console's Users page (TestClient) and `ivr console user ...`:
admins only, CSRF on every form, a disabled or removed user's sessions end at once, a new
password ends the old sessions, a role change applies to live sessions, and the last enabled
admin can be neither demoted, disabled nor removed."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient

from ivr.store.store import CallStore
from ivr.web.accounts import Accounts
from test_console import (ADMIN, PASSWORD, QA, Console, admin, app,  # noqa: F401
                          qa, csrf_of, login, make_console)

NEW_PASSWORD = "a brand new password"


@pytest.fixture
def console(tmp_path) -> Console:
    return make_console(tmp_path, calls=2)


def change(client: TestClient, name: str, what: str, **fields: str):
    """Submit one of the Users page's forms, with the page's CSRF token."""
    token = csrf_of(client.get("/users").text)
    return client.post(f"/users/{name}/{what}", data={"csrf": token, **fields})


def row(client: TestClient, name: str) -> str:
    return re.search(rf'<tr id="user-{re.escape(name)}".*?</tr>', client.get("/users").text,
                     re.S)[0]


def test_the_users_page_is_for_admins_and_every_form_needs_its_token(admin, qa):
    page = admin.get("/users")
    assert page.status_code == 200
    assert 'id="user-ada"' in page.text and 'id="user-quinn"' in page.text
    forms = re.findall(r"<form method=\"post\".*?</form>", page.text, re.S)
    assert len(forms) >= 9 and all('name="csrf"' in f for f in forms)  # 4 per user + new
    assert "password_hash" not in page.text and "$argon2" not in page.text
    assert qa.get("/users").status_code == 403
    assert ">Users<" not in qa.get("/calls").text and ">Users<" in admin.get("/calls").text
    # a qa user's own valid token does not make them an admin
    token = csrf_of(qa.get("/calls").text)
    assert qa.post(f"/users/{ADMIN}/disable", data={"csrf": token}).status_code == 403
    assert admin.post(f"/users/{QA}/disable", data={"csrf": "forged"}).status_code == 403
    assert admin.post(f"/users/{QA}/disable").status_code == 403
    assert "active" in row(admin, QA)
    with TestClient(admin.app, base_url="https://testserver", follow_redirects=False) as anon:
        assert anon.get("/users").status_code == 303
        assert anon.post(f"/users/{QA}/disable", data={"csrf": "x"}).status_code == 401
        assert anon.post("/users", data={"csrf": "x", "name": "eve", "role": "admin",
                                         "password": "a long password"}).status_code == 401


def test_an_admin_creates_a_user_who_can_then_log_in(admin, app):
    token = csrf_of(admin.get("/users").text)
    made = admin.post("/users", data={"csrf": token, "name": "rita", "role": "qa",
                                      "password": NEW_PASSWORD})
    assert made.status_code == 303
    assert "rita is created" in admin.get(made.headers["location"]).text
    again = admin.post("/users", data={"csrf": token, "name": "rita", "role": "qa",
                                       "password": NEW_PASSWORD})
    assert again.status_code == 400 and "exists already" in again.text
    short = admin.post("/users", data={"csrf": token, "name": "sam", "role": "qa",
                                       "password": "short"})
    assert short.status_code == 400 and "at least 8" in short.text
    with TestClient(app, base_url="https://testserver") as client:
        assert login(client, "rita", NEW_PASSWORD).url.path == "/calls"


def test_disabling_a_user_ends_their_sessions_and_refuses_their_login(admin, qa, app):
    qa.follow_redirects = False
    assert qa.get("/calls").status_code == 200
    assert change(admin, QA, "disable").status_code == 303
    assert "disabled" in row(admin, QA) and ">0<" in row(admin, QA)
    gone = qa.get("/calls")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    with TestClient(app, base_url="https://testserver") as client:
        refused = login(client, QA, PASSWORD)
        assert refused.status_code == 401 and "disabled" in refused.text
        assert login(client, QA, "wrong password").text.count("disabled") == 0  # no hint
    assert change(admin, QA, "enable").status_code == 303
    with TestClient(app, base_url="https://testserver") as client:
        assert login(client, QA, PASSWORD).url.path == "/calls"


def test_a_new_password_ends_the_old_sessions_and_a_role_change_applies_at_once(admin, qa,
                                                                               app):
    qa.follow_redirects = False
    assert qa.get("/dialplans").status_code == 403
    assert change(admin, QA, "role", role="admin").status_code == 303
    assert qa.get("/dialplans").status_code == 200  # the live session has the new role
    assert change(admin, QA, "password", password=NEW_PASSWORD).status_code == 303
    assert qa.get("/calls").status_code == 303
    with TestClient(app, base_url="https://testserver") as client:
        assert login(client, QA, PASSWORD).status_code == 401
        assert login(client, QA, NEW_PASSWORD).url.path == "/calls"


def test_the_last_admin_is_never_demoted_disabled_or_removed(admin, console):
    for what, fields in (("role", {"role": "qa"}), ("disable", {}), ("remove", {})):
        refused = change(admin, ADMIN, what, **fields)
        assert refused.status_code == 400, what
        assert "only enabled admin" in refused.text
    assert "admin" in row(admin, ADMIN) and "active" in row(admin, ADMIN)
    assert change(admin, "nobody", "disable").status_code == 400
    assert change(admin, QA, "promote").status_code == 400
    # with a second admin, the first may go, and its own session with it
    assert change(admin, QA, "role", role="admin").status_code == 303
    assert change(admin, ADMIN, "remove").status_code == 303
    assert admin.get("/calls").status_code == 303
    store = CallStore.open(console.url)
    try:
        assert Accounts(store.engine).login(ADMIN, PASSWORD).user is None
    finally:
        store.close()


def test_ivr_console_user_commands(console, monkeypatch, capsys):
    from ivr.cli.main import main

    store = ["--store", console.url]
    assert main(["console", "user", "list", *store]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"{ADMIN}\s+admin\s+active", out) and re.search(rf"{QA}\s+qa\s+active", out)
    assert main(["console", "user", "role", QA, "admin", *store]) == 0
    assert main(["console", "user", "disable", QA, *store]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(NEW_PASSWORD + "\n"))
    assert main(["console", "user", "passwd", QA, "--password-stdin", *store]) == 0
    assert main(["console", "user", "list", *store]) == 0
    assert re.search(rf"{QA}\s+admin\s+disabled", capsys.readouterr().out)
    # the only enabled admin is ada now: she stays
    assert main(["console", "user", "remove", ADMIN, *store]) == 2
    assert "only enabled admin" in capsys.readouterr().err
    assert main(["console", "user", "enable", QA, *store]) == 0
    assert main(["console", "user", "remove", ADMIN, *store]) == 0
    assert main(["console", "user", "remove", ADMIN, *store]) == 2
    assert "no user 'ada'" in capsys.readouterr().err
    opened = CallStore.open(console.url)
    try:
        assert Accounts(opened.engine).login(QA, NEW_PASSWORD).user.role == "admin"
    finally:
        opened.close()
