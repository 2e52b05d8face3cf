"""Replays started from the console: one call, or a filter's calls, through the current plan
and models, run by one background thread of the console process.

Jobs run one after another, each call one at a time: replay is CPU-bound and the models are
loaded once per console process (lazily, by the first replay), so a second worker would only
load them again. Starting a job for calls that an unfinished job already replays answers that
job. Jobs, their progress and results are kept in the call store (`ivr.web.replay_history`): a
restart of the console keeps their history and shows the jobs it cut short as interrupted.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Protocol, Sequence

from ivr.dialplan.loader import LoadedPlan, load_dialplan
from ivr.errors import IvrError
from ivr.llm.embedded import EmbeddedLLMServer
from ivr.models.locator import smollm2_gguf
from ivr.qa.replay import RecordedCall, Replayed, ReplayFailure, ReplayResult
from ivr.qa.replay_runner import ReplaySettings, Replayer
from ivr.qa.replay_sources import calls_in_store, plan_path
from ivr.service_process import ServiceProcess
from ivr.session.engines import Engines
from ivr.store.store import CallStore
from ivr.web.replay_history import ReplayHistory, ReplayJob

log = logging.getLogger("ivr.web.replay")

MAX_BATCH = 50   # calls in one filter-based replay
LISTED_JOBS = 100  # the newest jobs the replays page lists


class CallReplayer(Protocol):
    """Replays one stored call by id (tests give a fake one to the app)."""

    def replay(self, call_id: str) -> Replayed:
        """The call replayed, or why it could not be."""


class _CurrentPlans(Replayer):
    """A `Replayer` on the console's own copy of each call's plan (found by file name in the
    dialplans folder), read again for every call: a plan an admin just saved is the one
    replayed. The LLM server is started when the first plan that needs it is replayed."""

    def __init__(self, dialplans: Path, engines: Engines | None) -> None:
        super().__init__(ReplaySettings(), engines)
        self.dialplans = dialplans
        self.shared_engines = engines is not None
        self.llm_server: ServiceProcess | None = None

    def plan(self, call: RecordedCall) -> LoadedPlan:
        own = self.dialplans / Path(call.dialplan).name
        return load_dialplan(own if own.is_file() else plan_path(call))

    def engines(self, loaded: LoadedPlan) -> Engines:
        if loaded.plan.uses_llm and not self.shared_engines and self.settings.llm_url is None:
            server = EmbeddedLLMServer(smollm2_gguf())
            server.start()
            self.llm_server = server
            self.settings = dataclasses.replace(self.settings, llm_url=server.base_url,
                                                llm_embedded=True)
        return super().engines(loaded)


class StoreReplayer:
    """The console's replayer: a stored call's record and recording where the store says (or
    in `recordings`), its plan as the console's dialplans folder holds it now, the models
    built on first use (`engines`, when given, serve every plan: tests pass theirs)."""

    def __init__(self, store: CallStore, recordings: Path, dialplans: Path,
                 engines: Engines | None = None) -> None:
        self.store = store
        self.recordings = recordings
        self._replayer = _CurrentPlans(dialplans, engines)

    def replay(self, call_id: str) -> Replayed:
        try:
            (call,) = calls_in_store(self.store, self.recordings, call_id)
        except IvrError as exc:
            return ReplayFailure(call_id, str(exc))
        return self._replayer.replay(call)

    def close(self) -> None:
        """Stop the LLM server if a replay started one."""
        if self._replayer.llm_server is not None:
            self._replayer.llm_server.stop()


class ReplayJobs:
    """The console's replay jobs, run in order on one background thread and kept in
    `history` (jobs it holds unfinished from an earlier console are marked interrupted)."""

    def __init__(self, replayer: CallReplayer, history: ReplayHistory) -> None:
        self.replayer = replayer
        self.history = history
        interrupted = history.interrupt_unfinished()
        if interrupted:
            log.warning("%d replay job(s) left unfinished by an earlier console are marked "
                        "interrupted", interrupted)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="replay")
        self._live: dict[str, ReplayJob] = {}   # this process's unfinished jobs
        self._lock = threading.Lock()

    def start(self, call_ids: Sequence[str], title: str, user: str) -> ReplayJob:
        """A new job for `call_ids` (queued behind the others), or the unfinished one that
        already replays the same calls."""
        ids = tuple(call_ids)
        with self._lock:
            for job in self._live.values():
                if job.call_ids == ids:
                    return job
            job = ReplayJob(secrets.token_urlsafe(9), title, ids, user,
                            dt.datetime.now(dt.timezone.utc))
            self.history.add(job)
            self._live[job.id] = job
        self._pool.submit(self._run, job)
        return job

    def job(self, job_id: str) -> ReplayJob | None:
        """The job `job_id`, if the store has it."""
        return self.history.get(job_id)

    def jobs(self) -> list[ReplayJob]:
        """The newest jobs (`LISTED_JOBS`), newest first."""
        return self.history.recent(LISTED_JOBS)

    def close(self) -> None:
        """Drop queued jobs (the next console marks them interrupted); a replay under way
        finishes on its own thread."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: ReplayJob) -> None:
        started = time.perf_counter()
        job.state = "running"
        for call_id in job.call_ids:
            job.current = call_id
            self._save(job)
            try:
                result = self.replayer.replay(call_id)
            except Exception as exc:  # noqa: BLE001 - the job must end, and say why
                log.exception("replay of call %s failed", call_id)
                result = ReplayFailure(call_id, f"{type(exc).__name__}: {exc}")
            if isinstance(result, ReplayResult):
                result = dataclasses.replace(result, events=[])  # the page never shows them
            job.results.append(result)
            job.elapsed_s = time.perf_counter() - started
        job.current, job.state = None, "done"
        job.finished_at = dt.datetime.now(dt.timezone.utc)
        self._save(job)
        with self._lock:
            self._live.pop(job.id, None)

    def _save(self, job: ReplayJob) -> None:
        try:
            self.history.save(job)
        except Exception:  # noqa: BLE001 - a store hiccup must not stop the replays
            log.exception("replay job %s: its progress could not be written to the store",
                          job.id)
