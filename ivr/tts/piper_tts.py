"""Piper neural TTS (GPL-3.0+, espeak-ng phonemes inside)."""

from __future__ import annotations

from pathlib import Path

from ivr.tts.base import TTSEngine
from ivr.tts.store import file_digest, package_version


class PiperTTS(TTSEngine):
    name = "piper"

    def __init__(self, model_path: Path, config_path: Path | None = None,
                 length_scale: float | None = None, deterministic: bool = False) -> None:
        """`deterministic` turns off piper's random prosody so the same text always gives the
        same audio (synthetic test callers, repeatable benchmarks)."""
        from piper import PiperVoice
        from piper.config import SynthesisConfig

        self.model_path = model_path
        self.config_path = config_path or model_path.with_suffix(model_path.suffix + ".json")
        self.voice = PiperVoice.load(model_path, config_path)
        self.rate = self.voice.config.sample_rate
        noise = {"noise_scale": 0.0, "noise_w_scale": 0.0} if deterministic else {}
        self.syn_config = SynthesisConfig(length_scale=length_scale, **noise)

    def identity(self) -> dict[str, object]:
        """The model and config files' hashes, the synthesis settings, piper's version."""
        return {"engine": self.name, "model": file_digest(self.model_path),
                "config": file_digest(self.config_path), "piper": package_version("piper-tts"),
                "length_scale": self.syn_config.length_scale,
                "noise_scale": self.syn_config.noise_scale,
                "noise_w_scale": self.syn_config.noise_w_scale}

    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        chunks = self.voice.synthesize(text, syn_config=self.syn_config)
        return b"".join(c.audio_int16_bytes for c in chunks), self.rate
