"""The embedded default LLM: a llama.cpp OpenAI-compatible server that `ivr` starts and stops.

It runs in its own process so model compute never holds the GIL of a SIP worker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ivr.errors import IvrError, ModelMissingError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedLLMServer:
    """`python -m llama_cpp.server` on loopback; use as a context manager."""

    def __init__(self, model: Path, port: int | None = None, threads: int = 2,
                 n_ctx: int = 2048, log_path: Path | None = None) -> None:
        self.model = model
        self.port = port or free_port()
        self.threads = threads
        self.n_ctx = n_ctx
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, ready_timeout_s: float = 90.0) -> "EmbeddedLLMServer":
        try:
            import llama_cpp  # noqa: F401  (only to give a clear error)
        except ImportError as exc:
            raise ModelMissingError("llama-cpp-python is not installed: run ./setup.sh "
                                    "(it builds llama-cpp-python==0.3.36 with safe CPU flags)") from exc
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
             "--n_threads", str(self.threads), "--n_ctx", str(self.n_ctx),
             "--host", "127.0.0.1", "--port", str(self.port), "--model_alias", "default"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise IvrError(f"embedded LLM server exited with {self.process.returncode} "
                               f"(see {self.log_path or 'its output'})")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.stop()
        raise IvrError(f"embedded LLM server not ready after {ready_timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "EmbeddedLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
