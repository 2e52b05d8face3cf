"""The Kamailio front's defences against real kamailio processes, on loopback addresses only.

A fake worker (a Python UDP responder on 127.0.0.5) stands in for the SIP workers: it answers
the dispatcher's OPTIONS probes and every INVITE with 200, and counts the INVITEs that reach it.
Callers are Python UDP sockets on other loopback addresses, so the front sees distinct sources:
127.0.0.1 the normal caller, 127.0.0.3 a flooding peer, 127.0.0.2 a stranger.

`python tests/test_sip_front.py` measures the flood rates the front absorbs (10 s per rate).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import socket
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from ivr.sip.kamailio import FrontSettings, KamailioFront

from sip.siptest import free_udp_port

pytestmark = pytest.mark.slow

CALLER, STRANGER, FLOODER, WORKER = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.5"
_ids = itertools.count()


@dataclass
class Reply:
    code: int
    headers: dict[str, str]  # lower-case name -> first value
    raw: str


def parse_reply(data: bytes) -> Reply | None:
    text = data.decode("utf-8", "replace")
    head = text.split("\r\n\r\n")[0].split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or parts[0] != "SIP/2.0" or not parts[1].isdigit():
        return None
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Reply(int(parts[1]), headers, text)


class Peer:
    """A SIP user agent on one loopback address that sends requests to the front."""

    def __init__(self, address: str, front_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.address, self.port = self.sock.getsockname()
        self.front = (CALLER, front_port)

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, *, call_id: str | None = None, cseq: int = 1,
                uri: str | None = None, to_tag: str = "", headers: tuple[str, ...] = ()) -> bytes:
        uri = uri or f"sip:hotline@{self.front[0]}:{self.front[1]}"
        lines = [f"{method} {uri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {self.address}:{self.port};rport;branch=z9hG4bK{next(_ids)}x",
                 f"From: <sip:peer@{self.address}>;tag=f{self.port}",
                 f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""),
                 f"Call-ID: {call_id or f'c{next(_ids)}@{self.address}'}",
                 f"CSeq: {cseq} {method}", f"Contact: <sip:peer@{self.address}:{self.port}>",
                 "Max-Forwards: 70", *headers, "Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.front)

    def ask(self, data: bytes, timeout_s: float = 3.0) -> Reply | None:
        """Send `data` (again every 0.5 s, as UDP would) until a final reply to its Call-ID (to
        anything, if it has none) comes; None if none comes in `timeout_s`."""
        call_id = next((ln for ln in data.decode("utf-8", "replace").split("\r\n")
                        if ln.startswith("Call-ID:")), "")
        self.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while self.sock.recv(65535):  # stale replies to an earlier request
                pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.send(data)
            resend = min(deadline, time.monotonic() + 0.5)
            while (left := resend - time.monotonic()) > 0:
                self.sock.settimeout(left)
                try:
                    reply = parse_reply(self.sock.recv(65535))
                except socket.timeout:
                    break
                if reply and reply.code >= 200 and call_id in reply.raw:
                    return reply
        return None

    def authenticated(self, method: str, user: str, password: str) -> Reply | None:
        """The request, then (on 401/407) again with digest credentials for the challenge."""
        call_id = f"auth{next(_ids)}@{self.address}"
        first = self.ask(self.request(method, call_id=call_id))
        if first is None or first.code not in (401, 407):
            return first
        name = "www-authenticate" if first.code == 401 else "proxy-authenticate"
        challenge = dict(part.strip().split("=", 1) for part in
                         first.headers[name].removeprefix("Digest ").split(","))
        realm, nonce = challenge["realm"].strip('"'), challenge["nonce"].strip('"')
        uri = f"sip:hotline@{self.front[0]}:{self.front[1]}"
        cnonce = "0a4f113b"
        response = md5(f"{md5(f'{user}:{realm}:{password}')}:{nonce}:00000001:{cnonce}:auth:"
                       f"{md5(f'{method}:{uri}')}")
        credentials = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
                       f'response="{response}", qop=auth, nc=00000001, cnonce="{cnonce}", '
                       'algorithm=MD5')
        header = "Authorization" if first.code == 401 else "Proxy-Authorization"
        return self.ask(self.request(method, call_id=call_id, cseq=2,
                                     headers=(f"{header}: {credentials}",)))


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class FakeWorker:
    """Stands in for the SIP workers: 200 to every request but ACK; keeps each INVITE's text."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((WORKER, 0))
        self.port = self.sock.getsockname()[1]
        self.invites: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                data, source = self.sock.recvfrom(65535)
            except OSError:
                return  # closed
            text = data.decode("utf-8", "replace")
            head = text.split("\r\n\r\n")[0].split("\r\n")
            method = head[0].split(" ")[0]
            if method == "ACK" or method.startswith("SIP/"):
                continue
            if method == "INVITE":
                self.invites.append(text)
            keep = [ln for ln in head[1:] if ln.split(":")[0].lower() in
                    ("via", "from", "call-id", "cseq", "record-route")]
            to = next(ln for ln in head if ln.lower().startswith("to:"))
            reply = ["SIP/2.0 200 OK", *keep, to if ";tag=" in to else to + ";tag=worker",
                     f"Contact: <sip:w@{WORKER}:{self.port}>", "Content-Length: 0", "", ""]
            self.sock.sendto("\r\n".join(reply).encode(), source)

    def calls(self, call_id: str) -> list[str]:
        return [text for text in self.invites if f"Call-ID: {call_id}\r\n" in text]

    def __enter__(self) -> "FakeWorker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self._thread.join(timeout=2)


@contextlib.contextmanager
def front(tmp: Path, worker: FakeWorker, **overrides) -> Iterator[KamailioFront]:
    settings = FrontSettings(CALLER, free_udp_port(), ((WORKER, worker.port),),
                             overrides.pop("allow", (f"{CALLER}/32",)), **overrides)
    with KamailioFront(settings, tmp / "front") as running:
        yield running


@contextlib.contextmanager
def peer(address: str, running: KamailioFront) -> Iterator[Peer]:
    p = Peer(address, running.settings.listen_port)
    try:
        yield p
    finally:
        p.close()


@dataclass
class FloodResult:
    rate: int
    sent: int
    forwarded: int      # flood INVITEs that reached the worker
    answered: int       # flood requests that got any reply
    call_ok: bool       # the normal call placed mid-flood got its 200 from the worker
    call_s: float       # and how long that took

    def __str__(self) -> str:
        dropped = self.sent - self.forwarded
        call = f"through in {1000 * self.call_s:.0f} ms" if self.call_ok else "LOST"
        return (f"{self.rate:5d}/s: sent {self.sent}, forwarded {self.forwarded}, dropped "
                f"{dropped} ({100 * dropped / self.sent:.1f}%), answered {self.answered}; "
                f"normal call {call}")


def flood(running: KamailioFront, worker: FakeWorker, rate: int, seconds: float,
          method: str = "INVITE", source: str = FLOODER) -> FloodResult:
    """`rate` requests a second from `source` for `seconds`; halfway, one normal INVITE from
    CALLER. Counts what the flooder got back and what reached the worker."""
    answered: set[str] = set()
    sending = threading.Event()
    sending.set()
    with peer(source, running) as flooder, peer(CALLER, running) as caller:
        def collect() -> None:  # until the flood is over and the replies have stopped
            flooder.sock.settimeout(0.3)
            while True:
                try:
                    reply = parse_reply(flooder.sock.recv(65535))
                except socket.timeout:
                    if sending.is_set():
                        continue
                    return
                if reply:
                    answered.add(reply.headers.get("call-id", ""))

        def normal_call() -> None:
            time.sleep(seconds / 2)
            started = time.monotonic()
            reply = caller.ask(caller.request("INVITE", call_id="normal@caller"), timeout_s=5)
            call.update(ok=reply is not None and reply.code == 200, s=time.monotonic() - started)

        call: dict = {}
        threads = [threading.Thread(target=collect), threading.Thread(target=normal_call)]
        for thread in threads:
            thread.start()
        sent, start = 0, time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            while sent < rate * elapsed:
                flooder.send(flooder.request(method, call_id=f"flood{sent}@{source}"))
                sent += 1
            time.sleep(0.002)
        sending.clear()
        for thread in threads:
            thread.join()
    forwarded = sum(1 for text in worker.invites if "Call-ID: flood" in text and source in text)
    return FloodResult(rate, sent, forwarded, len(answered), call.get("ok", False),
                       call.get("s", 0.0))


def test_an_invite_flood_is_cut_off_while_a_normal_call_still_gets_through(tmp_path: Path):
    with FakeWorker() as worker, front(tmp_path, worker,
                                       allow=(f"{CALLER}/32", f"{FLOODER}/32")) as running:
        result = flood(running, worker, rate=500, seconds=3)
        print(result)
        assert result.sent >= 1400
        assert result.call_ok, f"normal call lost:\n{running.log_path.read_text()[-2000:]}"
        assert worker.calls("normal@caller")
        # pike needs up to 3 x 32 requests to single out a new address; then nothing passes
        assert result.forwarded <= 3 * 32 + 16, result
        assert result.answered <= 3 * 32 + 16, result
        with peer(FLOODER, running) as flooder, peer(CALLER, running) as caller:
            assert flooder.ask(flooder.request("OPTIONS"), timeout_s=1) is None, "ban lifted"
            assert caller.ask(caller.request("OPTIONS")).code == 200
    floods = [line for line in running.log_path.read_text().splitlines() if "flood:" in line]
    assert any(f"more than 32 requests in 2 s from {FLOODER}" in line for line in floods)
    assert not any(CALLER in line for line in floods)


def test_an_options_flood_is_cut_off_but_the_workers_address_never_is(tmp_path: Path):
    with FakeWorker() as worker, front(tmp_path, worker, pike_requests=16) as running:
        stranger = flood(running, worker, rate=300, seconds=1, method="OPTIONS", source=STRANGER)
        trusted = flood(running, worker, rate=300, seconds=1, method="OPTIONS", source=WORKER)
    assert stranger.answered <= 3 * 16 + 8, stranger  # health checks are answered, floods not
    assert trusted.answered >= trusted.sent - 3, trusted
    assert stranger.call_ok and trusted.call_ok


def test_strangers_get_403_for_everything_but_the_health_check(tmp_path: Path):
    with FakeWorker() as worker, front(tmp_path, worker) as running:
        with peer(STRANGER, running) as stranger, peer(CALLER, running) as caller:
            for method in ("INVITE", "REGISTER", "SUBSCRIBE", "MESSAGE", "INFO", "CANCEL", "BYE"):
                to_tag = "x" if method == "BYE" else ""
                reply = stranger.ask(stranger.request(method, to_tag=to_tag))
                assert reply and reply.code == 403, (method, reply)
            front_uri = f"sip:{CALLER}:{running.settings.listen_port}"
            assert stranger.ask(stranger.request("OPTIONS", uri=front_uri)).code == 200
            assert stranger.ask(stranger.request("ACK", to_tag="x"), timeout_s=1) is None
            # trunk authentication is off: REGISTER is refused as before, INVITEs go through
            assert caller.ask(caller.request("REGISTER")).code == 405
            assert caller.ask(caller.request("INVITE", call_id="plain@caller")).code == 200
        assert worker.calls("plain@caller")
        assert all(STRANGER not in text for text in worker.invites)
    assert f"rejected SUBSCRIBE from {STRANGER}" in running.log_path.read_text()


# RFC 4475-style torture messages: (name, raw bytes or a `torture` spec, the reply expected:
# the sanity module's code, or None where kamailio's parser drops the message unanswered)
TORTURE = [
    ("garbage", b"\x00\xffnot SIP at all\r\n\r\n", None),
    ("r-uri scheme", "OPTIONS foo:bar SIP/2.0", 400),
    ("sip version", "OPTIONS sip:{host}:{port} SIP/3.0", None),
    ("cseq method", "OPTIONS sip:{host}:{port} SIP/2.0|CSeq: 1 INVITE", 400),
    ("cseq value", "OPTIONS sip:{host}:{port} SIP/2.0|CSeq: 1x OPTIONS", 400),
    ("no call-id", "OPTIONS sip:{host}:{port} SIP/2.0|-Call-ID", None),
    ("no via", "OPTIONS sip:{host}:{port} SIP/2.0|-Via", None),
    ("content-length", "OPTIONS sip:{host}:{port} SIP/2.0|Content-Length: 900", 400),
    ("expires", "OPTIONS sip:{host}:{port} SIP/2.0|Expires: soon", 400),
    ("from uri", "OPTIONS sip:{host}:{port} SIP/2.0|From: <sip:@@@;tag=1", 400),
    ("ack cseq", "ACK sip:{host}:{port} SIP/2.0|CSeq: 1 INVITE", None),
    ("huge header", "OPTIONS sip:{host}:{port} SIP/2.0|X-Huge: " + "a" * 60000, 200),
]


def test_malformed_requests_get_the_sanity_reply_and_do_not_hurt_the_front(tmp_path: Path):
    with FakeWorker() as worker, front(tmp_path, worker) as running:
        with peer(CALLER, running) as caller:
            for name, spec, expected in TORTURE:
                data = spec if isinstance(spec, bytes) else torture(caller, spec, running)
                reply = caller.ask(data, timeout_s=1)
                assert (reply.code if reply else None) == expected, f"{name}: {reply}"
            assert running.process.poll() is None
            assert caller.ask(caller.request("OPTIONS")).code == 200
    log = running.log_path.read_text()
    assert f"malformed OPTIONS from {CALLER}" in log and f"malformed ACK from {CALLER}" in log


def torture(caller: Peer, spec: str, running: KamailioFront) -> bytes:
    """A normal OPTIONS from `caller` changed by `spec`: 'REQUEST-LINE|Header: value' replaces
    that header, '|-Header' removes it."""
    first, _, change = spec.format(host=CALLER, port=running.settings.listen_port).partition("|")
    lines = caller.request("OPTIONS").decode().split("\r\n")
    lines[0] = first
    if change.startswith("-"):
        lines = [ln for ln in lines if not ln.startswith(change[1:] + ":")]
    elif change:
        name = change.split(":")[0]
        lines = [change if ln.startswith(name + ":") else ln for ln in lines]
        if not any(ln == change for ln in lines):
            lines.insert(1, change)
    return "\r\n".join(lines).encode()


def test_trunks_authenticate_register_and_invite(tmp_path: Path):
    users = (("pbx1", "correct horse"), ("pbx2", "battery staple"))
    with FakeWorker() as worker, front(tmp_path, worker, trunk_users=users) as running:
        with peer(CALLER, running) as caller, peer(STRANGER, running) as stranger:
            challenge = caller.ask(caller.request("REGISTER"))
            assert challenge.code == 401
            assert 'realm="ivr-hotline"' in challenge.headers["www-authenticate"]
            assert caller.authenticated("REGISTER", "pbx1", "wrong").code == 401
            assert caller.authenticated("REGISTER", "nobody", "correct horse").code == 401
            registered = caller.authenticated("REGISTER", "pbx1", "correct horse")
            assert registered.code == 200 and "expires=" in registered.headers["contact"]
            assert caller.ask(caller.request("INVITE")).code == 407
            assert caller.authenticated("INVITE", "pbx2", "wrong").code == 407
            assert caller.authenticated("INVITE", "pbx2", "battery staple").code == 200
            reply = stranger.authenticated("INVITE", "pbx2", "battery staple")
            assert reply.code == 403
        assert len(worker.invites) == 1
        assert "Proxy-Authorization" not in worker.invites[0]  # credentials stay at the edge
    run_dir = tmp_path / "front"
    assert stat.S_IMODE(os.stat(run_dir / "trunks.cfg").st_mode) == 0o600
    for path in run_dir.iterdir():
        text = path.read_text(errors="replace")
        assert "correct horse" not in text and "battery staple" not in text, path
    log = running.log_path.read_text()
    assert "trunk user 'nobody' unknown" in log and f"rejected INVITE from {STRANGER}" in log


def measure(rates: tuple[int, ...] = (200, 500, 1000), seconds: float = 10) -> None:
    """Print what the front does with an INVITE flood from one allowed source at each rate."""
    import tempfile

    for rate in rates:
        with tempfile.TemporaryDirectory() as tmp, FakeWorker() as worker, \
                front(Path(tmp), worker, allow=(f"{CALLER}/32", f"{FLOODER}/32")) as running:
            print(flood(running, worker, rate, seconds), flush=True)


if __name__ == "__main__":
    measure()
