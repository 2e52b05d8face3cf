"""Piper neural TTS (GPL-3.0+, espeak-ng phonemes inside)."""

from __future__ import annotations

from pathlib import Path

from ivr.tts.base import TTSEngine


class PiperTTS(TTSEngine):
    name = "piper"

    def __init__(self, model_path: Path, config_path: Path | None = None,
                 length_scale: float | None = None, deterministic: bool = False) -> None:
        """`deterministic` turns off piper's random prosody so the same text always gives the
        same audio (synthetic test callers, repeatable benchmarks)."""
        from piper import PiperVoice
        from piper.config import SynthesisConfig

        self.voice = PiperVoice.load(model_path, config_path)
        self.rate = self.voice.config.sample_rate
        noise = {"noise_scale": 0.0, "noise_w_scale": 0.0} if deterministic else {}
        self.syn_config = SynthesisConfig(length_scale=length_scale, **noise)

    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        chunks = self.voice.synthesize(text, syn_config=self.syn_config)
        return b"".join(c.audio_int16_bytes for c in chunks), self.rate
