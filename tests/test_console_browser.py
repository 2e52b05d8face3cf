"""The console in a real browser: Debian's chromium (headless) driven by Selenium through
chromium-driver, against `ivr console` running as its own process. Log in, filter, open a
call, play its recording, click a turn, edit a plan (a broken edit is refused with its line;
a fixed one goes live), roll back, log out; CSRF and lock-out as a browser meets them.
Screenshots of the main pages go to test-artifacts/console/."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from ivr.service_process import free_port
from ivr.web.accounts import MAX_FAILURES
from ivr.web.process import ConsoleProcess
from test_console import ADMIN, PASSWORD, PLAN, QA, Console, make_console

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver "
                                       "(./setup.sh installs them)")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[ConsoleProcess, Console]]:
    root = tmp_path_factory.mktemp("console")
    console = make_console(root)
    with ConsoleProcess(free_port(), console.url, console.recordings, console.dialplans,
                        log_path=root / "console.log") as process:
        yield process, console


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                 "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_until(check: Callable[[], object], what: str, timeout_s: float = 10.0) -> object:
    """`check()` once it is truthy. While a page is being replaced (after a form posts), an
    element may be missing or go stale as it is read: that counts as not yet."""
    from selenium.common.exceptions import (NoSuchElementException,
                                            StaleElementReferenceException, WebDriverException)

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = check()
        except (NoSuchElementException, StaleElementReferenceException):
            found = None
        except WebDriverException as exc:
            # chromedriver's own words for an element of the page just replaced
            if "does not belong to the document" not in str(exc):
                raise
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def shot(driver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def log_in(driver, base: str, name: str, password: str) -> None:
    """Submit the login form and wait for the answer page to replace it.

    The login document is marked before the click and the wait ends when a
    loaded document without the mark is there: asking chromium whether the old
    button went stale races the navigation ("Node with given id does not
    belong to the document").
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base + "login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.execute_script("window.ivrLoginPage = true;")
    driver.find_element(By.ID, "login").click()
    # a script sent mid-navigation may fail; the next poll asks the new page
    WebDriverWait(driver, 10, ignored_exceptions=(WebDriverException,)).until(lambda d: d.execute_script(
        "return !window.ivrLoginPage && document.readyState === 'complete';"))


def set_text(driver, text: str) -> None:
    driver.execute_script("document.getElementById('text').value = arguments[0];", text)


def test_qa_reviews_a_call_and_the_admin_changes_a_plan(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    process, console = server
    base = process.url
    driver = browser

    # logged out, a recording URL is refused and a page sends to the login
    call_id = console.call_ids[0]
    assert httpx.get(f"{base}recordings/{call_id}").status_code == 401
    driver.get(base + "calls")
    assert driver.current_url.startswith(base + "login?next=")
    shot(driver, "login")

    log_in(driver, base, ADMIN, PASSWORD)
    wait_until(lambda: driver.current_url == base + "calls", "the call list")
    rows = driver.find_elements(By.CSS_SELECTOR, "#calls tbody tr")
    assert len(rows) == 50 and driver.find_element(By.ID, "older")
    shot(driver, "calls")

    # filter: transferred calls only
    Select(driver.find_element(By.ID, "f-outcome")).select_by_value("transferred")
    driver.find_element(By.ID, "apply").click()
    wait_until(lambda: "outcome=transferred" in driver.current_url, "the filtered list")
    outcomes = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "#calls .outcome")}
    assert outcomes == {"transferred"}
    shot(driver, "calls-filtered")

    # open a call; its recording loads through the authorised URL and plays
    driver.find_element(By.CSS_SELECTOR, "#calls a.call-link").click()
    wait_until(lambda: "/calls/" in driver.current_url, "the call view")
    src = driver.execute_script("return document.getElementById('player').currentSrc")
    assert src.startswith(base + "recordings/")
    wait_until(lambda: driver.execute_script(
        "var p = document.getElementById('player'); return p.readyState >= 1 && p.duration > 0"),
        "the recording's metadata")
    assert driver.execute_script("return document.getElementById('player').duration") \
        == pytest.approx(40.0, abs=0.1)
    driver.execute_script("document.getElementById('player').play()")
    wait_until(lambda: driver.execute_script(
        "return document.getElementById('player').currentTime") > 0.3, "playback to advance")

    # click a turn: the player jumps to it and highlights it
    turns = driver.find_elements(By.CSS_SELECTOR, "#turns .turn")
    target = turns[2]
    start = float(target.get_attribute("data-start"))
    target.click()
    now = driver.execute_script("return document.getElementById('player').currentTime")
    assert start - 0.05 <= now <= start + 1.0
    wait_until(lambda: "playing" in target.get_attribute("class"), "the turn's highlight")
    assert [t for t in turns if "playing" in t.get_attribute("class")] == [target]
    driver.execute_script("document.getElementById('player').pause()")
    shot(driver, "call")

    # CSRF: a POST from this logged-in page without the token is refused
    status = driver.execute_script(
        "return fetch('/logout', {method: 'POST'}).then(r => r.status)")
    assert status == 403

    # dialplans: a broken edit is refused with its line; the live file stays
    driver.get(base + "dialplans")
    assert PLAN in driver.find_element(By.ID, "plans").text
    shot(driver, "dialplans")
    driver.find_element(By.LINK_TEXT, PLAN).click()
    original = console.plan.read_text()
    set_text(driver, original.replace("start: welcome", "start: nowhere"))
    driver.find_element(By.ID, "save").click()
    problems = wait_until(lambda: driver.find_elements(By.ID, "problems"), "the errors")[0].text
    line = original.splitlines().index("start: welcome") + 1
    assert f"{PLAN}:{line}:" in problems and "nowhere" in problems
    assert console.plan.read_text() == original
    shot(driver, "dialplan-rejected")

    # fixed: saved and live
    fixed = original.replace("How can I help", "How may I help")
    set_text(driver, fixed)
    driver.find_element(By.ID, "save").click()
    message = wait_until(lambda: driver.find_elements(By.ID, "message"), "the save")[0].text
    assert "Saved as version 2" in message
    assert console.plan.read_text() == fixed
    assert "How may I help" in driver.find_element(By.ID, "diff").text
    shot(driver, "dialplan-saved")

    # roll back to the version found on disk
    driver.find_element(By.ID, "rollback-1").click()
    wait_until(lambda: "version 3" in driver.find_element(By.ID, "message").text,
               "the rollback")
    assert console.plan.read_text() == original
    history = driver.find_element(By.ID, "history").text
    assert "rollback to version 1" in history and ADMIN in history
    shot(driver, "dialplan-history")

    # log out: pages and the recording are closed again
    recording = f"{base}recordings/{call_id}"
    driver.find_element(By.ID, "logout").click()
    wait_until(lambda: driver.current_url.startswith(base + "login"), "the login page")
    driver.get(recording)
    assert "log in first" in driver.page_source
    assert httpx.get(recording).status_code == 401


def test_five_bad_passwords_lock_the_account(server, browser):
    from selenium.webdriver.common.by import By

    process, _ = server
    browser.delete_all_cookies()
    for _ in range(MAX_FAILURES):
        log_in(browser, process.url, QA, "not the password")
    assert "locked until" in browser.find_element(By.ID, "login-error").text
    log_in(browser, process.url, QA, PASSWORD)
    assert "locked until" in browser.find_element(By.ID, "login-error").text
    assert browser.current_url.startswith(process.url + "login")
    shot(browser, "login-locked")


def test_the_dashboard_draws_its_charts_and_a_call_replays_from_its_page(server, browser):
    from selenium.webdriver.common.by import By

    process, console = server
    base, driver = process.url, browser
    driver.delete_all_cookies()
    log_in(driver, base, ADMIN, PASSWORD)
    driver.find_element(By.ID, "nav-dashboard").click()
    wait_until(lambda: driver.current_url == base + "dashboard", "the dashboard")
    for chart in ("chart-per-hour", "chart-transfers", "chart-survey", "chart-qa-trend"):
        svg = driver.find_element(By.ID, chart)
        assert svg.size["width"] > 300 and svg.size["height"] > 20, chart
    bars = driver.find_elements(By.CSS_SELECTOR, "#chart-per-hour rect.bar")
    assert len(bars) == 24
    # the bars are painted in the stylesheet's colour, not the SVG default (black)
    assert driver.execute_script(
        "return getComputedStyle(arguments[0]).fill", bars[0]) == "rgb(31, 95, 191)"
    shot(driver, "dashboard")
    driver.find_element(By.ID, "window-7d").click()
    wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR,
                                                "#chart-per-hour rect.bar")) == 168,
               "the 7-day chart")
    shot(driver, "dashboard-7d")

    # a synthetic call has no recording to replay: the replay page says so when it is done
    call_id = console.call_ids[1]
    driver.get(f"{base}calls/{call_id}")
    driver.find_element(By.ID, "replay").click()
    wait_until(lambda: "/replays/" in driver.current_url, "the replay page")
    wait_until(lambda: "not replayed" in driver.page_source, "the replay to finish", 20.0)
    assert "recording missing" in driver.find_element(By.CSS_SELECTOR, "p.error").text
    assert driver.find_element(By.ID, "progress").get_attribute("data-state") == "done"
    shot(driver, "replay")


def test_an_admin_shows_a_calls_raw_copy_sees_the_audit_and_manages_a_user(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from ivr.store.raw_copy import keep_raw_recording
    from ivr.store.store import CallStore
    from ivr.store.writer import StoreWriter
    from test_raw_copy import SAID, feed

    process, console = server
    base, driver = process.url, browser
    recording = console.recordings / "call.wav"
    raw = keep_raw_recording(recording)
    store = CallStore.open(console.url)
    writer = StoreWriter(store, "w1")
    feed(writer, "raw-call", ["admin"], recording, raw)
    assert writer.flush()
    writer.close()

    driver.delete_all_cookies()
    log_in(driver, base, ADMIN, PASSWORD)
    driver.get(base + "calls/raw-call")
    assert SAID not in driver.page_source and "[card ••••1111]" in driver.page_source
    driver.find_element(By.ID, "show-raw").click()
    wait_until(lambda: driver.find_elements(By.ID, "raw-banner"), "the raw view")
    assert SAID in driver.find_element(By.ID, "turns").text
    assert driver.execute_script(
        "return document.getElementById('player').currentSrc") == base + "recordings/raw-call/raw"
    wait_until(lambda: driver.execute_script(
        "var p = document.getElementById('player'); return p.readyState >= 1 && p.duration > 0"),
        "the raw recording's metadata")
    shot(driver, "call-raw")
    driver.find_element(By.ID, "nav-audit").click()
    wait_until(lambda: driver.current_url == base + "audit", "the audit log")
    logged = driver.find_element(By.ID, "raw-views").text
    assert "raw-call" in logged and "text" in logged and "audio" in logged and ADMIN in logged
    shot(driver, "audit")

    # users: create one, make her admin, disable her
    driver.find_element(By.ID, "nav-users").click()
    wait_until(lambda: driver.current_url == base + "users", "the users page")
    driver.find_element(By.ID, "new-name").send_keys("rita")
    Select(driver.find_element(By.ID, "new-role")).select_by_visible_text("qa")
    driver.find_element(By.ID, "new-password").send_keys("rita's long password")
    driver.find_element(By.ID, "create-user").click()
    wait_until(lambda: driver.find_elements(By.ID, "users-done"), "the new user")
    assert "rita is created" in driver.find_element(By.ID, "users-done").text
    row = driver.find_element(By.ID, "user-rita")
    Select(row.find_element(By.NAME, "role")).select_by_visible_text("admin")
    row.find_element(By.CLASS_NAME, "set-role").click()
    wait_until(lambda: "is now admin" in driver.find_element(By.ID, "users-done").text,
               "the role change")
    # disabling asks first: dismissed, nothing changes; accepted, she is disabled
    driver.find_element(By.ID, "user-rita").find_element(By.CLASS_NAME, "disable").click()
    wait_until(lambda: _alert(driver), "the confirmation")
    assert "Disable rita?" in driver.switch_to.alert.text
    driver.switch_to.alert.dismiss()
    assert "disabled" not in driver.find_element(By.ID, "user-rita").text
    driver.find_element(By.ID, "user-rita").find_element(By.CLASS_NAME, "disable").click()
    wait_until(lambda: _alert(driver), "the confirmation")
    driver.switch_to.alert.accept()
    wait_until(lambda: "is disabled" in driver.find_element(By.ID, "users-done").text,
               "the user disabled")
    row = driver.find_element(By.ID, "user-rita").text
    assert "admin" in row and "disabled" in row
    shot(driver, "users")


def _alert(driver) -> bool:
    """Whether a JavaScript dialog (confirm) is open."""
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert.text
    except NoAlertPresentException:
        return False
    return True


def test_a_recorded_sip_call_replays_in_the_browser_before_and_after_a_plan_edit(server, browser):
    """A real SIP call (tests/data/calls) replays through the console's own models: unchanged on
    the plan as it is; after the admin swaps two menu targets in the editor, the replay marks the
    menu turn's decision changed. The plan is rolled back at the end."""
    import datetime as dt

    from selenium.webdriver.common.by import By

    from ivr.store import schema
    from ivr.store.rows import Write
    from ivr.store.store import CallStore

    process, console = server
    base, driver = process.url, browser
    call_id, plan_name = "sip-menu-spoken-power", "it-hardware-support.yaml"
    recorded = ROOT / "tests" / "data" / "calls"
    store = CallStore.open(console.url)
    try:
        store.write([Write(schema.calls, {
            "call_id": call_id, "worker": "w1", "schema_version": 1,
            "started_at": dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc),
            "dialplan": f"dialplans/{plan_name}", "outcome": schema.Outcome.TRANSFERRED,
            "events_path": str(recorded / f"{call_id}.jsonl"),
            "recording_path": str(recorded / f"{call_id}.wav")})])
    finally:
        store.close()

    def replay(screenshot: str) -> str:
        driver.get(f"{base}calls/{call_id}")
        driver.find_element(By.ID, "replay").click()
        wait_until(lambda: "/replays/" in driver.current_url, "the replay page")
        wait_until(lambda: driver.find_element(By.ID, "progress").get_attribute("data-state")
                   == "done", "the replay of a recorded call", 300.0)
        shot(driver, screenshot)
        return driver.find_element(By.ID, f"call-{call_id}").text

    driver.delete_all_cookies()
    log_in(driver, base, ADMIN, PASSWORD)
    same = replay("replay-recorded-call")
    assert "unchanged" in same or "wording changed" in same, same
    assert "menu_choice" in same and "decisions changed" not in same, same

    # the admin sends the power problem to the disk node (and back), in the browser's editor
    plan = console.dialplans / plan_name
    original = plan.read_text(encoding="utf-8")
    power, disks = "        next: power_intro\n", "        next: disk_intro\n"
    assert original.count(power) == original.count(disks) == 1
    driver.get(f"{base}dialplans/{plan_name}")
    set_text(driver, original.replace(power, "@@").replace(disks, power).replace("@@", disks))
    driver.find_element(By.ID, "save").click()
    wait_until(lambda: "Saved as version" in driver.find_element(By.ID, "message").text,
               "the save")

    changed = replay("replay-recorded-call-changed")
    assert "decisions changed" in changed, changed
    cells = driver.find_elements(By.CSS_SELECTOR, f"#call-{call_id} td.decision.changed")
    befores = [c.find_element(By.CSS_SELECTOR, ".before").text for c in cells]
    assert any("power_intro" in b for b in befores), befores

    driver.get(f"{base}dialplans/{plan_name}")
    button, = driver.find_elements(By.CSS_SELECTOR, "button.rollback")  # the version on disk
    version = button.get_attribute("value")
    button.click()
    wait_until(lambda: f"rollback to version {version}" in driver.find_element(
        By.ID, "history").text, "the rollback")
    assert plan.read_text(encoding="utf-8") == original
