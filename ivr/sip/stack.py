"""The whole hotline as `ivr serve` (and `ivr bench sip`) start it: model service, the embedded
LLM if the plan needs one, N SIP workers, and Kamailio in front when N > 1.

Everything is started in order and stopped in reverse order (Kamailio first, so no new call
arrives while the workers end theirs). Before the workers start, every fixed sentence of the
plan (prompts and approved answers) is warmed into the model service's TTS store; an edited
plan's sentences are warmed in the background as it loads."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ivr import metrics
from ivr.dialplan.loader import LoadedPlan
from ivr.dialplan.store import PlanStore
from ivr.errors import IvrError
from ivr.models.remote import ModelServiceClient, RemoteTTS
from ivr.sip.allow import AllowList
from ivr.sip.endpoint import MAX_CALLS
from ivr.sip.watchdog import MediaDeadlines
from ivr.sip.worker import WorkerSettings
from ivr.store.store import CallStore, default_url, normalize_url
from ivr.tts.store import DEFAULT_MAX_MB
from ivr.tts.warm import Speak, WarmReport, warm_plan

log = logging.getLogger("ivr.serve")

RTP_PORTS_PER_WORKER = 100


@dataclass
class StackSettings:
    dialplan: Path
    run_dir: Path
    recordings: Path = Path("recordings")
    store_url: str | None = None  # the call store; None = SQLite calls.db in recordings
    port: int = 5060
    bind: str = "127.0.0.1"
    workers: int = 1
    allow: list[str] = field(default_factory=lambda: ["127.0.0.1/32"])
    rtp_port: int = 40000
    answer_delay_ms: int = 0
    transfer_timeout_s: float = 30.0
    llm_url: str | None = None
    llm_model: str = "default"
    asr_device: str = "cpu"
    # the Kamailio front (--workers > 1); defaults as in FrontSettings
    pike_requests: int = 32
    pike_window_s: int = 2
    pike_ban_s: int = 60
    trunk_users: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    deadlines: MediaDeadlines = MediaDeadlines()
    metrics_port: int = 0  # /metrics on 127.0.0.1; 0: none
    tts_cache: Path | None = None  # the TTS disk store; None: ivr.tts.store.default_root()
    tts_cache_mb: int = DEFAULT_MAX_MB  # its cap; 0: no disk store
    rubric: Path | None = None  # the QA rubric the store scores calls with; None: the default

    def check(self) -> None:
        """One-line errors for settings a user can get wrong."""
        if not 1 <= self.workers <= 64:
            raise IvrError(f"--workers {self.workers}: use 1 to 64")
        if not 1 <= self.port <= 65535 - self.workers:
            raise IvrError(f"--port {self.port}: not a usable UDP port")
        try:
            address = ipaddress.IPv4Address(self.bind)
        except ValueError:
            raise IvrError(f"--bind {self.bind!r}: give an IPv4 address of this host") from None
        if address.is_unspecified:
            raise IvrError("--bind 0.0.0.0: give the concrete address callers reach (it goes "
                           "into SDP so that RTP finds this host)")
        AllowList(self.allow)  # raises IvrError naming a bad CIDR
        if not 0 <= self.metrics_port <= 65535:
            raise IvrError(f"--metrics-port {self.metrics_port}: not a TCP port (0 turns "
                           "metrics off)")
        if self.tts_cache_mb < 0:
            raise IvrError(f"--tts-cache-mb {self.tts_cache_mb}: give 0 (no disk store) or more")
        if not 1024 <= self.rtp_port <= 65000 - RTP_PORTS_PER_WORKER * self.workers:
            raise IvrError(f"--rtp-port {self.rtp_port}: leaves no room for {self.workers} x "
                           f"{RTP_PORTS_PER_WORKER} ports")


def worker_settings(settings: StackSettings, loaded: LoadedPlan, models_url: str,
                    llm_url: str | None, llm_embedded: bool = False) -> list[WorkerSettings]:
    """Ports, allow-lists and the rest for each worker. Behind Kamailio a worker only takes
    calls from Kamailio's address; alone, it enforces the allow-list itself. `llm_embedded`:
    `llm_url` is the embedded CPU model the stack started."""
    n = settings.workers
    return [WorkerSettings(
        name=f"w{i + 1}", bind=settings.bind,
        sip_port=settings.port if n == 1 else settings.port + 1 + i,
        rtp_port=settings.rtp_port + RTP_PORTS_PER_WORKER * i,
        rtp_port_range=RTP_PORTS_PER_WORKER,
        allow=list(settings.allow) if n == 1 else [f"{settings.bind}/32"],
        recordings=settings.recordings.resolve(), dialplan=loaded.path.resolve(),
        store_url=store_url(settings),
        models_url=models_url, llm_url=llm_url, llm_model=settings.llm_model,
        llm_embedded=llm_embedded, answer_delay_ms=settings.answer_delay_ms,
        transfer_timeout_s=settings.transfer_timeout_s, deadlines=settings.deadlines,
        rubric=settings.rubric.resolve() if settings.rubric else None)
        for i in range(n)]


def store_url(settings: StackSettings) -> str:
    """The call store's URL as every worker gets it (a relative file path made absolute)."""
    return normalize_url(settings.store_url or default_url(settings.recordings.resolve()))


@dataclass
class Hotline:
    """What is running; process ids let a benchmark account CPU per component."""

    settings: StackSettings
    loaded: LoadedPlan
    models: object
    pool: object
    llm: object | None = None
    front: object | None = None
    warm: WarmReport | None = None  # the start-up warm-up of the plan's sentences

    @property
    def uri(self) -> str:
        return f"sip:hotline@{self.settings.bind}:{self.settings.port}"

    def pids(self) -> dict[str, int]:
        found = {"model service": self.models.process.pid}
        if self.llm is not None and self.llm.process is not None:
            found["llm"] = self.llm.process.pid
        if self.front is not None and self.front.process is not None:
            found["kamailio"] = self.front.process.pid
        for worker in self.pool.workers:
            if worker.process is not None:
                found[f"worker {worker.name}"] = worker.process.pid
        return found

    @property
    def capacity(self) -> int:
        return MAX_CALLS * self.settings.workers


@contextlib.contextmanager
def hotline(settings: StackSettings, say: Callable[[str], None] = print) -> Iterator[Hotline]:
    from ivr.llm.embedded import EmbeddedLLMServer
    from ivr.models.locator import smollm2_gguf
    from ivr.models.service import ModelServiceProcess
    from ivr.sip.kamailio import FrontSettings, KamailioFront
    from ivr.sip.pool import WorkerPool

    settings.check()
    plans = PlanStore(settings.dialplan)
    loaded = plans.current()
    plan = loaded.plan
    settings.recordings.mkdir(parents=True, exist_ok=True)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    # migrate the store once here: workers opening it together must not race to create it
    CallStore.open(store_url(settings)).close()
    if settings.metrics_port:
        metrics.prepare_multiprocess(settings.run_dir / "metrics")  # before any child starts
    with contextlib.ExitStack() as stack:
        if settings.metrics_port:
            server = metrics.serve_metrics(settings.metrics_port)
            stack.callback(server.shutdown)
        say(f"starting the model service ({plan.asr_model}, voices {', '.join(plan.languages)})...")
        models = stack.enter_context(ModelServiceProcess(
            plan.asr_model, list(plan.languages), asr_device=settings.asr_device,
            log_path=settings.run_dir / "model-service.log", tts_cache=settings.tts_cache,
            tts_cache_mb=settings.tts_cache_mb))
        speak = _warmer(stack.enter_context(contextlib.closing(
            ModelServiceClient(models.base_url, timeout_s=60.0))))
        report = warm_plan(plan, speak)
        say(report.line(plan.name))
        watching = plans.watch(on_reload=lambda new: log.info(
            "%s", warm_plan(new.plan, speak, progress=False).line(new.plan.name)))
        stack.callback(watching.set)
        llm, llm_url = None, settings.llm_url
        if loaded.plan.uses_llm and not llm_url:
            say("starting the embedded LLM (llama.cpp)...")
            llm = stack.enter_context(EmbeddedLLMServer(smollm2_gguf(),
                                                        log_path=settings.run_dir / "llm.log"))
            llm_url = llm.base_url
        say(f"starting {settings.workers} SIP worker(s)...")
        pool = stack.enter_context(WorkerPool(worker_settings(settings, loaded, models.base_url,
                                                              llm_url, llm is not None)))
        front = None
        if settings.workers > 1:
            front = stack.enter_context(KamailioFront(FrontSettings(
                listen_addr=settings.bind, listen_port=settings.port,
                workers=tuple((settings.bind, w.settings.sip_port) for w in pool.workers),
                allow=tuple(settings.allow), pike_requests=settings.pike_requests,
                pike_window_s=settings.pike_window_s, pike_ban_s=settings.pike_ban_s,
                trunk_users=settings.trunk_users), settings.run_dir / "kamailio"))
        yield Hotline(settings, loaded, models, pool, llm, front, report)


def _warmer(client: ModelServiceClient) -> Speak:
    """Warm-up through the model service: each sentence is made ready there (its memory and
    disk store), where every worker's calls ask for it."""
    voices: dict[str, RemoteTTS] = {}

    def speak(language: str, sentence: str) -> str:
        voice = voices.setdefault(language, RemoteTTS(client, language))
        return voice.warm(sentence)

    return speak
