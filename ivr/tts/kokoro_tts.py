"""Kokoro-82M neural TTS (Apache-2.0 weights, int8 ONNX): the Mandarin voice, and more English
voices. Mandarin text becomes phonemes with misaki's ZHG2P (jieba + pypinyin, no torch);
English goes through kokoro-onnx's own espeak-ng phonemizer, and so do English words inside
Mandarin text ("您好，这里是康宁社区诊所。For English, just speak English."), which misaki would
pass on as letters the model cannot say."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import numpy as np

from ivr.errors import IvrError
from ivr.tts.base import TTSEngine
from ivr.tts.store import file_digest, package_version

# English inside Mandarin text: from a Latin letter on, with the spaces, digits, apostrophes and
# ASCII punctuation between its words ("For English, just speak English.")
ENGLISH_RUN = re.compile(r"[A-Za-z][A-Za-z0-9 '\-.,!?:;]*")
MIXED_G2P = 1   # how Mandarin text with English in it is phonemised: part of the voice's identity


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
                "misaki": package_version("misaki") if self._g2p is not None else None,
                "mixed_g2p": MIXED_G2P if self._g2p is not None else None}

    def mandarin_phonemes(self, text: str) -> str:
        """Kokoro's phonemes for Mandarin `text`: the Chinese by misaki, English runs in it by
        espeak-ng (in the same voice, as a Mandarin speaker would say them)."""
        assert self._g2p is not None
        parts, start = [], 0
        for run in ENGLISH_RUN.finditer(text):
            parts.append(self._g2p(text[start:run.start()])[0])
            parts.append(self.kokoro.tokenizer.phonemize(run.group(), "en-us"))
            start = run.end()
        parts.append(self._g2p(text[start:])[0])
        return " ".join(p for p in parts if p)

    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        with self._lock:
            if self._g2p is not None:
                phonemes = self.mandarin_phonemes(text)
                audio, rate = self.kokoro.create(phonemes, voice=self.voice, speed=self.speed,
                                                 is_phonemes=True)
            else:
                audio, rate = self.kokoro.create(text, voice=self.voice, speed=self.speed,
                                                 lang="en-us" if self.lang == "en" else self.lang)
        pcm = np.clip(np.asarray(audio, dtype=np.float32) * 32767, -32768, 32767).astype("<i2")
        return pcm.tobytes(), rate
