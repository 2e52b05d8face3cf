"""What every command that runs calls needs: a checked dialplan, engines, and the LLM."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Iterator

from ivr.dialplan.loader import LoadedPlan, load_dialplan
from ivr.llm.client import LLMClient, LLMSettings
from ivr.session.engines import Engines, build_engines

DEFAULT_DIALPLAN = Path(__file__).resolve().parents[2] / "dialplans" / "acme-mobile.yaml"


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dialplan", type=Path, default=DEFAULT_DIALPLAN,
                        help="dialplan YAML (default: %(default)s)")
    parser.add_argument("--llm-url", default=os.environ.get("IVR_LLM_URL"),
                        help="OpenAI-compatible base URL, e.g. a vLLM server's http://host:8000/v1 "
                             "(default: start the embedded llama.cpp server; env IVR_LLM_URL)")
    parser.add_argument("--llm-model", default=os.environ.get("IVR_LLM_MODEL", "default"),
                        help="model name to ask the LLM server for (env IVR_LLM_MODEL)")
    parser.add_argument("--asr-device", default="cpu", choices=["cpu", "cuda"],
                        help="where whisper runs (default: cpu, int8)")


@contextlib.contextmanager
def runtime(args: argparse.Namespace, progress: bool = True) -> Iterator[tuple[LoadedPlan, Engines]]:
    """Load the plan and engines; start the embedded LLM if the plan needs one and no URL is set."""
    from ivr.llm.embedded import EmbeddedLLMServer
    from ivr.models.locator import smollm2_gguf

    loaded = load_dialplan(args.dialplan)
    needs_llm = loaded.plan.uses_llm
    with contextlib.ExitStack() as stack:
        url, embedded = args.llm_url, False
        if needs_llm and not url:
            server = stack.enter_context(EmbeddedLLMServer(smollm2_gguf()))
            url, embedded = server.base_url, True
        llm = LLMClient(LLMSettings(base_url=url, model=args.llm_model, embedded=embedded)) \
            if needs_llm else None
        engines = build_engines(loaded.plan.asr_model, loaded.plan.languages, llm,
                                asr_device=args.asr_device, progress=progress)
        yield loaded, engines
