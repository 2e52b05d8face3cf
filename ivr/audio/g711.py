"""G.711 mu-law (PCMU) and A-law (PCMA) codecs for PCM16 little-endian mono bytes.

Bit-exact with the ITU-T G.711 reference (the Sun g711.c algorithm that `audioop` used).
Encoding looks samples up in a 65536-entry table and decoding in a 256-entry table; both
tables are computed once with numpy at import.
"""

from __future__ import annotations

import numpy as np

_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _all_samples() -> np.ndarray:
    """Every int16 value, ordered so index == value viewed as uint16."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + 0x21
    seg = np.searchsorted(_ULAW_SEG_END, mag)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((mag >> (seg + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = np.searchsorted(_ALAW_SEG_END, mag)
    quant = (mag >> np.where(seg < 2, 1, seg)) & 0x0F
    code = np.where(seg >= 8, 0x7F, (seg << 4) | quant)
    return (code ^ mask).astype(np.uint8)


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype("<i2")


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = ((a & 0x0F) << 4) + np.where(seg == 0, 8, 0x108)
    t = t << np.maximum(seg - 1, 0)
    return np.where(a & 0x80, t, -t).astype("<i2")


_ULAW_ENC = _ulaw_encode_table()
_ALAW_ENC = _alaw_encode_table()
_ULAW_DEC = _ulaw_decode_table()
_ALAW_DEC = _alaw_decode_table()


def _encode(pcm: bytes, table: np.ndarray) -> bytes:
    if len(pcm) % 2:
        raise ValueError(f"PCM16 data has an odd byte count ({len(pcm)})")
    return table[np.frombuffer(pcm, dtype="<u2")].tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 LE mono -> mu-law bytes (one byte per sample)."""
    return _encode(pcm, _ULAW_ENC)


def ulaw_decode(data: bytes) -> bytes:
    """Mu-law bytes -> PCM16 LE mono."""
    return _ULAW_DEC[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    """PCM16 LE mono -> A-law bytes (one byte per sample)."""
    return _encode(pcm, _ALAW_ENC)


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes -> PCM16 LE mono."""
    return _ALAW_DEC[np.frombuffer(data, dtype=np.uint8)].tobytes()


def phone_line(pcm: bytes, codec: str = "pcmu") -> bytes:
    """Pass PCM16 through a G.711 codec and back, as a phone line would ("pcmu" or "pcma")."""
    if codec == "pcmu":
        return ulaw_decode(ulaw_encode(pcm))
    if codec == "pcma":
        return alaw_decode(alaw_encode(pcm))
    raise ValueError(f"unknown codec {codec!r}: expected 'pcmu' or 'pcma'")
