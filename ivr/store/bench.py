"""Call store write latency: `python -m ivr.store.bench`.

8 synthetic calls at once (by default), each emitting a real call's events at their real pace
from its own thread, through the store listener and one writer thread, as in a SIP worker.
Prints, per store, the p50/p95/max time from an event's emission to its commit, and what
the listener costs the emitting thread (the worker's media loop). Without --store it measures
a SQLite file and a throw-away PostgreSQL server (fsync on) in a temp folder.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from ivr.events import EventLog, MonotonicClock
from ivr.store.pgtemp import TempPostgres
from ivr.store.store import CallStore, display_url, normalize_url
from ivr.store.synthetic import call_events
from ivr.store.writer import StoreWriter


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _call(writer: StoreWriter, call_id: str, speed: float, start_delay: float,
          emit_costs: list[float]) -> None:
    time.sleep(start_delay)
    log = EventLog(MonotonicClock())
    listener = writer.listener(call_id)
    for delay, kind, data in call_events(call_id, questions=3, end="transferred"):
        time.sleep(delay / speed)
        event = log.emit(kind, **data)
        t0 = time.perf_counter()
        listener(event)  # what subscribing it adds to every emit
        emit_costs.append(time.perf_counter() - t0)
    listener.close()


def measure(url: str, calls: int, speed: float) -> dict[str, float]:
    """Run `calls` concurrent calls against `url`; latency figures in ms."""
    writer = StoreWriter(CallStore.open(url), "bench")
    emit_costs: list[float] = []
    rng = random.Random(7)
    threads = [threading.Thread(target=_call, args=(writer, f"bench-{time.time_ns()}-{i}",
                                                    speed, rng.uniform(0, 3) / speed,
                                                    emit_costs))
               for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.flush(60)
    writer.close()
    lat = [x * 1000 for x in writer.latencies]
    return {"events": len(lat), "p50": statistics.median(lat), "p95": percentile(lat, 95),
            "max": max(lat), "emit_p95_us": percentile(emit_costs, 95) * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.store.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", action="append", metavar="URL",
                        help="store to measure (repeatable; default: SQLite and a temporary "
                             "PostgreSQL)")
    parser.add_argument("--calls", type=int, default=8, help="concurrent calls (default: 8)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="play the calls this many times faster than real time "
                             "(default: 1, a call lasts about 35 s)")
    args = parser.parse_args(argv)
    print(f"{args.calls} concurrent calls, {args.speed:g}x real time; emission -> commit "
          "latency per event, and the listener's cost on the emitting thread")
    with tempfile.TemporaryDirectory(prefix="ivr-store-bench-") as tmp:
        urls = args.store or [normalize_url(str(Path(tmp) / "calls.db"))]
        server = None
        if not args.store:
            server = TempPostgres(fsync=True)
            server.start()
            urls.append(server.new_database())
        try:
            for url in urls:
                r = measure(url, args.calls, args.speed)
                print(f"{display_url(url).split('?')[0]:<60} {r['events']:5d} events  "
                      f"p50 {r['p50']:6.2f} ms  p95 {r['p95']:6.2f} ms  max {r['max']:7.2f} ms"
                      f"  listener p95 {r['emit_p95_us']:.0f} us", flush=True)
        finally:
            if server is not None:
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
