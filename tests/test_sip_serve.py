"""`ivr serve` as an operator runs it: Kamailio in front of three SIP workers, twelve callers at
once, then Ctrl-C. And Kamailio's own duties: 403 for strangers, skipping a dead worker."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ivr.models.remote import remote_engines
from ivr.qa.synth import synth_caller
from ivr.sip.kamailio import FrontSettings, KamailioFront, udp_port_bound

from sip.media_files import write_ulaw
from sip.siptest import (ROOT, free_udp_port, new_records, read_stereo_wav, records, rtp_base,
                         run_sipp, shared_model_service, verbatim_plan, voiced_seconds, worker)

pytestmark = pytest.mark.slow


class Serve:
    """`python -m ivr.cli.serve` (what `ivr serve` runs) with its output collected."""

    def __init__(self, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli.serve", *args], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.output:
            assert self.process.poll() is None, f"serve exited:\n{self.output[-4000:]}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout_s} s:\n{self.output}"
            time.sleep(0.2)

    def interrupt(self, timeout_s: float = 60) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """After a failure: stop it politely, else kill it (its children get SIGTERM then)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def test_twelve_concurrent_calls_through_kamailio_over_three_workers(tmp_path: Path):
    """Twelve callers listen to the greeting at the same time (telephony capacity; the answer
    latency of twelve simultaneous questions on two cores is what `ivr bench sip` measures)."""
    models = shared_model_service()
    voice = remote_engines(models.base_url, ["en"], None).voice("en")
    (tmp_path / "sipp").mkdir()
    write_ulaw(tmp_path / "sipp" / "caller.ulaw", synth_caller(voice, [(9.0, "Thank you.")]))
    port, recordings = free_udp_port(), tmp_path / "recordings"
    worker_ports = [port + 1 + i for i in range(3)]
    serve = Serve("--workers", "3", "--port", str(port), "--rtp-port", str(rtp_base() + 10000),
                  "--dialplan", str(verbatim_plan(tmp_path)), "--recordings", str(recordings),
                  "--run-dir", str(tmp_path / "run"))
    try:
        serve.wait_for("Ctrl-C stops it.", timeout_s=120)
        assert f"sip:hotline@127.0.0.1:{port}" in serve.output
        time.sleep(2.5)  # one OPTIONS round: every worker answered the probe
        result = run_sipp("uac_rtp_stream.xml", port, tmp_path / "sipp", calls=12,
                          hold_ms=12000, timeout_s=120)
        assert result.returncode == 0, f"{result}\n{serve.output[-3000:]}"
        calls = new_records(recordings, set(), count=12, timeout_s=30)
        per_worker = collections.Counter(c.one("sip.invite")["worker"] for c in calls)
        assert per_worker == {"w1": 4, "w2": 4, "w3": 4}, per_worker
        for call in calls:
            assert call.one("call.end")["reason"] == "caller_hangup", call.kinds()
            assert "rtp.first_frame" in call.kinds()      # the caller heard the greeting
            assert "via 127.0.0.1:%d" % port in call.one("sip.invite")["remote"]  # through Kamailio
            stats = call.one("media.stats")
            assert stats["rx_frames"] >= 0.97 * stats["expected_frames"], stats
            assert stats["tx_underruns"] <= 5, stats        # 100 ms of bot audio at most
            assert stats["rtp_rx_lost"] == 0, stats
            caller, bot = read_stereo_wav(call.wav)
            greeting = [e["text"] for e in call.of("bot.say")]
            assert len(greeting) >= 2 and "barge_in" not in call.kinds(), greeting  # not cut
            assert voiced_seconds(bot[:8000 * 9]) > 1.5 and voiced_seconds(caller) > 0.3
        assert serve.interrupt() == 0, serve.output[-3000:]
    finally:
        serve.kill()
    assert "ivr serve: stopped" in serve.output
    for p in [port, *worker_ports]:
        assert not udp_port_bound(p), f"udp {p} still bound after Ctrl-C"


def test_kamailio_answers_403_to_a_peer_not_allowed(tmp_path: Path):
    port = free_udp_port()
    settings = FrontSettings("127.0.0.1", port, (("127.0.0.1", free_udp_port()),),
                             ("10.99.0.0/16",))
    with KamailioFront(settings, tmp_path / "front") as front:
        result = run_sipp("uac_forbidden.xml", port, tmp_path / "sipp")
        assert result.returncode == 0, result
    log = front.log_path.read_text()
    assert "rejected INVITE from 127.0.0.1" in log and "-> 403" in log


def test_kamailio_skips_a_dead_worker_found_by_options_probing(tmp_path: Path):
    models = shared_model_service()
    dead = free_udp_port()  # nothing listens there
    with worker(tmp_path, verbatim_plan(tmp_path), models.base_url) as bot:
        port = free_udp_port()
        settings = FrontSettings("127.0.0.1", port, (("127.0.0.1", dead), ("127.0.0.1", bot.port)),
                                 ("127.0.0.1/32",), ping_interval_s=1)
        with KamailioFront(settings, tmp_path / "front") as front:
            time.sleep(3)  # probes: the dead worker is marked inactive
            (tmp_path / "sipp").mkdir()
            write_ulaw(tmp_path / "sipp" / "caller.ulaw", bytes(16000))  # 1 s of silence
            before = records(bot.recordings)
            result = run_sipp("uac_rtp_stream.xml", port, tmp_path / "sipp", calls=2,
                              hold_ms=1500, timeout_s=60)
            assert result.returncode == 0, f"{result}\n{front.log_path.read_text()[-2000:]}"
            assert len(new_records(bot.recordings, before, count=2)) == 2
