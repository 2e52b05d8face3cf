"""Caller media for sipp: raw G.711 files for `rtp_stream`, and pcap files for `play_pcap_audio`
with PCMU speech and RFC 2833 digits in one RTP stream (one SSRC, continuous sequence numbers),
which is what a phone sends."""

from __future__ import annotations

import struct
from pathlib import Path

from ivr.audio.frames import FRAME_BYTES, frames
from ivr.audio.g711 import ulaw_encode

PCMU, TELEPHONE_EVENT = 0, 101
SAMPLES_PER_FRAME = 160
DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def write_ulaw(path: Path, pcm: bytes) -> Path:
    """Raw mu-law samples (what sipp's rtp_stream plays with payload type 0)."""
    path.write_bytes(ulaw_encode(pcm))
    return path


def _udp_packet(payload: bytes, src_port: int = 16000, dst_port: int = 6000) -> bytes:
    """Ethernet + IPv4 + UDP around `payload` (addresses are rewritten by sipp on replay)."""
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    checksum = sum(struct.unpack("!10H", ip))
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    ip = ip[:10] + struct.pack("!H", ~checksum & 0xFFFF) + ip[12:]
    ethernet = b"\x00\x00\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ethernet + ip + udp


class _RtpStream:
    def __init__(self, ssrc: int = 0x1DEA5EED) -> None:
        self.ssrc, self.seq, self.packets = ssrc, 0, []  # (time_s, bytes)

    def add(self, t: float, pt: int, timestamp: int, payload: bytes, marker: bool = False) -> None:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF,
                             timestamp & 0xFFFFFFFF, self.ssrc)
        self.packets.append((t, header + payload))
        self.seq += 1


def write_pcap(path: Path, pcm: bytes, digits: list[tuple[float, str]] = (),
               digit_ms: int = 100) -> Path:
    """8 kHz PCM16 caller audio as a PCMU RTP pcap; each (at_s, digit) replaces the audio from
    `at_s` with an RFC 2833 event of `digit_ms` (3 end packets, as phones send)."""
    stream = _RtpStream()
    pending = sorted((round(at * 50), digit) for at, digit in digits)
    event_frames = max(1, digit_ms // 20)
    skip_until = -1
    for index, frame in enumerate(frames(pcm, FRAME_BYTES)):
        t, ts = index * 0.02, index * SAMPLES_PER_FRAME
        if pending and index >= pending[0][0]:
            _, digit = pending.pop(0)
            event = DTMF_EVENTS[digit]
            for k in range(event_frames + 2):  # duration grows, then the end packet thrice
                end = k >= event_frames - 1
                duration = SAMPLES_PER_FRAME * min(k + 1, event_frames)
                payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, duration)
                stream.add((index + min(k, event_frames - 1)) * 0.02 + (0.001 * k if end else 0),
                           TELEPHONE_EVENT, ts, payload, marker=k == 0)
            skip_until = index + event_frames
        if index < skip_until:
            continue
        stream.add(t, PCMU, ts, ulaw_encode(frame), marker=index == skip_until)
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for t, rtp in stream.packets:
            packet = _udp_packet(rtp)
            seconds = int(t)
            out.write(struct.pack("<IIII", 1_700_000_000 + seconds, int((t - seconds) * 1e6),
                                  len(packet), len(packet)))
            out.write(packet)
    return path
