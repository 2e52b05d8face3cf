"""A SIP worker process: one pjsua2 endpoint (<= 4 calls), one asyncio loop, no model compute.

Run by `ivr serve` as `python -m ivr.sip.worker --config JSON`. It prints
`IVR_WORKER_READY <name> <sip port>` on stdout once it takes calls, logs one line per call
start, transfer and end on stderr, and stops cleanly on SIGTERM/SIGINT (calls are hung up and
every record is finished). SIGUSR1 writes every thread's stack to stderr; a loop stalled for
seconds does that by itself, and exits after 30 s so that `ivr serve` restarts the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import faulthandler
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pjsua2 as pj
from pydantic import BaseModel, Field

from ivr import metrics
from ivr.audio.turn import shared_turn_model
from ivr.dialog.engine import warm_guard
from ivr.dialplan.loader import LoadedPlan
from ivr.dialplan.store import PlanStore
from ivr.errors import IvrError
from ivr.llm.client import LLMClient, LLMSettings
from ivr.safety.semantic import load_head
from ivr.session.engines import Engines
from ivr.session.session import knowledge_index
from ivr.sip.allow import AllowList
from ivr.sip.call import BotAccount, BotCall
from ivr.sip.driver import CallContext, CallDriver, DriverSettings
from ivr.sip.endpoint import (MAX_CALLS, EndpointSettings, account_config, create_endpoint,
                              destroy_endpoint, slots_in_use)
from ivr.sip.loop_gc import LoopGarbageCollector
from ivr.sip.stall import LoopStallGuard
from ivr.sip.watchdog import MediaDeadlines
from ivr.store.store import CallStore, default_url, display_url
from ivr.qa.rubric import load_rubric
from ivr.store.writer import StoreWriter

log = logging.getLogger("ivr.sip")

READY = "IVR_WORKER_READY"
POLL_S = 0.005       # SIP events and media pumping every 5 ms (frames are 20 ms)
PLAN_CHECK_S = 1.0   # how often an edited dialplan file is looked for
RETIRE_AFTER_S = 2.0  # keep a finished call's objects this long (pjmedia may still hold them)


class WorkerSettings(BaseModel):
    """Everything a worker needs; `ivr serve` passes it as JSON."""

    name: str = "w1"
    bind: str = "127.0.0.1"
    sip_port: int = Field(5060, ge=1, le=65535)
    rtp_port: int = Field(40000, ge=1024, le=65000)
    rtp_port_range: int = Field(100, ge=8)
    max_calls: int = Field(MAX_CALLS, ge=1, le=MAX_CALLS)
    allow: list[str] = ["127.0.0.1/32"]
    recordings: Path = Path("recordings")
    store_url: str | None = None        # the call store; None = SQLite calls.db in recordings
    rubric: Path | None = None          # QA rubric for the store's scores; None = the default
    dialplan: Path
    models_url: str | None = None       # model service; None = in-process engines (dev only)
    llm_url: str | None = None
    llm_model: str = "default"
    llm_embedded: bool = False          # the LLM is the stack's embedded CPU model
    answer_delay_ms: int = Field(0, ge=0, le=30000)  # ring this long before answering
    transfer_timeout_s: float = Field(30.0, gt=0)
    prefill_frames: int = Field(10, ge=1, le=50)
    sip_log_level: int = Field(1, ge=0, le=6)
    deadlines: MediaDeadlines = MediaDeadlines()


def llm_client_for(settings: WorkerSettings, needs_llm: bool) -> LLMClient | None:
    """The worker's LLM client, if the plan needs one and the worker was given a URL."""
    if not needs_llm:
        return None
    if not settings.llm_url:
        log.warning("the dialplan asks for an LLM but no URL was given: approved answers "
                    "are read verbatim")
        return None
    return LLMClient(LLMSettings(base_url=settings.llm_url, model=settings.llm_model,
                                 embedded=settings.llm_embedded))


def warm_plan(engines: Engines, loaded: LoadedPlan) -> None:
    """What a plan's first call would otherwise build on the SIP thread, built now (at start,
    and for each edited plan before it goes live): its knowledge index, and the hand-off
    guard's rules with pypinyin's dictionaries (~0.6 s holding the GIL on a first turn)."""
    knowledge_index(engines, loaded)
    warm_guard(loaded.plan)


def build_engines_for(settings: WorkerSettings, languages: list[str], asr_model: str,
                      needs_llm: bool) -> Engines:
    llm = llm_client_for(settings, needs_llm)
    if settings.models_url:
        from ivr.models.remote import remote_engines

        return remote_engines(settings.models_url, languages, llm)
    log.warning("no model service URL: loading models inside the SIP worker (development "
                "only; model compute here can starve the media clock)")
    from ivr.session.engines import build_engines

    return build_engines(asr_model, languages, llm)


class Worker:
    """Owns the endpoint, the account, and every call's driver."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.allow = AllowList(settings.allow)
        self.calls: dict[str, BotCall] = {}
        self.retired: list[tuple[float, BotCall]] = []
        self.rejected = 0
        self.slots = 0  # pjsua's call slots in use, including dialogs still ending
        self.ep: pj.Endpoint | None = None
        self.account: BotAccount | None = None
        self.ctx: CallContext | None = None
        self.store: StoreWriter | None = None
        self._seq = 0

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        s = self.settings
        plans = PlanStore(s.dialplan)
        plan = plans.current().plan
        engines = build_engines_for(s, plan.languages, plan.asr_model, plan.uses_llm)
        warm_plan(engines, plans.current())
        # The end-of-turn model's child starts loading now, not on the first call's media path,
        # and so does the hand-off guard's head (125 ms of unzipping holding the GIL)
        shared_turn_model()
        load_head()
        self.store = open_store(s)
        self.ctx = CallContext(plans, engines, DriverSettings(
            recordings=s.recordings, prefill_frames=s.prefill_frames,
            transfer_timeout_s=s.transfer_timeout_s, deadlines=s.deadlines), worker=s.name,
            store=self.store)
        endpoint = EndpointSettings(
            bind=s.bind, sip_port=s.sip_port, rtp_port=s.rtp_port,
            rtp_port_range=s.rtp_port_range, max_calls=s.max_calls, log_level=s.sip_log_level,
            transaction_timeout_ms=round(s.deadlines.transaction_timeout_s * 1000))
        self.ep = create_endpoint(endpoint)
        self.account = BotAccount(self.on_incoming)
        self.account.create(account_config(endpoint), True)
        d = s.deadlines
        log.info("worker %s: SIP udp %s:%d, RTP %d-%d, <= %d calls, allow %s, recordings %s; "
                 "a call without media ends after %.0f s, without RTP after %.0f s, on hold "
                 "after %.0f s", s.name, s.bind, s.sip_port, s.rtp_port,
                 s.rtp_port + s.rtp_port_range - 1, s.max_calls, self.allow, s.recordings,
                 d.setup_timeout_s, d.rtp_timeout_s, d.hold_timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll SIP, pump media, until `stop` is set; then end every call cleanly."""
        assert self.ep is not None and self.ctx is not None
        metrics.SIP_SLOTS.labels(self.settings.name).set(self.slots)
        print(f"{READY} {self.settings.name} {self.settings.sip_port}", flush=True)
        loop = asyncio.get_running_loop()
        reload: asyncio.Future[bool] | None = None
        next_reload_check = time.monotonic() + PLAN_CHECK_S
        guard = LoopStallGuard(self.settings.name).start()
        garbage = LoopGarbageCollector().start()
        while not stop.is_set():
            guard.beat()
            garbage.collect()
            self.poll()
            if time.monotonic() >= next_reload_check and (reload is None or reload.done()):
                # On a pjlib-registered executor thread: the edited plan's knowledge index is
                # built there, before the plan goes live for new calls.
                next_reload_check = time.monotonic() + PLAN_CHECK_S
                reload = loop.run_in_executor(None, self.ctx.plans.poll, self._warm)
            await asyncio.sleep(POLL_S)
        guard.stop()
        garbage.stop()
        await self.shutdown()

    def _warm(self, loaded: LoadedPlan) -> None:
        warm_plan(self.ctx.engines, loaded)

    def poll(self) -> None:
        self.ep.libHandleEvents(0)
        for driver in list(self.ctx.drivers.values()):
            driver.pump()
        self._drop_retired()
        slots = slots_in_use()
        if slots != self.slots:
            self.slots = slots
            metrics.SIP_SLOTS.labels(self.settings.name).set(slots)
            log.info("slots in use: %d/%d", slots, self.settings.max_calls)

    async def shutdown(self, grace_s: float = 5.0) -> None:
        drivers = list(self.ctx.drivers.values())
        for driver in drivers:
            driver.hang_up("shutdown", code=503)
        deadline = time.monotonic() + grace_s
        while any(not d.finished.done() for d in drivers) and time.monotonic() < deadline:
            self.poll()
            await asyncio.sleep(POLL_S)
        for driver in drivers:  # a peer that never answered our BYE: close the record anyway
            if not driver.finished.done():
                driver.on_disconnected(0, "shutdown")
        if drivers:
            await asyncio.wait([d.finished for d in drivers], timeout=5)

    def close(self) -> None:
        """Drop every pjsua2 object, then destroy the library (order matters)."""
        for call in [*self.calls.values(), *(call for _, call in self.retired)]:
            call.release()
        self.calls.clear()
        self.retired.clear()
        if self.ctx:
            self.ctx.drivers.clear()
        if self.account is not None:
            self.account.shutdown()
            self.account = None
        if self.ep is not None:
            survivors = BotCall.outlive_library()
            destroy_endpoint(self.ep)
            self.ep = None
            del survivors
        if self.store is not None:  # after the calls: their last events are queued by now
            self.store.close()
            self.store = None

    # ---- calls ------------------------------------------------------------------------------
    def on_incoming(self, account: BotAccount, prm: pj.OnIncomingCallParam) -> None:
        source = prm.rdata.srcAddress
        call = BotCall(account, prm.callId, "pending")
        if not self.allow.allows(source):
            self.rejected += 1
            info = call.getInfo()
            log.warning("rejected INVITE from %s (%s, sip call-id %s): not in allow-list %s -> 403",
                        source, info.remoteUri, info.callIdString, self.allow)
            # Not from inside this callback: pjsua2 frees the INVITE's cloned rdata after it
            # returns, and a call ended in here has freed it already (abort in
            # pjsip_rx_data_free_cloned). The next loop turn answers 403.
            asyncio.get_running_loop().call_soon(self._reject, call, 403)
            return
        info = call.getInfo()
        call_id = self._new_call_id()
        call.label = call_id
        self.calls[call_id] = call
        driver = CallDriver(call_id, self.ctx, call, f"{info.remoteUri} via {source}",
                            info.callIdString, caller_number=caller_number(info.remoteUri))
        call.driver = driver
        self.ctx.drivers[call_id] = driver
        driver.finished.add_done_callback(lambda _f, cid=call_id: self._forget(cid))
        delay = self.settings.answer_delay_ms / 1000
        if delay:
            self._answer(call, 180)
            asyncio.get_running_loop().call_later(delay, self._answer_if_ringing, call)
        else:
            # No 180 first: a proxy relaying both at once may deliver them out of order, and a
            # 180 after the 200 makes strict callers abort the call.
            self._answer(call, 200)

    def _reject(self, call: BotCall, code: int) -> None:
        try:
            call.end(code)
        except pj.Error as exc:
            log.warning("rejecting %s with %d failed: %s", call.label, code, exc.info())
        self.retired.append((time.monotonic(), call))

    def _answer_if_ringing(self, call: BotCall) -> None:
        if not call.disconnected:
            self._answer(call, 200)

    def _answer(self, call: BotCall, code: int) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        try:
            call.answer(prm)
        except pj.Error as exc:
            log.warning("call %s: answering %d failed: %s", call.label, code, exc.info())
            return
        if code == 200 and call.driver is not None:
            call.driver.on_answer_sent()

    def _forget(self, call_id: str) -> None:
        self.ctx.drivers.pop(call_id, None)
        call = self.calls.pop(call_id, None)
        if call is not None:
            self.retired.append((time.monotonic(), call))

    def _drop_retired(self) -> None:
        """Free finished calls' pjsua2 objects, but only while their call slot is unused.

        pjsua2's `Call` destructor hangs up whatever call now holds its old slot id and
        clears that call's user data, so freeing it after the slot was reused would cut off
        a new caller. pjsua reuses slots at once, so an object waits until its slot is free."""
        now = time.monotonic()
        keep = []
        for retired_at, call in self.retired:
            if retired_at + RETIRE_AFTER_S < now and not call.isActive():
                call.release()  # the Call object itself goes with this list, on this thread
            else:
                keep.append((retired_at, call))
        self.retired = keep

    def _new_call_id(self) -> str:
        self._seq += 1
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        return f"{stamp}-{self.settings.name}-{self._seq:04d}-{uuid.uuid4().hex[:4]}"

    @property
    def active_calls(self) -> int:
        return len(self.ctx.drivers) if self.ctx else 0


def open_store(settings: WorkerSettings) -> StoreWriter:
    """The call store's writer for this worker. Calls this worker left open when it died
    (kill -9, a crash) are marked failed first: a worker name runs one process at a time."""
    url = settings.store_url or default_url(settings.recordings)
    store = CallStore.open(url)
    died = store.mark_unfinished(settings.name)
    if died:
        log.warning("worker %s: %d call(s) left unfinished by its previous process marked "
                    "failed (worker_died): %s", settings.name, len(died), ", ".join(died))
    log.info("worker %s: calls are stored in %s", settings.name, display_url(url))
    rubric = load_rubric(settings.rubric) if settings.rubric else None
    return StoreWriter(store, settings.name, rubric)


def _registered_executor(ep: pj.Endpoint) -> ThreadPoolExecutor:
    """Executor threads (remote model calls) registered with pjlib: a pjsua2 object that the
    garbage collector happens to free on one of them must not abort the process."""
    def register() -> None:
        ep.libRegisterThread(threading.current_thread().name)

    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="ivr-exec", initializer=register)


def caller_number(remote_uri: str) -> str:
    """The user part of the caller's URI ('"Bob" <sip:+4930123@host>' -> '+4930123')."""
    match = re.search(r"(?:sips?|tel):([^@;>]+)", remote_uri)
    return match.group(1) if match else ""


async def _main_async(settings: WorkerSettings) -> int:
    worker = Worker(settings)
    worker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(_registered_executor(worker.ep))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await worker.run(stop)
    finally:
        worker.close()
    log.info("worker %s stopped", settings.name)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.sip.worker", description=__doc__)
    parser.add_argument("--config", required=True, help="WorkerSettings as JSON")
    args = parser.parse_args(argv)
    settings = WorkerSettings.model_validate_json(args.config)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {settings.name}: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    faulthandler.enable(all_threads=True)  # a crash leaves every thread's stack in the log
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every stack
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return asyncio.run(_main_async(settings))
    except pj.Error as exc:
        log.error("SIP stack error: %s", exc.info())
        return 2
    except IvrError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
