"""The model locator: bundled weights found offline, whisper base assembled and verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.errors import ModelMissingError
from ivr.models import locator


def test_missing_package_names_it_and_the_install_command():
    with pytest.raises(ModelMissingError) as info:
        locator._package_dir("no_such_model_pkg", "no-such-model-pkg==1.0")
    message = str(info.value)
    assert "no-such-model-pkg==1.0" in message and "setup.sh" in message


def test_whisper_base_is_assembled_once_and_rebuilt_when_corrupt(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("IVR_CACHE", str(tmp_path))
    folder = locator.whisper_base()
    model = folder / "model.bin"
    size = model.stat().st_size
    assert size > 100_000_000 and (folder / "tokenizer.json").exists()
    with open(model, "r+b") as f:  # corrupt one byte: the checksum must catch it
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert locator._sha256(model) != (folder / "model.bin.sha256").read_text().strip()
    locator.whisper_base()
    assert locator._sha256(model) == (folder / "model.bin.sha256").read_text().strip()
    assert model.stat().st_size == size


def test_every_bundled_model_is_found():
    for model in locator.BUNDLED:
        assert model.locate()
