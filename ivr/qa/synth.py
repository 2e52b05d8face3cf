"""Synthetic callers: piper speech passed through an 8 kHz G.711 line, with gaps between turns."""

from __future__ import annotations

from ivr.audio.frames import silence
from ivr.audio.g711 import phone_line
from ivr.tts.base import TTSEngine


def synth_caller(voice: TTSEngine, turns: list[tuple[float, str]], lead_s: float = 0.0,
                 codec: str = "pcmu", gain: float = 1.0) -> bytes:
    """8 kHz PCM16 of a caller who waits `gap` seconds, then says `text`, for each (gap, text).
    `gain` scales the voice (a shouting or distant caller)."""
    import numpy as np

    pieces = [silence(int(lead_s * 1000))]
    for gap_s, text in turns:
        pieces.append(silence(int(gap_s * 1000)))
        pcm = b"".join(s.pcm for s in voice.speak_all(text))
        if gain != 1.0:
            samples = np.frombuffer(pcm, "<i2").astype(np.float32) * gain
            pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
        pieces.append(pcm)
    pieces.append(silence(1500))
    return phone_line(b"".join(pieces), codec)
