"""Kokoro-82M neural TTS (Apache-2.0 weights, int8 ONNX): the Mandarin voice, and more English
voices. Mandarin text becomes phonemes with misaki's ZHG2P (jieba + pypinyin, no torch);
English goes through kokoro-onnx's own espeak-ng phonemizer."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from ivr.errors import IvrError
from ivr.tts.base import TTSEngine
from ivr.tts.store import file_digest, package_version


class KokoroTTS(TTSEngine):
    name = "kokoro"

    def __init__(self, model: Path, voices: Path, voice: str, lang: str,
                 speed: float = 1.0) -> None:
        from kokoro_onnx import Kokoro

        self.files = model, voices
        self.kokoro = Kokoro(str(model), str(voices))
        if voice not in self.kokoro.voices:
            chinese = [v for v in self.kokoro.get_voices() if v[:2] in ("zf", "zm")]
            raise IvrError(f"Kokoro has no voice {voice!r}: Mandarin voices are {chinese}; "
                           "English ones start with af_, am_, bf_, bm_")
        self.voice, self.lang, self.speed = voice, lang, speed
        self._g2p = None
        if lang.startswith("zh"):
            import jieba
            from misaki.zh import ZHG2P

            jieba.setLogLevel(logging.WARNING)  # its own DEBUG handler prints a dictionary load

            self._g2p = ZHG2P()
        self._lock = threading.Lock()  # misaki's jieba state and one ONNX run at a time

    def identity(self) -> dict[str, object]:
        """The model and voice-pack hashes, voice, language, speed and library versions."""
        return {"engine": self.name, "model": file_digest(self.files[0]),
                "voices": file_digest(self.files[1]), "voice": self.voice, "lang": self.lang,
                "speed": self.speed, "kokoro_onnx": package_version("kokoro-onnx"),
                "misaki": package_version("misaki") if self._g2p is not None else None}

    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        with self._lock:
            if self._g2p is not None:
                phonemes, _ = self._g2p(text)
                audio, rate = self.kokoro.create(phonemes, voice=self.voice, speed=self.speed,
                                                 is_phonemes=True)
            else:
                audio, rate = self.kokoro.create(text, voice=self.voice, speed=self.speed,
                                                 lang="en-us" if self.lang == "en" else self.lang)
        pcm = np.clip(np.asarray(audio, dtype=np.float32) * 32767, -32768, 32767).astype("<i2")
        return pcm.tobytes(), rate
