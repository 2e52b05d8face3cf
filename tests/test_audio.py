"""Tests for ivr.audio: G.711, resampling, framing, WAV reading/writing."""

from __future__ import annotations

import math
import struct
import warnings
import wave
from pathlib import Path

import numpy as np
import pytest

from ivr.audio import g711
from ivr.audio.frames import (FRAME_BYTES, FRAME_MS, PHONE_RATE, FrameBuffer, frames, rms_dbfs,
                              silence)
from ivr.audio.resample import StreamResampler, resample, to_float, to_pcm16
from ivr.audio.wavfile import interleave_stereo, read_audio, write_wav
from ivr.errors import AudioInputError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_PCM16 = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x * 32768), -32768, 32767).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int64)


# --- G.711 -----------------------------------------------------------------------------------

def test_ulaw_bit_exact_with_audioop() -> None:
    assert g711.ulaw_encode(ALL_PCM16) == audioop.lin2ulaw(ALL_PCM16, 2)
    assert g711.ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_bit_exact_with_audioop() -> None:
    assert g711.alaw_encode(ALL_PCM16) == audioop.lin2alaw(ALL_PCM16, 2)
    assert g711.alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_g711_reference_points() -> None:
    # Values from the G.711 tables: zero and the extreme code words.
    assert g711.ulaw_encode(pcm16(np.zeros(1))) == b"\xff"
    assert g711.alaw_encode(pcm16(np.zeros(1))) == b"\xd5"
    assert samples(g711.ulaw_decode(b"\x00\x80\xff\x7f")).tolist() == [-32124, 32124, 0, 0]
    assert samples(g711.alaw_decode(b"\xd5\x55\xaa\x2a")).tolist() == [8, -8, 32256, -32256]


@pytest.mark.parametrize("encode,decode", [(g711.ulaw_encode, g711.ulaw_decode),
                                           (g711.alaw_encode, g711.alaw_decode)])
def test_g711_decoded_values_survive_a_round_trip(encode, decode) -> None:
    decoded = decode(ALL_CODES)
    assert decode(encode(decoded)) == decoded
    assert len(encode(ALL_PCM16)) == 65536


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
def test_phone_line_keeps_a_sine_with_telephone_snr(codec: str) -> None:
    clean = pcm16(sine(440, 0.5, 8000, amplitude=0.3))
    line = g711.phone_line(clean, codec)
    assert len(line) == len(clean)
    error = samples(line) - samples(clean)
    snr = 10 * math.log10(np.sum(samples(clean) ** 2) / np.sum(error ** 2))
    assert snr > 30


def test_phone_line_rejects_unknown_codec() -> None:
    with pytest.raises(ValueError, match="opus"):
        g711.phone_line(b"\0\0", "opus")


def test_g711_encode_rejects_odd_byte_count() -> None:
    with pytest.raises(ValueError):
        g711.ulaw_encode(b"\0\0\0")


# --- resampling ----------------------------------------------------------------------------------

@pytest.mark.parametrize("src,dst", [(8000, 16000), (16000, 8000), (8000, 22050), (22050, 8000),
                                     (16000, 22050), (22050, 16000)])
@pytest.mark.parametrize("n", [8000, 4001])
def test_resample_length(src: int, dst: int, n: int) -> None:
    out = resample(bytes(2 * n), src, dst)
    assert abs(len(out) // 2 - n * dst / src) <= 1
    assert len(out) % 2 == 0


def test_resample_same_rate_returns_same_object() -> None:
    pcm = pcm16(sine(300, 0.1, 8000))
    assert resample(pcm, 8000, 8000) is pcm


@pytest.mark.parametrize("src,dst", [(8000, 16000), (16000, 8000), (8000, 22050), (22050, 8000)])
def test_resample_keeps_frequency_and_energy(src: int, dst: int) -> None:
    tone = sine(1000, 1.0, src)
    out = samples(resample(pcm16(tone), src, dst)) / 32768
    body = out[len(out) // 10: -len(out) // 10]  # skip filter edges
    spectrum = np.abs(np.fft.rfft(body * np.hanning(len(body))))
    peak_hz = np.argmax(spectrum) * dst / len(body)
    assert abs(peak_hz - 1000) < 2 * dst / len(body)
    in_db = 20 * math.log10(np.sqrt(np.mean(tone ** 2)))
    out_db = 20 * math.log10(np.sqrt(np.mean(body ** 2)))
    assert abs(in_db - out_db) < 0.2


def test_stream_resampler_matches_one_shot() -> None:
    pcm = pcm16(sine(1000, 1.0, 22050) + sine(250, 1.0, 22050, 0.2))
    stream = StreamResampler(22050, 8000)
    chunk = 2 * 317
    out = b"".join(stream.process(pcm[i:i + chunk]) for i in range(0, len(pcm), chunk))
    out += stream.process(b"", last=True)
    whole = resample(pcm, 22050, 8000)
    assert len(out) == len(whole)
    assert np.max(np.abs(samples(out) - samples(whole))) <= 4


def test_float_conversion_round_trip_and_clipping() -> None:
    floats = to_float(ALL_PCM16)
    assert floats.dtype == np.float32
    assert floats.min() == -1.0 and floats.max() < 1.0
    assert to_pcm16(floats) == ALL_PCM16
    assert samples(to_pcm16(np.array([1.5, -2.0, 0.5]))).tolist() == [32767, -32768, 16384]


def test_to_float_rejects_odd_byte_count() -> None:
    with pytest.raises(ValueError):
        to_float(b"\0\0\0")


# --- framing -------------------------------------------------------------------------------------

def test_frame_constants_agree() -> None:
    assert FRAME_BYTES == PHONE_RATE * FRAME_MS // 1000 * 2 == 320


def test_frames_pads_or_drops_the_tail() -> None:
    pcm = bytes(range(256)) * 4  # 1024 bytes = 3 frames + 64 bytes
    padded = list(frames(pcm))
    assert [len(f) for f in padded] == [320] * 4
    assert b"".join(padded)[:1024] == pcm and b"".join(padded)[1024:] == bytes(256)
    assert list(frames(pcm, pad=False)) == padded[:3]
    assert len(list(frames(pcm[:960]))) == 3
    assert list(frames(b"")) == []


def test_frame_buffer_with_odd_chunk_sizes() -> None:
    data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    buf = FrameBuffer()
    out, pos = [], 0
    for size in [1, 7, 0, 333, 319, 1, 641, 999, 2, 1000]:
        buf.push(data[pos:pos + size])
        pos += size
        assert len(buf) == (pos - 320 * len(out)) // 320
        while (frame := buf.pop()) is not None:
            out.append(frame)
    assert pos == 3303
    assert all(len(f) == 320 for f in out) and b"".join(out) == data[:320 * len(out)]
    assert len(out) == 10 and len(buf) == 0
    assert buf.duration_s == pytest.approx((3303 - 3200) / 16000)
    assert buf.pop() is None
    buf.push(data[pos:pos + 700])  # 103 + 700 = 803 bytes: 2 frames + 163
    assert len(buf) == 2
    whole = buf.pop_all()
    assert b"".join(whole) == data[3200:3840] and len(buf) == 0
    tail = buf.pop_all(pad=True)
    assert tail == [data[3840:4003] + bytes(320 - 163)]
    assert buf.duration_s == 0


def test_frame_buffer_clear() -> None:
    buf = FrameBuffer()
    buf.push(bytes(1000))
    buf.clear()
    assert len(buf) == 0 and buf.pop() is None and buf.duration_s == 0


def test_silence_lengths() -> None:
    assert silence(20) == bytes(320)
    assert silence(1000, 16000) == bytes(32000)


def test_rms_dbfs() -> None:
    square = np.tile(np.array([32767, -32768], dtype="<i2"), 400).tobytes()
    assert rms_dbfs(square) == pytest.approx(0.0, abs=0.01)
    half_sine = pcm16(sine(1000, 1.0, 8000, amplitude=0.5))
    assert rms_dbfs(half_sine) == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert rms_dbfs(bytes(320)) == -math.inf
    assert rms_dbfs(b"") == -math.inf


# --- WAV files -----------------------------------------------------------------------------------

KSDATAFORMAT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")


def riff(fmt_body: bytes, data: bytes, data_size: int | None = None) -> bytes:
    """A RIFF/WAVE file built by hand, independently of the code under test."""
    size = len(data) if data_size is None else data_size
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
            + b"data" + struct.pack("<I", size) + data + b"\0" * (len(data) & 1))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, sub_tag: int | None = None) -> bytes:
    block = channels * bits // 8
    base = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if sub_tag is None:
        return base
    extension = struct.pack("<HHIH", 22, bits, 0, sub_tag) + KSDATAFORMAT_SUFFIX
    return base + extension


def stdlib_wav(path: Path, frames_bytes: bytes, rate: int, channels: int, width: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(frames_bytes)


@pytest.mark.parametrize("rate", [8000, 16000, 44100])
def test_read_pcm16_mono_is_exact(tmp_path: Path, rate: int) -> None:
    pcm = pcm16(sine(440, 0.3, rate))
    stdlib_wav(tmp_path / "a.wav", pcm, rate, 1, 2)
    assert read_audio(tmp_path / "a.wav") == (pcm, rate)


def test_read_stereo_downmixes_to_mean(tmp_path: Path) -> None:
    left, right = samples(pcm16(sine(440, 0.2, 8000))), samples(pcm16(sine(700, 0.2, 8000, 0.3)))
    stereo = np.column_stack([left, right]).astype("<i2").tobytes()
    stdlib_wav(tmp_path / "s.wav", stereo, 8000, 2, 2)
    pcm, rate = read_audio(tmp_path / "s.wav")
    assert rate == 8000
    assert np.max(np.abs(samples(pcm) - (left + right) / 2)) <= 0.5


def test_read_8_24_32_bit_pcm(tmp_path: Path) -> None:
    x = samples(pcm16(sine(440, 0.2, 22050, amplitude=0.8)))
    as24 = (x << 8) + 0x7F  # low byte below half an LSB of 16-bit
    raw24 = b"".join(int(v).to_bytes(3, "little", signed=True) for v in as24)
    stdlib_wav(tmp_path / "p24.wav", raw24, 22050, 1, 3)
    stdlib_wav(tmp_path / "p32.wav", (x << 16).astype("<i4").tobytes(), 22050, 1, 4)
    stdlib_wav(tmp_path / "p8.wav", ((x >> 8) + 128).astype(np.uint8).tobytes(), 22050, 1, 1)
    assert read_audio(tmp_path / "p24.wav") == (x.astype("<i2").tobytes(), 22050)
    assert read_audio(tmp_path / "p32.wav") == (x.astype("<i2").tobytes(), 22050)
    pcm8, _ = read_audio(tmp_path / "p8.wav")
    assert np.max(np.abs(samples(pcm8) - x)) < 256


def test_read_float_and_extensible(tmp_path: Path) -> None:
    x = samples(pcm16(sine(440, 0.2, 48000)))
    floats = (x / 32768).astype("<f4").tobytes()
    (tmp_path / "f.wav").write_bytes(riff(fmt_chunk(3, 1, 48000, 32), floats))
    (tmp_path / "fx.wav").write_bytes(riff(fmt_chunk(0xFFFE, 1, 48000, 32, sub_tag=3), floats))
    stereo24 = b"".join(int(v << 8).to_bytes(3, "little", signed=True) * 2 for v in x)
    (tmp_path / "px.wav").write_bytes(riff(fmt_chunk(0xFFFE, 2, 48000, 24, sub_tag=1), stereo24))
    for name in ("f.wav", "fx.wav", "px.wav"):
        assert read_audio(tmp_path / name) == (x.astype("<i2").tobytes(), 48000), name


def test_read_float_clips_out_of_range(tmp_path: Path) -> None:
    data = np.array([2.0, -3.0, 0.25], dtype="<f4").tobytes()
    (tmp_path / "loud.wav").write_bytes(riff(fmt_chunk(3, 1, 8000, 32), data))
    pcm, _ = read_audio(tmp_path / "loud.wav")
    assert samples(pcm).tolist() == [32767, -32768, 8192]


def test_read_mulaw_wav(tmp_path: Path) -> None:
    codes = bytes(range(256))
    (tmp_path / "u.wav").write_bytes(riff(fmt_chunk(7, 1, 8000, 8), codes))
    assert read_audio(tmp_path / "u.wav") == (audioop.ulaw2lin(codes, 2), 8000)


def test_read_tolerates_data_size_past_end_of_file(tmp_path: Path) -> None:
    pcm = pcm16(sine(440, 0.1, 8000))
    (tmp_path / "stream.wav").write_bytes(riff(fmt_chunk(1, 1, 8000, 16), pcm, 0xFFFFFFFF))
    assert read_audio(tmp_path / "stream.wav") == (pcm, 8000)


def test_write_wav_round_trip_and_stereo(tmp_path: Path) -> None:
    left = pcm16(sine(440, 0.3, 8000))
    right = pcm16(sine(880, 0.1, 8000))
    write_wav(tmp_path / "m.wav", left, 8000)
    assert read_audio(tmp_path / "m.wav") == (left, 8000)
    stereo = interleave_stereo(left, right)
    assert len(stereo) == 2 * len(left)
    pair = samples(stereo).reshape(-1, 2)
    assert pair[:, 0].astype("<i2").tobytes() == left
    assert pair[: len(right) // 2, 1].astype("<i2").tobytes() == right
    assert not pair[len(right) // 2:, 1].any()
    write_wav(tmp_path / "st.wav", stereo, 8000, channels=2)
    with wave.open(str(tmp_path / "st.wav")) as check:
        assert (check.getnchannels(), check.getframerate(), check.getnframes()) == (2, 8000, 2400)
    assert interleave_stereo(right, left) == samples(stereo).reshape(-1, 2)[:, ::-1].astype(
        "<i2").tobytes()


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.wav"
    stdlib_wav(good, pcm16(sine(440, 0.1, 8000)), 8000, 1, 2)
    cases = {
        "missing": (b"", "not found"),
        "empty": (b"", "empty"),
        "garbage": (b"this is not audio at all, just text\n" * 10, "not a WAV"),
        "truncated": (good.read_bytes()[:30], "corrupt WAV header"),
        "nodata": (good.read_bytes()[:44 - 8], "no 'data' chunk"),
        "zero": (riff(fmt_chunk(1, 1, 8000, 16), b""), "no audio"),
        "halfframe": (riff(fmt_chunk(1, 2, 8000, 16), b"\1\2"), "no audio"),
        "mp3": (riff(struct.pack("<HHIIHH", 0x55, 1, 8000, 2000, 1, 0), b"\xff" * 100),
                "unsupported"),
        "float16": (riff(fmt_chunk(3, 1, 8000, 16), bytes(100)), "unsupported"),
        "norate": (riff(fmt_chunk(1, 1, 0, 16), bytes(100)), "corrupt WAV header"),
        "badblock": (riff(struct.pack("<HHIIHH", 1, 2, 8000, 32000, 3, 16), bytes(100)),
                     "block size"),
    }
    paths = {}
    for name, (content, message) in cases.items():
        path = tmp_path / f"caller-{name}.wav"
        if name != "missing":
            path.write_bytes(content)
        paths[name] = (path, message)
    return paths


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "truncated", "nodata", "zero",
                                  "halfframe", "mp3", "float16", "norate", "badblock"])
def test_bad_input_raises_audio_input_error_naming_the_file(tmp_path: Path, case: str) -> None:
    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(AudioInputError) as info:
        read_audio(path)
    text = str(info.value)
    assert path.name in text
    assert message in text
    assert "\n" not in text


def test_directory_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="directory"):
        read_audio(tmp_path)
