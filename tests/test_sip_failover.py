"""A full worker does not make a caller hear busy: Kamailio tries the next worker on 486."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ivr.sip.kamailio import FrontSettings, KamailioFront
from ivr.sip.watchdog import MediaDeadlines

from sip.media_files import write_ulaw
from sip.raw import RawPeer, sdp_offer, status_codes
from sip.siptest import (free_udp_port, new_records, records, run_sipp, shared_model_service,
                         verbatim_plan, worker)

pytestmark = pytest.mark.slow


def test_calls_skip_a_worker_whose_slots_are_held_by_half_open_invites(tmp_path: Path):
    models = shared_model_service()
    plan = verbatim_plan(tmp_path)
    holding = MediaDeadlines(setup_timeout_s=40)   # the half-open INVITEs hold w1 for 20 s
    with worker(tmp_path, plan, models.base_url, name="w1", deadlines=holding) as full, \
            worker(tmp_path, plan, models.base_url, name="w2") as free:
        port = free_udp_port()
        settings = FrontSettings("127.0.0.1", port, (("127.0.0.1", full.port),
                                                     ("127.0.0.1", free.port)),
                                 ("127.0.0.1/32",), ping_interval_s=1)
        with KamailioFront(settings, tmp_path / "front") as front:
            time.sleep(2.5)  # one OPTIONS round: both workers active
            peers = [RawPeer(full.port) for _ in range(4)]
            for peer in peers:
                peer.request("INVITE", body=sdp_offer(peer.source, free_udp_port()))
            assert all(200 in status_codes(p.responses(0.3)) for p in peers)
            with RawPeer(full.port) as fifth:
                fifth.request("INVITE", body=sdp_offer(fifth.source, free_udp_port()))
                assert 486 in status_codes(fifth.responses(0.5)), "w1 is not full"
            (tmp_path / "sipp").mkdir()
            write_ulaw(tmp_path / "sipp" / "caller.ulaw", bytes(16000 * 2))
            before = records(free.recordings)
            result = run_sipp("uac_rtp_stream.xml", port, tmp_path / "sipp", calls=4,
                              hold_ms=2000, timeout_s=60)
            for peer in peers:
                peer.close()
            log = front.log_path.read_text()
            assert result.returncode == 0, f"{result}\n{log[-2000:]}"
    calls = new_records(free.recordings, before, count=4)
    assert all("rtp.first_frame" in call.kinds() for call in calls)
    assert "worker busy or down (486)" in log
