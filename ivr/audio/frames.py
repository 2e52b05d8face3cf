"""Fixed-size audio frames for the phone line (8 kHz PCM16 mono, 20 ms) and a playout buffer."""

from __future__ import annotations

import math
from collections import deque
from typing import Iterator

import numpy as np

PHONE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = PHONE_RATE * FRAME_MS // 1000 * 2  # 320
REWIND_FRAMES = 50  # 1 s: the most bot audio a driver queues ahead of its line (SIP: 10-50)


def frames(pcm: bytes, frame_bytes: int = FRAME_BYTES, pad: bool = True) -> Iterator[bytes]:
    """Split `pcm` into frames of exactly `frame_bytes`; the tail is zero-padded (or dropped)."""
    for start in range(0, len(pcm), frame_bytes):
        frame = pcm[start:start + frame_bytes]
        if len(frame) < frame_bytes:
            if not pad:
                return
            frame += bytes(frame_bytes - len(frame))
        yield frame


def silence(ms: int, rate: int = PHONE_RATE) -> bytes:
    """`ms` milliseconds of PCM16 mono digital silence."""
    return bytes(rate * ms // 1000 * 2)


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 mono bytes in dBFS (full-scale square = 0); -inf for silence/no data."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return -math.inf
    power = float(samples @ samples) / samples.size  # a dot product: 4x np.mean's speed here
    return 10 * math.log10(power / 32768.0 ** 2) if power > 0 else -math.inf


class FrameBuffer:
    """Takes byte chunks of any size, hands out exact frames (the bot's playout buffer)."""

    def __init__(self, frame_bytes: int = FRAME_BYTES, rate: int = PHONE_RATE) -> None:
        self.frame_bytes = frame_bytes
        self.rate = rate
        self._buf = bytearray()
        self._taken: deque[bytes] = deque(maxlen=REWIND_FRAMES)

    def push(self, data: bytes) -> None:
        """Append audio of any length."""
        self._buf += data

    def pop(self) -> bytes | None:
        """Remove and return the next whole frame, or None if less than a frame is buffered."""
        if len(self._buf) < self.frame_bytes:
            return None
        frame = bytes(self._buf[:self.frame_bytes])
        del self._buf[:self.frame_bytes]
        self._taken.append(frame)
        return frame

    def rewind(self, count: int) -> None:
        """Put the last `count` frames `pop` handed out back in front (a line that had taken
        them but not sent them dropped them; at most `REWIND_FRAMES`)."""
        for _ in range(min(count, len(self._taken))):
            self._buf[:0] = self._taken.pop()

    def pop_all(self, pad: bool = False) -> list[bytes]:
        """Remove and return every whole frame; with `pad`, also the zero-padded partial tail."""
        end = len(self._buf) if pad else len(self) * self.frame_bytes
        data = bytes(self._buf[:end])
        del self._buf[:end]
        return list(frames(data, self.frame_bytes))

    def clear(self) -> None:
        """Drop everything buffered (e.g. on barge-in)."""
        self._buf.clear()
        self._taken.clear()

    def __len__(self) -> int:
        """Number of whole frames buffered."""
        return len(self._buf) // self.frame_bytes

    @property
    def duration_s(self) -> float:
        """Seconds of audio buffered, including a partial frame."""
        return len(self._buf) / (2 * self.rate)
