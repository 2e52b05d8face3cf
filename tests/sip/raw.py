"""A bare UDP SIP peer for what no SIP tool sends on purpose: malformed messages, floods,
requests for dialogs that do not exist, CANCEL racing its INVITE. Loopback only; any 127.x
source address works (the allow-list tests bind 127.0.0.2)."""

from __future__ import annotations

import random
import socket
import time

from sip.siptest import LOOPBACK


class RawPeer:
    """One UDP socket on `source`; `send` formats the usual headers, `send_raw` sends bytes."""

    def __init__(self, target_port: int, source: str = LOOPBACK) -> None:
        self.target = (LOOPBACK, target_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.source, self.port = self.sock.getsockname()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawPeer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def request(self, method: str, call_id: str | None = None, cseq: int = 1, body: str = "",
                to_tag: str = "", extra: str = "", branch: str | None = None,
                from_tag: str = "raw") -> str:
        """A well-formed request of `method`; returns the Call-ID used."""
        call_id = call_id or f"raw-{random.getrandbits(48):x}"
        branch = branch or f"z9hG4bK{random.getrandbits(48):x}"
        uri = f"sip:hotline@{self.target[0]}:{self.target[1]}"
        to = f"<{uri}>" + (f";tag={to_tag}" if to_tag else "")
        head = (f"{method} {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {self.source}:{self.port};branch={branch};rport\r\n"
                f"From: <sip:raw@{self.source}:{self.port}>;tag={from_tag}\r\n"
                f"To: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
                f"Contact: <sip:raw@{self.source}:{self.port}>\r\nMax-Forwards: 70\r\n{extra}")
        if body:
            head += "Content-Type: application/sdp\r\n"
        self.send_raw(f"{head}Content-Length: {len(body.encode())}\r\n\r\n{body}".encode())
        return call_id

    def responses(self, wait_s: float = 1.0) -> list[str]:
        """Every message received within `wait_s` (status lines and requests alike)."""
        got, deadline = [], time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                got.append(self.sock.recv(65535).decode(errors="replace"))
            except socket.timeout:
                break
        return got


def status_codes(messages: list[str]) -> list[int]:
    """The status codes of the responses among `messages`."""
    return [int(m.split(" ", 2)[1]) for m in messages if m.startswith("SIP/2.0 ")]


def sdp_offer(source: str, rtp_port: int) -> str:
    return (f"v=0\r\no=raw 1 1 IN IP4 {source}\r\ns=-\r\nc=IN IP4 {source}\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


# RFC 4475 in spirit: messages a parser must survive (each one a different way to be wrong).
TORTURE = [
    b"\x00\xff\xfe garbage that is not SIP at all \x80\x81",
    b"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\n\r\n",                       # no headers at all
    b"INVITE sip:hotline@127.0.0.1 SIP/7.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKv\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: v7\r\nCSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n",                                          # unknown SIP version
    b"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcl\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: cl\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 99999\r\n\r\nshort",                                 # Content-Length lies
    b"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcs\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: cs\r\nCSeq: -1 BYE\r\n"
    b"Content-Length: 0\r\n\r\n",                                          # CSeq method mismatch
    b"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKsdp\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: sdp\r\nCSeq: 1 INVITE\r\n"
    b"Contact: <sip:a@127.0.0.1:9>\r\nContent-Type: application/sdp\r\nContent-Length: 30\r\n"
    b"\r\nv=0\r\nm=audio 99999999 RTP/AVP x",                              # broken SDP
    b"OPTIONS sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKlong\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: long\r\nCSeq: 1 OPTIONS\r\n"
    b"X-Long: " + b"A" * 60000 + b"\r\nContent-Length: 0\r\n\r\n",        # one huge header
    b"INVITE sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKesc\r\n"
    b"From: \"\xc3\x28 bad utf8 \\\" <sip:%zz@b>;tag=1\r\nTo: <sip:c@d\r\nCall-ID: esc\r\n"
    b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",                       # broken quoting, URI
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKstray\r\nFrom: <sip:a@b>;"
    b"tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: stray\r\nCSeq: 1 INVITE\r\n"
    b"Content-Length: 0\r\n\r\n",                                          # a response nobody asked for
    b"ACK sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKack\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=nope\r\nCall-ID: ack\r\nCSeq: 1 ACK\r\n"
    b"Content-Length: 0\r\n\r\n",                                          # ACK for nothing
]
