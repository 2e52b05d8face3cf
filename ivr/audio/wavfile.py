"""Read caller audio from WAV files of any common encoding; write PCM16 WAV files.

`read_audio` parses the RIFF chunks itself because the stdlib `wave` module rejects float and
WAVE_FORMAT_EXTENSIBLE files. It accepts 8/16/24/32-bit integer PCM, 32/64-bit float and
G.711 mu-law/A-law, any rate, any channel count (averaged to mono). A data chunk whose
declared size runs past the end of the file (as streaming writers leave it) is read up to the end.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from ivr.audio.g711 import alaw_decode, ulaw_decode
from ivr.audio.resample import to_pcm16
from ivr.errors import AudioInputError

_PCM, _FLOAT, _ALAW, _ULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE


def _int24(data: bytes) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    return (value ^ 0x800000) - 0x800000  # sign-extend


# (format tag, bits per sample) -> interleaved samples as float64 in [-1, 1]
_DECODERS: dict[tuple[int, int], Callable[[bytes], np.ndarray]] = {
    (_PCM, 8): lambda d: (np.frombuffer(d, dtype=np.uint8) - 128.0) / 128.0,
    (_PCM, 16): lambda d: np.frombuffer(d, dtype="<i2") / 32768.0,
    (_PCM, 24): lambda d: _int24(d) / 8388608.0,
    (_PCM, 32): lambda d: np.frombuffer(d, dtype="<i4") / 2147483648.0,
    (_FLOAT, 32): lambda d: np.frombuffer(d, dtype="<f4").astype(np.float64),
    (_FLOAT, 64): lambda d: np.frombuffer(d, dtype="<f8"),
    (_ULAW, 8): lambda d: np.frombuffer(ulaw_decode(d), dtype="<i2") / 32768.0,
    (_ALAW, 8): lambda d: np.frombuffer(alaw_decode(d), dtype="<i2") / 32768.0,
}


def _chunks(raw: bytes, path: Path) -> tuple[bytes, bytes]:
    """The 'fmt ' and 'data' chunk bodies of a RIFF/WAVE file."""
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise AudioInputError(f"{path}: not a WAV file (no RIFF/WAVE header)")
    found: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(raw):
        chunk_id, size = struct.unpack_from("<4sI", raw, pos)
        found.setdefault(chunk_id, raw[pos + 8:pos + 8 + size])
        pos += 8 + size + (size & 1)
    if len(found.get(b"fmt ", b"")) < 16:
        raise AudioInputError(f"{path}: corrupt WAV header (missing or short 'fmt ' chunk)")
    if b"data" not in found:
        raise AudioInputError(f"{path}: corrupt WAV file (no 'data' chunk)")
    return found[b"fmt "], found[b"data"]


def read_audio(path: str | Path) -> tuple[bytes, int]:
    """Read a WAV file as (PCM16 LE mono bytes, sample rate); raises AudioInputError if unusable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AudioInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise AudioInputError(f"{path}: is a directory, not an audio file") from None
    except OSError as exc:
        raise AudioInputError(f"{path}: cannot read file ({exc.strerror})") from None
    if not raw:
        raise AudioInputError(f"{path}: file is empty")
    fmt, data = _chunks(raw, path)
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 26:
            raise AudioInputError(f"{path}: corrupt WAV header (short extensible 'fmt ' chunk)")
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first two bytes of the SubFormat GUID
    if channels == 0 or rate == 0:
        raise AudioInputError(f"{path}: corrupt WAV header ({channels} channels, {rate} Hz)")
    decode = _DECODERS.get((tag, bits))
    if decode is None:
        raise AudioInputError(f"{path}: unsupported WAV encoding (format 0x{tag:04X}, {bits}-bit); "
                              "use 8/16/24/32-bit PCM or 32-bit float")
    if block_align != channels * bits // 8:
        raise AudioInputError(f"{path}: corrupt WAV header (block size {block_align} for "
                              f"{channels} x {bits}-bit)")
    n_frames = len(data) // block_align
    if n_frames == 0:
        raise AudioInputError(f"{path}: WAV file contains no audio (zero-length data)")
    samples = decode(data[:n_frames * block_align]).reshape(n_frames, channels).mean(axis=1)
    return to_pcm16(samples), rate


def write_wav(path: str | Path, pcm: bytes, rate: int, channels: int = 1) -> None:
    """Write interleaved PCM16 LE bytes as a WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def interleave_stereo(left: bytes, right: bytes) -> bytes:
    """Two PCM16 mono signals -> interleaved stereo; the shorter is padded with silence."""
    n = max(len(left), len(right)) // 2
    stereo = np.zeros((n, 2), dtype="<i2")
    for channel, pcm in enumerate((left, right)):
        samples = np.frombuffer(pcm, dtype="<i2")
        stereo[:samples.size, channel] = samples
    return stereo.tobytes()
