"""Prometheus metrics of the hotline, gathered across its processes.

`ivr serve` runs calls in several processes (SIP workers, the model service). They are counted
with prometheus_client's multiprocess mode: the parent points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh folder before it starts any child (`prepare_multiprocess`), every child inherits it and
writes its values to memory-mapped files there, and the parent's `/metrics` endpoint
(`serve_metrics`) sums the files when scraped. This needs no protocol between the processes,
loses nothing when a worker is busy, and keeps a restarted worker's counts; the parent removes
a dead worker's live gauges (`process_dead`). Without the variable (tests, `ivr talk`) the
metrics are ordinary in-process ones.

What a call contributes comes from its events (`CallMetrics` listens to its `EventLog`), so the
figures are the call record's; the TTS cache counts in `ivr.tts.base` and the slot gauge in the
SIP worker are the only direct updates.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from ivr.events import Event

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0,
                   5.0, 10.0)
GUARD_REASONS = frozenset({"emergency", "self_harm", "caller_asked_for_human", "angry_offer",
                           "angry_caller"})
"""`dialog.decision` reasons that come from the safety guard (see `DialogEngine._guard_step`)."""

CALLS_ACTIVE = Gauge("ivr_calls_active", "Calls in progress", multiprocess_mode="livesum")
CALLS = Counter("ivr_calls", "Finished calls by outcome (the call.end reason)", ["outcome"])
TRANSFERS = Counter("ivr_transfers", "Transfers to a person by reason", ["reason"])
GUARD = Counter("ivr_guard_decisions", "Safety-guard decisions by kind", ["kind"])
STAGE = Histogram("ivr_stage_seconds", "Latency per stage: end_of_turn (silence waited after "
                  "the caller's last voiced frame), asr (recognition compute), "
                  "llm_first_token, tts_first_audio (first sentence's audio ready), "
                  "first_bot_audio (end of caller speech to the first bot frame sent)",
                  ["stage"], buckets=LATENCY_BUCKETS)
TURN_VERDICTS = Counter("ivr_turn_verdicts", "End-of-turn model verdicts at pauses: ended (the "
                        "turn ended there), vetoed (complete by audio, unfinished by transcript), "
                        "incomplete, failed (no model answer), question (a turn not ended by the "
                        "model, ended later as a whole question)", ["verdict"])
ENGINE_FAILURES = Counter("ivr_engine_failures", "Failed model calls by stage (asr, tts, llm) "
                          "and kind (error, timeout; llm also over_budget)", ["stage", "kind"])
TOOL_CALLS = Counter("ivr_tool_calls", "Calls of the plans' HTTP tools by tool and result (ok, "
                     "error: unreachable, slow, refused or unusable)", ["tool", "result"])
TOOL_SECONDS = Histogram("ivr_tool_seconds", "How long the plans' HTTP tools took to answer",
                         ["tool"], buckets=LATENCY_BUCKETS)
TTS_CACHE = Counter("ivr_tts_cache", "TTS sentence look-ups by layer (memory, disk) and result",
                    ["layer", "result"])
WORKER_RESTARTS = Counter("ivr_worker_restarts", "SIP workers restarted after they died",
                          ["worker"], registry=None)
"""Counted by `ivr serve` itself (not a child): `serve_metrics` serves it beside the children's."""
SIP_SLOTS = Gauge("ivr_sip_slots_in_use", "pjsua call slots in use per SIP worker", ["worker"],
                  multiprocess_mode="livesum")


class CallMetrics:
    """An `EventLog` listener that turns one call's events into metrics."""

    def __init__(self) -> None:
        self._speech_end: float | None = None  # wall time the caller last stopped talking
        self._started = False
        self._heard_at = "playout.first_frame"  # on SIP: when the frame left as RTP

    def __call__(self, event: Event) -> None:
        kind = event.kind
        if kind == "sip.invite":
            self._heard_at = "rtp.first_frame"
        elif kind == "call.start":
            self._started = True
            CALLS_ACTIVE.inc()
        elif kind == "call.end" and self._started:
            self._started = False
            CALLS_ACTIVE.dec()
            CALLS.labels(event["reason"]).inc()
        elif kind == "transfer.request":
            TRANSFERS.labels(event["reason"]).inc()
        elif kind == "dialog.decision" and event["reason"] in GUARD_REASONS:
            GUARD.labels(event["reason"]).inc()
        elif kind == "asr.final":
            STAGE.labels("asr").observe(event["compute_s"])
        elif kind == "llm.first_token":
            STAGE.labels("llm_first_token").observe(event["latency_s"])
        elif kind == "tts.first_audio":
            STAGE.labels("tts_first_audio").observe(event["compute_s"])
        elif kind == "speech.end" and not event.data.get("dropped"):
            self._speech_end = event.wall
            STAGE.labels("end_of_turn").observe(max(0.0, event.t - event.data.get("at", event.t)))
        elif kind == "turn.judged":
            TURN_VERDICTS.labels(_verdict(event.data)).inc()
        elif kind == "turn.question" and event["ended"]:
            TURN_VERDICTS.labels("question").inc()
        elif kind == "engine.failure":
            ENGINE_FAILURES.labels(event["stage"],
                                   "timeout" if event["timed_out"] else "error").inc()
        elif kind == "llm.error":
            timed_out = "timeout" in event["error"].lower()
            ENGINE_FAILURES.labels("llm", "timeout" if timed_out else "error").inc()
        elif kind == "llm.over_budget":
            ENGINE_FAILURES.labels("llm", "over_budget").inc()
        elif kind == "tool.call":
            TOOL_CALLS.labels(event["tool"], "error" if event.data.get("error") else "ok").inc()
            TOOL_SECONDS.labels(event["tool"]).observe(event["ms"] / 1000)
        elif kind == self._heard_at and self._speech_end is not None:
            STAGE.labels("first_bot_audio").observe(event.wall - self._speech_end)
            self._speech_end = None


def _verdict(judged: dict) -> str:
    if judged.get("error") or judged.get("probability") is None:
        return "failed"
    if judged.get("ended"):
        return "ended"
    return "vetoed" if judged.get("text") is not None and not judged["complete"] else "incomplete"


def prepare_multiprocess(folder: Path) -> None:
    """Make `folder` (emptied) the shared metrics folder of this process's future children."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)


def process_dead(pid: int) -> None:
    """Forget the live gauges of a child that exited (its counters stay counted)."""
    from prometheus_client import multiprocess

    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def serve_metrics(port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve /metrics (text exposition format) on a daemon thread: the sum over the processes
    sharing the multiprocess folder, or this process's own metrics without one. Call
    `.shutdown()` on the result to stop it."""
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    try:
        registry.register(WORKER_RESTARTS)
    except ValueError:  # served from this registry before
        pass
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
