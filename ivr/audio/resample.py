"""Sample-rate conversion of PCM16 mono bytes (soxr, "HQ" quality) and PCM16 <-> float helpers."""

from __future__ import annotations

import numpy as np
import soxr


def _samples(pcm: bytes) -> np.ndarray:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data has an odd byte count ({len(pcm)})")
    return np.frombuffer(pcm, dtype="<i2")


def to_float(pcm: bytes) -> np.ndarray:
    """PCM16 LE mono bytes -> float32 samples in [-1, 1)."""
    return _samples(pcm).astype(np.float32) / 32768.0


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples (nominally [-1, 1]) -> PCM16 LE bytes, rounding and clipping to int16."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * 32768.0)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample PCM16 mono bytes; returns `pcm` itself when the rates are equal."""
    if src_rate == dst_rate:
        return pcm
    return soxr.resample(_samples(pcm), src_rate, dst_rate, quality="HQ").astype("<i2").tobytes()


class StreamResampler:
    """Chunk-by-chunk resampling (e.g. TTS output streamed to the phone line).

    Output lags input by the filter delay; pass `last=True` with the final chunk to flush it.
    """

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._stream = soxr.ResampleStream(src_rate, dst_rate, 1, dtype="int16", quality="HQ")

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Feed one chunk of PCM16 mono bytes; returns the resampled bytes ready so far."""
        out = self._stream.resample_chunk(_samples(pcm), last=last)
        return out.astype("<i2").tobytes()
