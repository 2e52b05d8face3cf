"""The raw copy in the console (TestClient): the redacted call view by default, "Show raw"
only for the roles the call's plan named, 403 for any other role on the raw page and the
raw recording URL, every raw view in the admins' audit log. Calls are written by the store's
own writer with the raw listener on, as a SIP worker writes them."""

from __future__ import annotations


import pytest
from fastapi.testclient import TestClient

from ivr.store.raw_copy import keep_raw_recording
from ivr.store.raw_store import RawCopies
from ivr.store.store import CallStore
from ivr.store.writer import StoreWriter
from test_console import (ADMIN, QA, Console, admin, app,  # noqa: F401
                          qa, make_console)
from test_raw_copy import SAID, feed

ADMINS_ONLY, EVERYONE, NO_COPY = "raw-admins", "raw-everyone", "no-copy"


@pytest.fixture
def console(tmp_path) -> Console:
    console = make_console(tmp_path, calls=3)
    recording = console.recordings / "call.wav"
    raw = keep_raw_recording(recording)
    store = CallStore.open(console.url)
    writer = StoreWriter(store, "w1")
    feed(writer, ADMINS_ONLY, ["admin"], recording, raw)
    feed(writer, EVERYONE, ["admin", "qa"], recording, raw)
    feed(writer, NO_COPY, None, recording)
    assert writer.flush()
    writer.close()
    recording.write_bytes(raw.read_bytes()[:44] + b"\0" * 1000)  # "beeped": differs from raw
    return console


def views(console: Console) -> list[tuple[str, str, str]]:
    store = CallStore.open(console.url)
    try:
        return [(v["user_name"], v["call_id"], v["what"])
                for v in reversed(RawCopies(store.engine).views())]
    finally:
        store.close()


def test_the_call_view_is_redacted_by_default_for_every_role(admin, qa):
    for client in (admin, qa):
        page = client.get(f"/calls/{ADMINS_ONLY}").text
        assert "[card ••••1111]" in page and "4111 1111" not in page
        assert "ann@example.com" not in page and "raw-banner" not in page
        assert f'src="/recordings/{ADMINS_ONLY}"' in page


def test_a_role_the_plan_did_not_name_gets_403_on_every_raw_url(qa, console):
    assert 'id="show-raw"' not in qa.get(f"/calls/{ADMINS_ONLY}").text
    page = qa.get(f"/calls/{ADMINS_ONLY}/raw")
    assert page.status_code == 403 and "for the role(s) admin" in page.text
    assert "4111" not in page.text
    audio = qa.get(f"/recordings/{ADMINS_ONLY}/raw")
    assert audio.status_code == 403 and audio.headers["content-type"] == "application/json"
    assert qa.get("/audit").status_code == 403
    assert views(console) == []  # refused requests saw nothing, so nothing to log


def test_an_allowed_role_shows_raw_and_every_view_is_logged(admin, qa, console):
    page = admin.get(f"/calls/{ADMINS_ONLY}").text
    assert f'href="/calls/{ADMINS_ONLY}/raw" id="show-raw"' in page
    raw_page = admin.get(f"/calls/{ADMINS_ONLY}/raw")
    assert raw_page.status_code == 200
    assert SAID in raw_page.text and 'id="raw-banner"' in raw_page.text
    assert f'src="/recordings/{ADMINS_ONLY}/raw"' in raw_page.text
    assert "summary" in raw_page.text.lower()

    raw_bytes = (console.recordings / "raw" / "call.wav").read_bytes()
    audio = admin.get(f"/recordings/{ADMINS_ONLY}/raw")
    assert audio.status_code == 200 and audio.content == raw_bytes
    assert audio.headers["cache-control"] == "no-store"
    assert admin.get(f"/recordings/{ADMINS_ONLY}").content != raw_bytes  # the redacted one
    seek = admin.get(f"/recordings/{ADMINS_ONLY}/raw", headers={"Range": "bytes=1000-1999"})
    assert seek.status_code == 206 and seek.content == raw_bytes[1000:2000]

    # qa may see the call whose plan named qa too
    assert 'id="show-raw"' in qa.get(f"/calls/{EVERYONE}").text
    assert SAID in qa.get(f"/calls/{EVERYONE}/raw").text
    assert views(console) == [(ADMIN, ADMINS_ONLY, "text"), (ADMIN, ADMINS_ONLY, "audio"),
                              (QA, EVERYONE, "text")]  # the seek is the same playback

    audit = admin.get("/audit")
    assert audit.status_code == 200
    rows = audit.text.split('<table id="raw-views">', 1)[1]
    assert rows.index(EVERYONE) < rows.index(ADMINS_ONLY)  # newest first
    assert f">{QA}<" in rows and ">audio<" in rows


def test_a_call_without_a_raw_copy_has_no_toggle_and_no_raw_url(admin):
    assert 'id="show-raw"' not in admin.get(f"/calls/{NO_COPY}").text
    assert admin.get(f"/calls/{NO_COPY}/raw").status_code == 404
    assert admin.get(f"/recordings/{NO_COPY}/raw").status_code == 404


def test_raw_urls_need_a_login(app):
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as anonymous:
        assert anonymous.get(f"/recordings/{EVERYONE}/raw").status_code == 401
        page = anonymous.get(f"/calls/{EVERYONE}/raw")
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        assert anonymous.get("/audit").status_code == 303
