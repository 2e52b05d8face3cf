"""espeak-ng TTS for languages with no piper voice here (e.g. Mandarin 'cmn')."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

from ivr.errors import ModelMissingError
from ivr.tts.base import TTSEngine


class EspeakTTS(TTSEngine):
    name = "espeak-ng"

    def __init__(self, voice: str, speed_wpm: int = 160) -> None:
        self.binary = shutil.which("espeak-ng")
        if self.binary is None:
            raise ModelMissingError("espeak-ng is not installed: run ./setup.sh "
                                    "(or: apt-get install -y espeak-ng)")
        self.voice = voice
        self.speed_wpm = speed_wpm

    def identity(self) -> dict[str, object]:
        """Voice, speed and the espeak-ng build that speaks them."""
        version = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
        return {"engine": self.name, "voice": self.voice, "speed_wpm": self.speed_wpm,
                "espeak_ng": version}

    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        result = subprocess.run(
            [self.binary, "-v", self.voice, "-s", str(self.speed_wpm), "--stdout", text],
            capture_output=True, check=True, timeout=30)
        with wave.open(io.BytesIO(result.stdout)) as wav:
            return wav.readframes(wav.getnframes()), wav.getframerate()
