"""How long this machine itself stops running a process that asks for almost nothing: the
benchmarks' witness for media gaps that no code of ours caused.

A probe process sleeps 5 ms at a time and notes every wake-up that came `min_ms` or more late.
It shares no lock, GIL or queue with the stack, so a late wake-up is the host's (a busy or
descheduled virtual CPU, the kernel), and a media gap of the same size at the same time is not
the stack's doing. Measured on the 2-core VM this project is built on, with 8 calls up and half
the CPU idle: 5 ms sleeps that lasted up to 76 ms, while the SIP workers' media clocks stalled 80-105 ms.

    python -m ivr.sip.host_stalls   # until SIGTERM, then one JSON line on stdout
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

TICK_S = 0.005
MIN_MS = 30.0


@dataclass(frozen=True)
class HostStalls:
    """What the probe saw over `seconds`: wake-ups `MIN_MS` or more late, and the latest (ms)."""

    seconds: float
    stalls: int
    max_ms: float


class HostStallProbe:
    """The probe as a child process: `start()`, then `stop()` returns its HostStalls."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> "HostStallProbe":
        self.process = subprocess.Popen([sys.executable, "-m", "ivr.sip.host_stalls"],
                                        stdout=subprocess.PIPE, text=True)
        return self

    def stop(self) -> HostStalls | None:
        """Its figures, or None if it died or never started."""
        if self.process is None:
            return None
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=10)
            data = json.loads(out.strip().splitlines()[-1])
            return HostStalls(data["seconds"], data["stalls"], data["max_ms"])
        except (subprocess.TimeoutExpired, ValueError, IndexError, KeyError):
            self.process.kill()
            self.process.wait()
            return None
        finally:
            self.process = None


def main() -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    started = time.monotonic()
    stalls, worst = 0, 0.0
    while not stopping:
        before = time.monotonic()
        time.sleep(TICK_S)
        late_ms = (time.monotonic() - before - TICK_S) * 1000
        if late_ms >= MIN_MS:
            stalls += 1
            worst = max(worst, late_ms)
    print(json.dumps({"seconds": round(time.monotonic() - started, 1), "stalls": stalls,
                      "max_ms": round(worst, 1)}), flush=True)


if __name__ == "__main__":
    main()
