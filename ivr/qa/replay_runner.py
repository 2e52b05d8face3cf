"""Replaying many calls: plans and engines built once per process, calls spread over processes.

`Replayer` replays calls one after another in this process; `replay_batch` runs one `Replayer`
per worker process (spawned, each loading its own models) when more than one job is asked for.
The LLM server, when a plan needs one, is started once by the caller and shared by URL.

Recognition goes through the transcript cache of `ivr.qa.replay_asr` when `asr_cache` is set
(the same audio through the same model is recognised once, across runs), and the bot's speech
is not synthesised (`ivr.qa.replay_voice`) unless `synthesise` is set.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import logging
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from ivr.dialplan.loader import LoadedPlan, load_dialplan
from ivr.errors import IvrError
from ivr.llm.client import LLMClient, LLMSettings
from ivr.qa.replay import RecordedCall, Replayed, ReplayFailure, replay_call
from ivr.qa.replay_asr import CachedASR, TranscriptCache, asr_identity
from ivr.qa.replay_sources import plan_path
from ivr.session.engines import Engines, build_engines
from ivr.session.session import knowledge_index

log = logging.getLogger("ivr.qa.replay")


@dataclass(frozen=True)
class ReplaySettings:
    """How to replay: on which plan (None: each call's own, as it is now), at what time (None:
    as recorded), where the models are, where recognition results are kept (`asr_cache`, a
    `TranscriptCache` file; None: recognise every utterance), whether the bot's speech is
    synthesised."""

    dialplan: Path | None = None
    at: dt.datetime | None = None
    llm_url: str | None = None
    llm_model: str = "default"
    asr_device: str = "cpu"
    asr_cache: Path | None = None
    synthesise: bool = False
    llm_embedded: bool = False   # `llm_url` is the embedded CPU model's server


class Replayer:
    """Replays calls in this process; plans are loaded and engines built on first use.

    `engines`, when given, serve every plan (tests pass their shared ones); with a transcript
    cache they must be the plans' own ASR model, whose identity keys the cached results."""

    def __init__(self, settings: ReplaySettings, engines: Engines | None = None) -> None:
        self.settings = settings
        self._plans: dict[Path, LoadedPlan] = {}
        self._engines: dict[tuple[str, tuple[str, ...], str | None], Engines] = {}
        self._given = engines
        self._cache = TranscriptCache(settings.asr_cache) if settings.asr_cache else None
        self._cached: dict[tuple[str, int], Engines] = {}

    def plan(self, call: RecordedCall) -> LoadedPlan:
        """The plan `call` is replayed on, loaded once per process."""
        return self.load(plan_path(call, self.settings.dialplan))

    def load(self, path: Path) -> LoadedPlan:
        """The plan at `path`, loaded once per process."""
        if path not in self._plans:
            self._plans[path] = load_dialplan(path)
        return self._plans[path]

    def prepare(self, paths: Iterable[Path]) -> None:
        """Load these plans, their engines and their knowledge indexes now, before any call."""
        for path in paths:
            loaded = self.load(path)
            knowledge_index(self.engines(loaded), loaded)

    def engines(self, loaded: LoadedPlan) -> Engines:
        """The engines `loaded` runs on, recognition through the transcript cache if set."""
        engines = self._loaded(loaded)
        if self._cache is None:
            return engines
        key = (loaded.plan.asr_model, id(engines))
        if key not in self._cached:
            identity = asr_identity(loaded.plan.asr_model, self.settings.asr_device)
            self._cached[key] = dataclasses.replace(
                engines, asr=CachedASR(engines.asr, identity, self._cache))
        return self._cached[key]

    @property
    def asr_counts(self) -> tuple[int, int]:
        """Transcript cache hits and misses so far in this process."""
        asrs = [e.asr for e in self._cached.values() if isinstance(e.asr, CachedASR)]
        return sum(a.hits for a in asrs), sum(a.misses for a in asrs)

    def _loaded(self, loaded: LoadedPlan) -> Engines:
        if self._given is not None:
            return self._given
        # the LLM's URL too: a console starts its LLM server only when a plan first needs it
        key = (loaded.plan.asr_model, tuple(loaded.plan.languages), self.settings.llm_url)
        if key not in self._engines:
            settings = self.settings
            llm = (LLMClient(LLMSettings(base_url=settings.llm_url, model=settings.llm_model,
                                         embedded=settings.llm_embedded))
                   if settings.llm_url else None)
            self._engines[key] = build_engines(loaded.plan.asr_model, loaded.plan.languages, llm,
                                               asr_device=settings.asr_device)
        return self._engines[key]

    def replay(self, call: RecordedCall) -> Replayed:
        """`call` replayed, or why it could not be."""
        try:
            loaded = self.plan(call)
            return replay_call(call, loaded, self.engines(loaded), self.settings.at,
                               synthesise=self.settings.synthesise, cache=self._cache)
        except IvrError as exc:
            return ReplayFailure(call.call_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - one broken call must not stop a batch
            log.exception("replay of call %s failed", call.call_id)
            return ReplayFailure(call.call_id, f"{type(exc).__name__}: {exc} (a bug: the "
                                 "traceback is in the log above; please report it)")


_worker: Replayer | None = None  # the Replayer of a worker process


def _start_worker(settings: ReplaySettings, plans: Sequence[Path]) -> None:
    global _worker
    _worker = Replayer(settings)
    _worker.prepare(plans)


def _replay_in_worker(call: RecordedCall) -> Replayed:
    assert _worker is not None
    return _worker.replay(call)


def worker_pool(settings: ReplaySettings, jobs: int,
                plans: Sequence[Path] = ()) -> concurrent.futures.ProcessPoolExecutor:
    """`jobs` spawned replay processes, each with its own `Replayer` that loads `plans` and their
    models as it starts (so the first call does not wait for them)."""
    return concurrent.futures.ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
        initargs=(settings, tuple(plans)))


def warm_pool(pool: concurrent.futures.ProcessPoolExecutor, jobs: int) -> None:
    """Wait until every process of `pool` has started and loaded its plans and models."""
    for future in [pool.submit(_ready) for _ in range(jobs)]:
        future.result()


def _ready() -> bool:
    return _worker is not None


def default_jobs(calls: int, cached: bool) -> int:
    """Processes worth starting for `calls` calls: each loads its own models (~4 s here), so
    one unless recognition has to run (no warm transcript cache) on a batch long enough to pay
    for that, then one per core (at most 4)."""
    cores = os.cpu_count() or 1
    return 1 if cached or calls < 4 * cores else min(cores, 4)


def replay_batch(calls: Sequence[RecordedCall], settings: ReplaySettings, jobs: int = 1,
                 on_done: Callable[[Replayed], None] | None = None,
                 replayer: Replayer | None = None,
                 pool: concurrent.futures.ProcessPoolExecutor | None = None) -> list[Replayed]:
    """Every call replayed, in the order given; `on_done` is called as each finishes. On `pool`
    (see `worker_pool`) when given; else with `jobs` > 1 over a pool of that many processes
    started for this batch; otherwise here, on `replayer` if given."""
    results: list[Replayed | None] = [None] * len(calls)
    jobs = max(1, min(jobs, len(calls)))
    if pool is None and jobs == 1:
        here = replayer or Replayer(settings)
        for n, call in enumerate(calls):
            results[n] = here.replay(call)
            if on_done:
                on_done(results[n])  # type: ignore[arg-type]
        return results  # type: ignore[return-value]
    with contextlib.ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(worker_pool(settings, jobs))
        futures = {pool.submit(_replay_in_worker, call): n for n, call in enumerate(calls)}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = outcome = future.result()
            if on_done:
                on_done(outcome)
    return results  # type: ignore[return-value]


@contextlib.contextmanager
def shared_llm(settings: ReplaySettings, plans: Iterable[LoadedPlan]) -> Iterator[ReplaySettings]:
    """`settings` with an LLM URL: the given one, else (when a plan needs an LLM) that of an
    embedded server started here for the batch and shared by every replay process."""
    if settings.llm_url or not any(p.plan.uses_llm for p in plans):
        yield settings
        return
    from ivr.llm.embedded import EmbeddedLLMServer
    from ivr.models.locator import smollm2_gguf

    with EmbeddedLLMServer(smollm2_gguf()) as server:
        yield dataclasses.replace(settings, llm_url=server.base_url, llm_embedded=True)
