"""The model engines a call session uses, built once per process and shared by its calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.asr.base import ASREngine
from ivr.kb.embedder import CachingEmbedder, Embedder
from ivr.llm.client import LLMClient
from ivr.tts.base import TTSEngine


@dataclass
class Engines:
    asr: ASREngine
    voices: dict[str, TTSEngine]
    embedder: Embedder
    llm: LLMClient | None = None
    timings: dict[str, float] = field(default_factory=dict)  # model load seconds, by name
    retrievers: dict[str, Any] = field(default_factory=dict)  # per dialplan sha256
    prompt_audio: dict[tuple[str, str], Any] = field(default_factory=dict)  # (language, sentence)

    def __post_init__(self) -> None:
        if not isinstance(self.embedder, CachingEmbedder):
            self.embedder = CachingEmbedder(self.embedder)

    def voice(self, language: str) -> TTSEngine:
        return self.voices.get(language) or next(iter(self.voices.values()))


def asr_model_dir(name: str) -> Path:
    """A bundled model name or a path to a CTranslate2 whisper folder (production models)."""
    from ivr.models import locator

    bundled = {"whisper-tiny.en": locator.whisper_tiny_en, "whisper-base": locator.whisper_base}
    return bundled[name]() if name in bundled else Path(name)


def build_engines(asr_model: str, languages: list[str], llm: LLMClient | None = None,
                  asr_device: str = "cpu", progress: bool = False) -> Engines:
    """Load the embedded default engines (timed, with a progress bar when asked)."""
    import time

    from tqdm import tqdm

    from ivr.asr.whisper import WhisperASR
    from ivr.kb.embedder import E5Embedder
    from ivr.tts.voices import build_voice, load_voices

    specs = load_voices()
    steps = [("asr", lambda: WhisperASR(asr_model_dir(asr_model), device=asr_device,
                                        compute_type="int8" if asr_device == "cpu" else "float16")),
             ("embeddings", E5Embedder)]
    steps += [(f"tts.{lang}", lambda lang=lang: build_voice(specs[lang], lang)) for lang in languages
              if lang in specs]
    loaded: dict[str, object] = {}
    timings: dict[str, float] = {}
    for name, make in tqdm(steps, desc="loading models", unit="model", disable=not progress):
        started = time.perf_counter()
        loaded[name] = make()
        timings[name] = round(time.perf_counter() - started, 3)
    voices = {name.split(".", 1)[1]: engine for name, engine in loaded.items()
              if name.startswith("tts.")}
    if not voices:
        raise ValueError(f"no voice in voices/voices.yaml for any of {languages}")
    return Engines(loaded["asr"], voices, loaded["embeddings"], llm, timings)  # type: ignore[arg-type]
