"""The voice per language, read from voices/voices.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ValidationError

from ivr.errors import IvrError
from ivr.models import locator
from ivr.tts.base import TTSEngine

BUNDLED_PIPER = {"piper-joe-en_US": locator.piper_joe}
DEFAULT_VOICES_FILE = Path(__file__).resolve().parents[2] / "voices" / "voices.yaml"


class VoiceSpec(BaseModel):
    """`engine: piper` with `model` (a bundled name or an .onnx path), `engine: kokoro` with
    `voice` (a Kokoro voice such as zm_yunjian or af_heart), or `engine: espeak-ng` with `voice`
    (an espeak-ng voice name; the last resort)."""

    engine: Literal["piper", "kokoro", "espeak-ng"]
    model: str | None = None
    voice: str | None = None
    length_scale: float | None = None
    speed: float = 1.0


def load_voices(path: Path = DEFAULT_VOICES_FILE) -> dict[str, VoiceSpec]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {lang: VoiceSpec.model_validate(spec) for lang, spec in raw.get("voices", {}).items()}
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise IvrError(f"{path}: cannot read voices: {str(exc).splitlines()[0]}") from exc


def build_voice(spec: VoiceSpec, lang: str = "en") -> TTSEngine:
    if spec.engine == "kokoro":
        from ivr.tts.kokoro_tts import KokoroTTS
        model, voices = locator.kokoro()
        return KokoroTTS(model, voices, spec.voice or "af_heart", lang, spec.speed)
    if spec.engine == "espeak-ng":
        from ivr.tts.espeak_tts import EspeakTTS
        return EspeakTTS(spec.voice or "en")
    from ivr.tts.piper_tts import PiperTTS
    model = spec.model or "piper-joe-en_US"
    if model in BUNDLED_PIPER:
        onnx, config = BUNDLED_PIPER[model]()
    else:
        onnx = Path(model)
        config = onnx.with_suffix(onnx.suffix + ".json")
        if not onnx.exists():
            raise IvrError(f"piper voice {onnx} not found: set voices.<lang>.model to an .onnx path "
                           f"or to one of {sorted(BUNDLED_PIPER)}")
    return PiperTTS(onnx, config, spec.length_scale)
