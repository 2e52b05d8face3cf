"""A call's stereo recording, written while the call goes: caller left, bot right.

Frames arrive in pairs per 20 ms tick (what the caller sent, what the bot sent). The WAV header's
sizes are rewritten every `header_every_s` seconds of audio, so a crash keeps a playable file
with everything up to the last refresh (and readers that trust the file length get the rest).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ivr.audio.frames import FRAME_BYTES, PHONE_RATE

def _header(data_bytes: int, rate: int = PHONE_RATE, channels: int = 2) -> bytes:
    block = channels * 2
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1,
                       channels, rate, rate * block, block, 16, b"data", data_bytes)


class StereoRecorder:
    """Append (caller, bot) 20 ms frames to a stereo PCM16 WAV file."""

    def __init__(self, path: Path, header_every_s: float = 1.0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb")
        self._file.write(_header(0))
        self._data_bytes = 0
        self._since_header = 0
        self._header_every = max(1, int(header_every_s * 1000 / 20))
        self._left: list[bytes] = []
        self._right: list[bytes] = []
        self.frames = 0

    def caller(self, frame: bytes | None) -> None:
        self._left.append(frame or bytes(FRAME_BYTES))
        self._write_pairs()

    def bot(self, frame: bytes | None) -> None:
        self._right.append(frame or bytes(FRAME_BYTES))
        self._write_pairs()

    def _write_pairs(self) -> None:
        n = min(len(self._left), len(self._right))
        if n == 0 or self._file is None:
            return
        left = np.frombuffer(b"".join(self._left[:n]), "<i2")
        right = np.frombuffer(b"".join(self._right[:n]), "<i2")
        del self._left[:n], self._right[:n]
        stereo = np.empty(left.size * 2, "<i2")
        stereo[0::2], stereo[1::2] = left, right
        data = stereo.tobytes()
        self._file.write(data)
        self._data_bytes += len(data)
        self.frames += n
        self._since_header += n
        if self._since_header >= self._header_every:
            self._refresh_header()

    def _refresh_header(self) -> None:
        self._since_header = 0
        self._file.seek(0)
        self._file.write(_header(self._data_bytes))
        self._file.seek(0, 2)
        self._file.flush()

    def close(self) -> None:
        """Pad whichever side is short with silence, write the final sizes, close."""
        if self._file is None:
            return
        silence = bytes(FRAME_BYTES)
        while len(self._left) < len(self._right):
            self._left.append(silence)
        while len(self._right) < len(self._left):
            self._right.append(silence)
        self._write_pairs()
        self._refresh_header()
        self._file.close()
        self._file = None

    @property
    def duration_s(self) -> float:
        return self.frames * 0.02
