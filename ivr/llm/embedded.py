"""The embedded default LLM: a llama.cpp OpenAI-compatible server that `ivr` starts and stops.

It runs in its own process so model compute never holds the GIL of a SIP worker.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ivr.errors import ModelMissingError
from ivr.service_process import ServiceProcess, free_port, http_ok

__all__ = ["EmbeddedLLMServer", "free_port"]


class EmbeddedLLMServer(ServiceProcess):
    """`python -m llama_cpp.server` on loopback, serving the model as "default"."""

    def __init__(self, model: Path, port: int | None = None, threads: int = 2,
                 n_ctx: int = 2048, log_path: Path | None = None) -> None:
        super().__init__("embedded LLM server", log_path)
        if importlib.util.find_spec("llama_cpp") is None:
            raise ModelMissingError("llama-cpp-python is not installed: run ./setup.sh "
                                    "(it builds llama-cpp-python==0.3.36 with safe CPU flags)")
        self.model = model
        self.port = port or free_port()
        self.threads = threads
        self.n_ctx = n_ctx
        self.ready = http_ok(f"{self.base_url}/models")  # type: ignore[method-assign]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
                "--n_threads", str(self.threads), "--n_ctx", str(self.n_ctx),
                "--host", "127.0.0.1", "--port", str(self.port), "--model_alias", "default"]
