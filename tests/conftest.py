"""Shared fixtures: the real embedded models, loaded once per test run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ivr.text.normalize import simple_normalize as normalize  # noqa: E402
from ivr.audio.frames import PHONE_RATE  # noqa: E402
from ivr.dialog.actions import Lookup, Step  # noqa: E402
from ivr.dialog.engine import DialogEngine  # noqa: E402
from ivr.dialplan.loader import LoadedPlan, load_dialplan  # noqa: E402
from ivr.events import EventLog, ManualClock  # noqa: E402
from ivr.llm.client import LLMClient, LLMSettings  # noqa: E402
from ivr.session.engines import Engines, build_engines  # noqa: E402
from ivr.session.offline import OfflineResult, run_offline  # noqa: E402
from ivr.session.session import CallSession, SessionConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO_PLAN = ROOT / "dialplans" / "acme-mobile.yaml"


@pytest.fixture(scope="session")
def llm_server():
    from ivr.llm.embedded import EmbeddedLLMServer
    from ivr.models.locator import smollm2_gguf

    with EmbeddedLLMServer(smollm2_gguf()) as server:
        yield server


@pytest.fixture(scope="session")
def engines(llm_server) -> Engines:
    """The embedded engines, with the bot's piper voice made deterministic so that tests which
    transcribe what the bot said hear the same audio on every run."""
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS

    built = build_engines("whisper-tiny.en", ["en"],
                          LLMClient(LLMSettings(base_url=llm_server.base_url, embedded=True)))
    built.voices["en"] = PiperTTS(*piper_joe(), deterministic=True)
    return built


@pytest.fixture(scope="session")
def voice_en():
    """The synthetic caller's voice: piper without random prosody, so every run hears the same
    caller (the bot's own voice keeps its natural variation)."""
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS

    return PiperTTS(*piper_joe(), deterministic=True)


@pytest.fixture(scope="session")
def demo_plan() -> LoadedPlan:
    return load_dialplan(DEMO_PLAN)


def words(text: str) -> set[str]:
    return set(normalize(text).split())


def call(engines: Engines, plan: LoadedPlan, caller_pcm: bytes,
         config: SessionConfig | None = None) -> tuple[OfflineResult, EventLog]:
    """Run one offline call and return its result and events."""
    clock = ManualClock()
    events = EventLog(clock)
    session = CallSession("test", plan, engines, events, config=config)
    result = asyncio.run(run_offline(session, clock, caller_pcm))
    return result, events


def scripted_call(engines: Engines, plan: LoadedPlan, voice, turns: list[str | tuple[str, str]],
                  **session_options) -> tuple[OfflineResult, EventLog, CallSession]:
    """One offline call with a scripted caller: each turn is spoken text (`voice` through
    G.711) or ("keys", "123#"), played once the bot has finished speaking."""
    from ivr.audio.g711 import phone_line
    from ivr.session.offline import ScriptTurn, run_script

    script = [ScriptTurn(keys=t[1]) if isinstance(t, tuple) else
              ScriptTurn(audio=phone_line(b"".join(s.pcm for s in voice.speak_all(t))))
              for t in turns]
    clock = ManualClock()
    events = EventLog(clock)
    session = CallSession("scripted", plan, engines, events, **session_options)
    result = asyncio.run(run_script(session, clock, script))
    return result, events, session


def run_lookup(dialog: DialogEngine, action: Lookup) -> Step:
    """What `dialog` says and does once the look-up `action` has run (as a call session runs
    it), on a loop of its own."""
    async def look_up() -> Step:
        try:
            return await dialog.look_up(action)
        finally:
            await dialog.aclose()
    return asyncio.run(look_up())


def with_lookups(dialog: DialogEngine, step: Step) -> Step:
    """`step` with the look-ups it ends in run (the tool's sentence or its fallback, then the
    nodes after): for tests that drive a dialog alone."""
    actions = list(step.actions)
    while actions and isinstance(actions[-1], Lookup):
        actions += run_lookup(dialog, actions.pop()).actions
    return Step(actions, step.reason, dialog.state.node, step.evidence)


def transcribe(engines: Engines, pcm: bytes) -> str:
    """What a listener hears in bot audio (whisper on the 8 kHz output)."""
    return engines.asr.transcribe(pcm, PHONE_RATE, ("en",)).raw_text


@pytest.fixture(scope="session")
def sip_models():
    """The model service every SIP test module shares (see `sip.siptest.shared_model_service`)."""
    from sip.siptest import shared_model_service

    return shared_model_service()


@pytest.fixture(scope="session")
def sip_voice(sip_models):
    """The model service's English voice, for synthesising SIP callers."""
    from ivr.models.remote import remote_engines

    return remote_engines(sip_models.base_url, ["en"], None).voice("en")


@pytest.fixture()
def webhook():
    """A local HTTP endpoint that keeps every JSON body POSTed to it: (port, bodies)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, received
    server.shutdown()
