"""How fast QA replay runs: x real time for a batch, on one process and on every core.

    .venv/bin/python -m ivr.qa.replay_bench [tests/data/calls] [--jobs 1,2] [--baseline]

For each number of jobs the batch runs twice on the same processes, started with plans and models
loaded (loading is printed apart): "cold" with an empty transcript cache (every utterance
recognised, as on a first replay of new calls) and "warm" on the cache the cold run filled (as
on every later replay of the same calls: a plan edit, CI). `--baseline` adds the replay as it
ran before the cache and the stand-in voice: every utterance recognised and every bot sentence
synthesised. x real time is the calls' audio length over the batch's wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ivr.qa.replay import RecordedCall, Replayed, ReplayResult
from ivr.qa.replay_runner import (ReplaySettings, Replayer, replay_batch, shared_llm,
                                  warm_pool, worker_pool)
from ivr.qa.replay_sources import PROJECT, calls_at, plan_path


@dataclass(frozen=True)
class BenchRow:
    """One timed batch."""

    jobs: int
    mode: str
    calls: int
    audio_s: float
    wall_s: float
    changed: int

    @property
    def x_real_time(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s else 0.0

    def line(self) -> str:
        return (f"{self.jobs:>4}  {self.mode:<9} {self.calls:>5}  {self.audio_s:>7.1f}  "
                f"{self.wall_s:>6.2f}  {self.x_real_time:>6.1f}x  {self.changed:>7}")


Batch = Callable[[Sequence[RecordedCall]], list[Replayed]]
HEADER = "jobs  mode      calls  audio_s  wall_s  x real  changed"


@contextlib.contextmanager
def prepared(settings: ReplaySettings, jobs: int,
             plans: Sequence[Path]) -> Iterator[tuple[Batch, float]]:
    """A batch runner on `jobs` processes (one: this one) with plans and models loaded, and the
    seconds that starting and loading took."""
    started = time.perf_counter()
    if jobs == 1:
        replayer = Replayer(settings)
        replayer.prepare(plans)
        yield (lambda calls: replay_batch(calls, settings, 1, replayer=replayer),
               time.perf_counter() - started)
        return
    with worker_pool(settings, jobs, plans) as pool:
        warm_pool(pool, jobs)
        yield (lambda calls: replay_batch(calls, settings, jobs, pool=pool),
               time.perf_counter() - started)


def timed(run: Batch, calls: Sequence[RecordedCall], jobs: int, mode: str) -> BenchRow:
    """One batch through `run`, timed."""
    begun = time.perf_counter()
    results = run(calls)
    wall_s = time.perf_counter() - begun
    done = [r for r in results if isinstance(r, ReplayResult)]
    if len(done) != len(results):
        failed = next(r for r in results if not isinstance(r, ReplayResult))
        raise SystemExit(f"replay failed: {failed}")
    return BenchRow(jobs, mode, len(done), sum(r.audio_s for r in done), wall_s,
                    sum(r.decision_changed for r in done))


def bench(calls: Sequence[RecordedCall], settings: ReplaySettings, jobs: Sequence[int],
          baseline: bool, cache_dir: Path) -> list[BenchRow]:
    """For each number of jobs: the baseline row if asked, then a cold and a warm row on the
    same processes; printed as they come."""
    plans = sorted({plan_path(call, settings.dialplan) for call in calls})
    rows: list[BenchRow] = []
    print(HEADER, flush=True)

    def show(row: BenchRow, note: str = "") -> None:
        rows.append(row)
        print(row.line() + note, flush=True)

    for n in jobs:
        if baseline:
            old = dataclasses.replace(settings, asr_cache=None, synthesise=True)
            with prepared(old, n, plans) as (run, load_s):
                show(timed(run, calls, n, "baseline"), f"   (load {load_s:.1f} s, not counted)")
        cached = dataclasses.replace(settings, asr_cache=cache_dir / f"asr-{n}.db")
        with prepared(cached, n, plans) as (run, load_s):
            show(timed(run, calls, n, "cold"), f"   (load {load_s:.1f} s, not counted)")
            show(timed(run, calls, n, "warm"))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=PROJECT / "tests" / "data" / "calls",
                        help="a folder of call records (default: the regression calls)")
    parser.add_argument("--jobs", default=f"1,{os.cpu_count() or 1}",
                        help="comma-separated numbers of processes (default: %(default)s)")
    parser.add_argument("--baseline", action="store_true",
                        help="also time replay with synthesis and without the cache")
    parser.add_argument("--dialplan", type=Path, default=None,
                        help="replay every call on this plan (default: each call's own)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    calls = calls_at(args.path)
    settings = ReplaySettings(dialplan=args.dialplan)
    loader = Replayer(settings)
    plans = [loader.plan(call) for call in calls]
    jobs = sorted({int(n) for n in args.jobs.split(",")})
    print(f"{len(calls)} calls from {args.path}, {os.cpu_count()} cores")
    with shared_llm(settings, plans) as settings, \
            tempfile.TemporaryDirectory(prefix="replay-bench-") as cache_dir:
        bench(calls, settings, jobs, args.baseline, Path(cache_dir))


if __name__ == "__main__":
    main()
