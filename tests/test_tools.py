"""Business look-ups: a plan's HTTP tools, called from lookup nodes and by a served dialogue model
through the OpenAI tools API, against the example clinic service (infra/examples). A failed,
slow or malformed look-up is said as such and never guessed at."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from ivr.dialog.actions import Converse, Lookup, Say
from ivr.dialog.engine import DialogEngine
from ivr.dialog.menus import MenuMeaning
from ivr.dialplan.loader import LoadedPlan, load_dialplan
from ivr.dialplan.model import HttpTool
from ivr.events import EventLog, ManualClock
from ivr.kb.retriever import KBEntry, Retriever
from ivr.llm.client import LLMClient, LLMSettings
from ivr.tools.http import ToolBox

from conftest import ROOT, run_lookup

SERVICE = ROOT / "infra" / "examples" / "clinic_free_slots.py"
CLINIC = ROOT / "dialplans" / "clinic-appointments.yaml"
NOON = datetime.datetime(2026, 12, 1, 12, tzinfo=datetime.timezone.utc)   # a Tuesday
WEEKDAY = "9:00, 10:30, 14:00, 15:30 and 17:00"


@contextlib.contextmanager
def clinic_service(*args: str):
    """The example free-slots service on a free port: its URL."""
    proc = subprocess.Popen([sys.executable, str(SERVICE), "--port", "0", *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        yield proc.stdout.readline().split()[-1]
    finally:
        proc.terminate()
        proc.wait(5)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/free-slots"


def clinic_with(url: str, **tool: object) -> LoadedPlan:
    """The shipped clinic plan with its free-slots tool at `url` (and other tool settings)."""
    loaded = load_dialplan(CLINIC)
    free_slots = loaded.plan.tools["free_slots"].model_copy(update={"url": url, **tool})
    return dataclasses.replace(loaded, plan=loaded.plan.model_copy(
        update={"tools": {"free_slots": free_slots}}))


def dialog_for(loaded: LoadedPlan, engines, llm: LLMClient | None = None
               ) -> tuple[DialogEngine, EventLog]:
    plan = loaded.plan
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    events = EventLog(ManualClock())
    dialog = DialogEngine(plan, Retriever(entries, engines.embedder, plan.answers.min_score),
                          llm, events, now=NOON, menus=MenuMeaning(plan, engines.embedder))
    dialog.start()
    return dialog, events


def book(dialog: DialogEngine, day: str, language: str = "en") -> Lookup:
    """Choose booking and say the day: the step ends with the look-up of free times."""
    dialog.on_text("预约" if language == "zh" else "book", language)
    step = dialog.on_text(day, language)
    assert step.reason == "slot_filled" and dialog.state.node == "book_times", step
    lookup = step.actions[-1]
    assert isinstance(lookup, Lookup) and lookup.tool == "free_slots"
    return lookup


def said(step) -> list[str]:
    return [a.text for a in step.actions if isinstance(a, Say)]


def test_a_lookup_node_says_the_free_times_and_walks_on(engines):
    with clinic_service() as url:
        dialog, events = dialog_for(clinic_with(url), engines)
        step = run_lookup(dialog, book(dialog, "next Monday"))
    assert dialog.state.slots["appointment_date"] == "2026-12-07"
    assert step.reason == "looked_up" and dialog.state.node == "book_phone"
    assert said(step)[0] == f"On that day we still have free times at {WEEKDAY}."
    assert "mobile number" in said(step)[1]
    call = events.of_kind("tool.call")[-1].data
    assert call["tool"] == "free_slots" and call["fields"] == ["appointment_date", "times"]
    assert dialog.state.looked_up == [said(step)[0]]   # a fact later answers may use


def test_booked_times_are_left_out_a_full_day_gets_the_empty_text_and_chinese_reads_lists(
        engines, tmp_path):
    booked = tmp_path / "booked.json"
    booked.write_text(json.dumps({"2026-12-07": ["9:00", "14:00"]}))
    with clinic_service("--booked", str(booked)) as url:
        loaded = clinic_with(url)
        dialog, _ = dialog_for(loaded, engines)
        monday = run_lookup(dialog, book(dialog, "next Monday"))
        dialog, _ = dialog_for(loaded, engines)
        sunday = run_lookup(dialog, book(dialog, "next Sunday"))
        dialog, _ = dialog_for(loaded, engines)
        zh = run_lookup(dialog, book(dialog, "下周二", "zh"))
    assert said(monday)[0] == "On that day we still have free times at 10:30, 15:30 and 17:00."
    assert said(sunday)[0].startswith("That day is fully booked.")
    assert said(zh)[0] == "那天还可以约这些时间：9:00、10:30、14:00、15:30和17:00。"


def test_an_unreachable_or_slow_tool_is_said_as_such_and_the_booking_goes_on(engines):
    dialog, events = dialog_for(clinic_with(closed_port_url()), engines)
    down = run_lookup(dialog, book(dialog, "next Monday"))
    assert down.reason == "lookup_failed" and dialog.state.node == "book_phone"
    assert said(down)[0] == "I'm sorry, I can't look that up right now."
    assert "ConnectError" in events.of_kind("tool.call")[-1].data["error"]
    assert dialog.state.looked_up == []

    with clinic_service("--delay-ms", "3000") as url:
        dialog, events = dialog_for(clinic_with(url, timeout_ms=300), engines)
        lookup = book(dialog, "next Monday")
        started = time.perf_counter()
        slow = run_lookup(dialog, lookup)
        waited = time.perf_counter() - started
    assert slow.reason == "lookup_failed" and waited < 2.0, waited
    assert events.of_kind("tool.call")[-1].data["error"] == "no answer within 300 ms"


class Canned:
    """A local HTTP endpoint answering every request with one status and body; counts them."""

    def __init__(self) -> None:
        self.status, self.body, self.requests = 200, b"{}", []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                canned.requests.append(json.loads(self.rfile.read(
                    int(self.headers["Content-Length"]))))
                self._answer()

            def do_GET(self):  # noqa: N802
                canned.requests.append(dict(parse_qsl(urlsplit(self.path).query)))
                self._answer()

            def _answer(self):
                self.send_response(canned.status)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/free-slots"


@pytest.fixture()
def canned():
    endpoint = Canned()
    yield endpoint
    endpoint.server.shutdown()


@pytest.mark.parametrize("status,body,error", [
    (500, b'{"times": ["9:00"]}', "HTTP 500"),
    (200, b"<html>busy</html>", "not JSON"),
    (200, b'["9:00", "10:30"]', "not a JSON object"),
    (200, b'{"slots": ["9:00"]}', "lacks a field"),                   # no `times`
    (200, b'{"times": [{"at": "9:00"}]}', "lacks a field"),           # not values
    (200, b'{"times": []}', None),                                     # empty: the node's text
], ids=["http-500", "html", "list", "missing-field", "nested", "empty"])
def test_what_a_tool_answers_is_said_only_when_the_node_can_say_it(engines, canned, status, body,
                                                                  error):
    canned.status, canned.body = status, body
    dialog, _ = dialog_for(clinic_with(canned.url), engines)
    step = run_lookup(dialog, book(dialog, "next Monday"))
    assert canned.requests == [{"appointment_date": "2026-12-07"}]
    if error is None:
        assert step.reason == "looked_up" and said(step)[0].startswith("That day is fully booked")
    else:
        assert step.reason == "lookup_failed" and error in step.evidence["error"], step.evidence
        assert said(step)[0] == "I'm sorry, I can't look that up right now."


@pytest.mark.parametrize("tool,taken_back", [
    ({}, True),                                      # the shipped clinic tool, read-only
    ({"read_only": None}, False),                    # a POST may act (a booking, a payment)
    ({"read_only": None, "method": "GET"}, True),    # a GET only reads
    ({"read_only": False, "method": "GET"}, False),
], ids=["read-only", "post", "get", "get-that-acts"])
def test_a_turn_whose_look_up_may_have_acted_is_never_taken_back(engines, canned, tool,
                                                                 taken_back):
    """A caller who goes on after a pause has their turn taken back and heard again whole, and
    its look-up is sent again; not when that look-up may have acted, so nothing acts twice."""
    from ivr.audio.frames import silence
    from ivr.session.session import CallSession, TakenTurn

    canned.body = b'{"times": ["9:00"]}'

    async def going_on_after_the_look_up() -> bool:
        session = CallSession("booking", clinic_with(canned.url, **tool), engines,
                              EventLog(ManualClock()), now=NOON)
        session.dialog.start()
        before = session.dialog.checkpoint()
        lookup = book(session.dialog, "next Monday")
        session.playout.push(silence(1000))           # the bot is replying
        session._taken = TakenTurn(silence(1500), t_end=10.0, speech_s=1.0, before=before)
        assert session._continuing(10.5)              # nothing sent yet
        try:
            looked = await session.dialog.look_up(lookup)
        finally:
            await session.dialog.aclose()
        assert looked.reason == "looked_up", looked
        return session._continuing(10.5)

    assert asyncio.run(going_on_after_the_look_up()) is taken_back
    assert canned.requests == [{"appointment_date": "2026-12-07"}]


def test_arguments_are_checked_and_read_slots_come_from_the_call_not_the_model(canned):
    canned.body = b'{"ok": 1}'
    tool = HttpTool(description="Orders of a customer.", url=canned.url, reads=["phone"],
                    parameters={"type": "object", "required": ["limit", "phone"],
                                "properties": {"limit": {"type": "integer"},
                                               "phone": {"type": "string"}}})
    box = ToolBox({"orders": tool}, EventLog(ManualClock()))
    spec = box.specs(["orders"])[0]["function"]
    assert spec["parameters"]["properties"] == {"limit": {"type": "integer"}}   # no phone
    assert spec["parameters"]["required"] == ["limit"]

    async def calls():
        try:
            return [await box.call_json("orders", '{"limit": "all"}', {"phone": "13912345678"}),
                    await box.call_json("orders", '{"limit": 2}', {}),
                    await box.call_json("orders", "{limit: 2", {"phone": "13912345678"}),
                    await box.call_json("refunds", "{}", {"phone": "13912345678"}),
                    await box.call_json("orders", '{"limit": 2, "phone": "13800000000"}',
                                        {"phone": "13912345678"})]
        finally:
            await box.aclose()

    bad_type, no_slot, bad_json, unknown, good = asyncio.run(calls())
    assert "do not fit the tool's schema" in bad_type.error
    assert "phone not collected" in no_slot.error
    assert "not JSON" in bad_json.error and "unknown tool 'refunds'" in unknown.error
    assert good.ok and canned.requests == [{"limit": 2, "phone": "13912345678"}]


def test_a_get_tool_sends_its_arguments_as_query_parameters(canned):
    canned.body = b'{"status": "shipped"}'
    tool = HttpTool(description="An order's status.", url=canned.url, method="GET",
                    reads=["order"], parameters={"type": "object",
                                                 "properties": {"order": {"type": "string"}}})
    box = ToolBox({"order_status": tool}, EventLog(ManualClock()))

    async def call():
        try:
            return await box.call("order_status", {}, {"order": "A-1042"})
        finally:
            await box.aclose()

    outcome = asyncio.run(call())
    assert outcome.result == {"status": "shipped"}
    assert canned.requests == [{"order": "A-1042"}]


class ToolCallingLLM:
    """An OpenAI-compatible chat endpoint that streams as vLLM does with tools on: a function
    call in pieces when the request offers tools and no tool result came back yet, else
    `reply`. A stand-in for a served model, which cannot run on this machine's tests."""

    def __init__(self, reply: str, arguments: str = '{"appointment_date": "2027-01-04"}') -> None:
        self.requests: list[dict] = []
        llm = self

        def chunk(delta: dict) -> bytes:
            return f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta}]})}\n\n".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                llm.requests.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if body.get("tools") and not any(m["role"] == "tool" for m in body["messages"]):
                    name = body["tools"][0]["function"]["name"]
                    pieces = [{"tool_calls": [{"index": 0, "id": "call_7", "type": "function",
                                               "function": {"name": name, "arguments": ""}}]},
                              {"tool_calls": [{"index": 0,
                                               "function": {"arguments": arguments[:12]}}]},
                              {"tool_calls": [{"index": 0,
                                               "function": {"arguments": arguments[12:]}}]}]
                else:
                    pieces = [{"content": word + " "} for word in reply.split()]
                for piece in pieces:
                    self.wfile.write(chunk(piece))
                self.wfile.write(b"data: [DONE]\n\n")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"


def converse_with_tools(dialog: DialogEngine) -> list[str]:
    dialog.state.language = "en"
    dialog.state.slots["appointment_date"] = "2026-12-07"
    action = Converse("what times are free that day?", "Help the caller book.",
                      "You can book, change or cancel appointments.", ("free_slots",))

    async def run():
        try:
            return [s async for s in dialog.speak(action)]
        finally:
            await dialog.aclose()
            await dialog.writer.llm.aclose()
    return asyncio.run(run())


def test_a_served_model_calls_the_tool_and_only_what_the_result_supports_is_said(engines):
    llm = ToolCallingLLM("On that day we have free times at 9:00 and 10:30. "
                         "We also have a slot at 11:15.")
    with clinic_service() as url:
        dialog, events = dialog_for(clinic_with(url), engines,
                                    LLMClient(LLMSettings(base_url=llm.url)))
        spoken = converse_with_tools(dialog)
    llm.server.shutdown()
    assert spoken == ["On that day we have free times at 9:00 and 10:30."]   # 11:15 invented
    offered = llm.requests[0]["tools"][0]["function"]
    assert offered["name"] == "free_slots" and offered["parameters"]["properties"] == {}
    result = json.loads(next(m for m in llm.requests[1]["messages"] if m["role"] == "tool")
                        ["content"])
    assert result["appointment_date"] == "2026-12-07"     # the caller's day, not the model's
    assert llm.requests[1]["messages"][-2]["tool_calls"][0]["id"] == "call_7"
    assert events.of_kind("tool.call")[-1].data["fields"] == ["appointment_date", "times"]


def test_a_failed_tool_call_is_said_and_the_embedded_model_is_not_offered_tools(engines):
    llm = ToolCallingLLM("We have free times at 9:00.")
    dialog, _ = dialog_for(clinic_with(closed_port_url()), engines,
                           LLMClient(LLMSettings(base_url=llm.url)))
    assert converse_with_tools(dialog) == ["I'm sorry, I can't look that up right now."]
    assert len(llm.requests) == 1                       # the failure was not handed back

    llm.requests.clear()
    dialog, _ = dialog_for(clinic_with(closed_port_url()), engines,
                           LLMClient(LLMSettings(base_url=llm.url, embedded=True)))
    spoken = converse_with_tools(dialog)
    llm.server.shutdown()
    assert "tools" not in llm.requests[0] and len(llm.requests) == 1
    assert spoken == ["You can book, change or cancel appointments."]  # 9:00 unsupported


def test_a_spoken_booking_hears_the_free_times_through_a_call(engines, voice_en):
    """Piper asks to book and names a day through G.711 into the clinic plan's call session
    (whisper, the guards, the dialog, the tool over HTTP, piper back)."""
    from ivr.audio.g711 import phone_line
    from ivr.session.offline import ScriptTurn, run_script, simulate

    def spoken(text: str) -> ScriptTurn:
        return ScriptTurn(audio=phone_line(b"".join(s.pcm for s in voice_en.speak_all(text))))

    turns = [spoken("I'd like to book an appointment."), spoken("Next Monday, please.")]
    with clinic_service() as url:
        _, events = simulate("tool-booking", clinic_with(url), engines,
                             lambda session, clock: run_script(session, clock, turns, gap_s=0.8),
                             now=NOON)
    bot = [e.data["text"] for e in events.of_kind("bot.say")]
    assert f"On that day we still have free times at {WEEKDAY}." in bot, bot
    assert bot[-1].startswith("Please say or key in your mobile number"), bot
    decisions = [e.data["reason"] for e in events.of_kind("dialog.decision")]
    assert decisions[-2:] == ["slot_filled", "looked_up"], decisions
