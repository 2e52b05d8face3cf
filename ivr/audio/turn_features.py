"""Whisper-style log-mel features as Smart Turn v3 was trained on them (numpy only).

Smart Turn's reference (pipecat `local_smart_turn_v3.py` + `_whisper_features.py`, which mirror
`transformers.WhisperFeatureExtractor(chunk_length=8)`) differs from faster-whisper's extractor
in the three ways that make scores erratic when they are missed:

* the last 8 s of 16 kHz audio, zero-padded at the START (the turn's end sits at the right edge);
* the padded 8 s waveform is normalised to zero mean and unit variance before the spectrogram;
* the log-mel is clamped to 8 decades below its maximum and scaled as (x + 4) / 4.

Checked against the reference implementation in tests/test_turn_model.py.
"""

from __future__ import annotations

import functools

import numpy as np

RATE = 16000
WINDOW_S = 8
N_FFT = 400
HOP = 160
N_MELS = 80
FRAMES = WINDOW_S * RATE // HOP  # 800


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) * (27.0 / np.log(6.4))
    return np.where(hz >= 1000.0, log_part, 3.0 * hz / 200.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, 200.0 * mel / 3.0)


@functools.lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """(N_MELS, N_FFT // 2 + 1) Slaney-normalised triangular filters from 0 Hz to 8 kHz."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(RATE / 2), N_MELS + 2))
    bins = np.linspace(0, RATE // 2, N_FFT // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    return triangles * (2.0 / (upper - lower))


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as torch.hann_window


def last_window(samples: np.ndarray) -> np.ndarray:
    """The last WINDOW_S seconds of 16 kHz float samples, zero-padded at the start."""
    size = WINDOW_S * RATE
    samples = np.asarray(samples, dtype=np.float32)[-size:]
    return np.pad(samples, (size - len(samples), 0))


def log_mel(samples: np.ndarray) -> np.ndarray:
    """(80, 800) float32 features of the last 8 s of 16 kHz float samples."""
    x = last_window(samples)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _window(), axis=-1)) ** 2
    mel = np.log10(np.maximum(1e-10, mel_filters() @ power.T))[:, :FRAMES]
    mel = np.maximum(mel, mel.max() - 8.0)
    return ((mel + 4.0) / 4.0).astype(np.float32)
