"""Helpers for the SIP tests: free ports, worker processes, sipp runs, call records, WAV checks.
Everything talks to 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ivr.record import CallRecord
from ivr.sip.worker import READY, WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
LOOPBACK = "127.0.0.1"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def rtp_base() -> int:
    """A random 100-port block for a worker's RTP (collisions with other runs are unlikely)."""
    return random.randrange(20000, 30000, 100)


@dataclass
class WorkerHandle:
    settings: WorkerSettings
    process: subprocess.Popen
    stderr_path: Path

    @property
    def port(self) -> int:
        return self.settings.sip_port

    @property
    def recordings(self) -> Path:
        return self.settings.recordings

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")


CRASH_CODES = {-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGFPE, -signal.SIGILL}


@contextlib.contextmanager
def worker(tmp: Path, dialplan: Path, models_url: str, **overrides) -> Iterator[WorkerHandle]:
    """A real SIP worker process (`python -m ivr.sip.worker`) until the block ends."""
    name = overrides.pop("name", "w1")
    settings = WorkerSettings(name=name, sip_port=free_udp_port(), rtp_port=rtp_base(),
                              dialplan=dialplan, models_url=models_url,
                              recordings=tmp / f"recordings-{name}", **overrides)
    stderr_path = tmp / f"worker-{name}.log"
    with open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ivr.sip.worker", "--config", settings.model_dump_json()],
            stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    handle = WorkerHandle(settings, process, stderr_path)
    try:
        deadline = time.monotonic() + 60
        for line in process.stdout:
            if line.startswith(READY):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("worker not ready in 60 s")
        else:
            raise RuntimeError(f"worker exited with {process.wait()}:\n{handle.log()[-2000:]}")
        yield handle
    finally:
        if process.poll() in CRASH_CODES:   # a crash is a failure even when no call noticed it
            raise RuntimeError(f"worker {name} crashed ({signal.Signals(-process.returncode).name})"
                               f"; its log ends:\n{handle.log()[-6000:]}")
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGUSR1)   # its stacks into its log, then kill
                time.sleep(1)
                process.kill()
                process.wait()
            else:   # and its shutdown must not crash either (pjsua2 objects freed too late)
                if process.returncode in CRASH_CODES:
                    raise RuntimeError(f"worker {name} crashed while stopping "
                                       f"({signal.Signals(-process.returncode).name}); its log "
                                       f"ends:\n{handle.log()[-6000:]}")


@dataclass
class SippResult:
    returncode: int
    output: str
    errors: str

    def __str__(self) -> str:
        return f"sipp exit {self.returncode}\n{self.errors[-3000:]}\n{self.output[-1500:]}"


def run_sipp(scenario: str, port: int, cwd: Path, *extra: str, calls: int = 1,
             hold_ms: int = 1000, timeout_s: float = 90, at_once: int | None = None) -> SippResult:
    """Run sipp with a scenario from tests/sip/scenarios against 127.0.0.1:`port`; media files
    the scenario names (caller.pcap, caller.ulaw) are read from `cwd`. `calls` calls are
    placed, `at_once` of them (default: all) at the same time."""
    cwd.mkdir(parents=True, exist_ok=True)
    for old in cwd.glob("*_errors.log"):
        old.unlink()
    command = ["sipp", "-sf", str(SCENARIOS / scenario), f"{LOOPBACK}:{port}",
               "-i", LOOPBACK, "-p", str(free_udp_port()), "-mi", LOOPBACK,
               "-mp", str(free_udp_port()), "-m", str(calls), "-l", str(at_once or calls),
               "-r", str(calls), "-d", str(hold_ms), "-recv_timeout", "30000",
               "-nostdin", "-trace_err", *extra]
    proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    errors = "".join(p.read_text(errors="replace") for p in cwd.glob("*_errors.log"))
    return SippResult(proc.returncode, proc.stdout + proc.stderr, errors)


def records(recordings: Path) -> set[Path]:
    return set(recordings.glob("*.jsonl")) if recordings.exists() else set()


def new_records(recordings: Path, before: set[Path], count: int = 1,
                timeout_s: float = 20) -> list[CallRecord]:
    """Wait until `count` new calls are completely recorded (their last event is written)."""
    deadline = time.monotonic() + timeout_s
    while True:
        paths = sorted(records(recordings) - before)
        done = []
        for path in paths:
            record = CallRecord.read(path)
            if record.finished:
                done.append(record)
        if len(done) >= count:
            return done
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(done)}/{count} complete call records after {timeout_s} s "
                                 f"in {recordings}: {[p.name for p in paths]}")
        time.sleep(0.2)


def read_stereo_wav(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(caller, bot) channels; checks that the header's sizes match the file."""
    raw = path.read_bytes()
    riff_size, = struct.unpack_from("<I", raw, 4)
    data_size, = struct.unpack_from("<I", raw, 40)
    assert raw[:4] == b"RIFF" and raw[36:40] == b"data"
    assert riff_size == len(raw) - 8 and data_size == len(raw) - 44, "header sizes != file size"
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 8000, 2)
        stereo = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    return stereo[:, 0], stereo[:, 1]


def voiced_seconds(samples: np.ndarray, threshold: float = 300.0) -> float:
    """Seconds of 20 ms frames whose RMS is above `threshold` (speech, not silence)."""
    n = samples.size // 160
    frames_ = samples[:n * 160].reshape(n, 160).astype(np.float64)
    rms = np.sqrt((frames_ ** 2).mean(axis=1))
    return float((rms > threshold).sum() * 0.02)


_SHARED: dict[str, object] = {}


def shared_model_service():
    """One model service for every SIP test module in the run (stopped when Python exits)."""
    import atexit
    import tempfile

    from ivr.models.service import ModelServiceProcess

    if "models" not in _SHARED:
        log = Path(tempfile.mkdtemp(prefix="ivr-sip-tests-")) / "model-service.log"
        service = ModelServiceProcess("whisper-tiny.en", ["en"], log_path=log).start()
        atexit.register(service.stop)
        _SHARED["models"] = service
    return _SHARED["models"]


def verbatim_plan(tmp: Path) -> Path:
    """The demo plan with approved answers read verbatim (deterministic, no LLM needed) and no
    transfer fallback node (a failed transfer apologises and hangs up)."""
    source = (ROOT / "dialplans" / "acme-mobile.yaml").read_text(encoding="utf-8")
    source = source.split("\n  take_message:")[0]  # the fallback's nodes close the file
    lines = [("  style: verbatim" if line.strip().startswith("style: llm") else line)
             for line in source.splitlines() if not line.strip().startswith("fallback:")]
    assert lines != source.splitlines(), "acme-mobile.yaml no longer has 'style: llm'"
    path = tmp / "acme-verbatim.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
