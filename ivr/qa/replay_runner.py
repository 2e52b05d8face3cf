"""Replaying many calls: plans and engines built once per process, calls spread over processes.

`Replayer` replays calls one after another in this process; `replay_batch` runs one `Replayer`
per worker process (spawned, each loading its own models) when more than one job is asked for.
The LLM server, when a plan needs one, is started once by the caller and shared by URL.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import multiprocessing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ivr.dialplan.loader import LoadedPlan, load_dialplan
from ivr.errors import IvrError
from ivr.llm.client import LLMClient, LLMSettings
from ivr.qa.replay import RecordedCall, Replayed, ReplayFailure, replay_call
from ivr.qa.replay_sources import plan_path
from ivr.session.engines import Engines, build_engines

log = logging.getLogger("ivr.qa.replay")


@dataclass(frozen=True)
class ReplaySettings:
    """How to replay: on which plan (None: each call's own, as it is now), at what time (None:
    as recorded), and where the models are."""

    dialplan: Path | None = None
    at: dt.datetime | None = None
    llm_url: str | None = None
    llm_model: str = "default"
    asr_device: str = "cpu"


class Replayer:
    """Replays calls in this process; plans are loaded and engines built on first use.

    `engines`, when given, serve every plan (tests pass their shared ones)."""

    def __init__(self, settings: ReplaySettings, engines: Engines | None = None) -> None:
        self.settings = settings
        self._plans: dict[Path, LoadedPlan] = {}
        self._engines: dict[tuple[str, tuple[str, ...], str | None], Engines] = {}
        self._given = engines

    def plan(self, call: RecordedCall) -> LoadedPlan:
        """The plan `call` is replayed on, loaded once per process."""
        path = plan_path(call, self.settings.dialplan)
        if path not in self._plans:
            self._plans[path] = load_dialplan(path)
        return self._plans[path]

    def engines(self, loaded: LoadedPlan) -> Engines:
        if self._given is not None:
            return self._given
        # the LLM's URL too: a console starts its LLM server only when a plan first needs it
        key = (loaded.plan.asr_model, tuple(loaded.plan.languages), self.settings.llm_url)
        if key not in self._engines:
            settings = self.settings
            llm = (LLMClient(LLMSettings(base_url=settings.llm_url, model=settings.llm_model))
                   if settings.llm_url else None)
            self._engines[key] = build_engines(loaded.plan.asr_model, loaded.plan.languages, llm,
                                               asr_device=settings.asr_device)
        return self._engines[key]

    def replay(self, call: RecordedCall) -> Replayed:
        """`call` replayed, or why it could not be."""
        try:
            loaded = self.plan(call)
            return replay_call(call, loaded, self.engines(loaded), self.settings.at)
        except IvrError as exc:
            return ReplayFailure(call.call_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - one broken call must not stop a batch
            log.exception("replay of call %s failed", call.call_id)
            return ReplayFailure(call.call_id, f"{type(exc).__name__}: {exc} (a bug: the "
                                 "traceback is in the log above; please report it)")


_worker: Replayer | None = None  # the Replayer of a worker process


def _start_worker(settings: ReplaySettings) -> None:
    global _worker
    _worker = Replayer(settings)


def _replay_in_worker(call: RecordedCall) -> Replayed:
    assert _worker is not None
    return _worker.replay(call)


def replay_batch(calls: Sequence[RecordedCall], settings: ReplaySettings, jobs: int = 1,
                 on_done: Callable[[Replayed], None] | None = None,
                 replayer: Replayer | None = None) -> list[Replayed]:
    """Every call replayed, in the order given; `on_done` is called as each finishes. With
    `jobs` > 1 the calls are spread over that many worker processes (each loads the models);
    otherwise they run here, on `replayer` if given."""
    results: list[Replayed | None] = [None] * len(calls)
    jobs = max(1, min(jobs, len(calls)))
    if jobs == 1:
        here = replayer or Replayer(settings)
        for n, call in enumerate(calls):
            results[n] = here.replay(call)
            if on_done:
                on_done(results[n])  # type: ignore[arg-type]
        return results  # type: ignore[return-value]
    with concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(settings,)) as pool:
        futures = {pool.submit(_replay_in_worker, call): n for n, call in enumerate(calls)}
        for future in concurrent.futures.as_completed(futures):
            results[futures[future]] = outcome = future.result()
            if on_done:
                on_done(outcome)
    return results  # type: ignore[return-value]
