"""What a SIP port on the internet meets, against one real worker, in one run: SIPVicious scans,
half-open INVITEs, CANCEL races, floods, malformed messages, dialogs that do not exist, a caller
whose RTP stops, hold/unhold with a codec change, RTP from another port than the SDP says.

After each attack the same worker process must still be running, every call slot must be free
within the deadlines set below, and four callers at once must be answered with speech."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from ivr.audio.g711 import alaw_encode
from ivr.qa.synth import synth_caller
from ivr.sip.watchdog import MediaDeadlines

from sip.media_files import write_ulaw
from sip.raw import TORTURE, RawPeer, sdp_offer, status_codes
from sip.siptest import (free_udp_port, new_records, read_stereo_wav, records, run_sipp,
                         verbatim_plan, voiced_seconds, worker)

pytestmark = pytest.mark.slow

DEADLINES = MediaDeadlines(setup_timeout_s=4.0, rtp_timeout_s=4.0, hold_timeout_s=60.0)
SLOT_FREE_S = DEADLINES.setup_timeout_s + 1.0   # the longest a half-open dialog may hold a slot
QUESTION = "How much does roaming cost?"


@pytest.fixture(scope="module")
def bot(tmp_path_factory, sip_models):
    tmp = tmp_path_factory.mktemp("attacked")
    with worker(tmp, verbatim_plan(tmp), sip_models.base_url, deadlines=DEADLINES) as handle:
        handle.first_pid = handle.process.pid
        yield handle


def slots_in_use(bot) -> int:
    """pjsua's call slots in use, as the worker last logged them."""
    found = re.findall(r"slots in use: (\d+)/", bot.log())
    return int(found[-1]) if found else 0


def wait_until_idle(bot, since: float | None = None, timeout_s: float = SLOT_FREE_S) -> float:
    """Seconds from `since` (default: now) until every call slot is free again; fails when
    that takes more than `timeout_s`."""
    since = time.monotonic() if since is None else since
    while (in_use := slots_in_use(bot)) > 0:
        assert bot.process.poll() is None, f"worker died:\n{bot.log()[-3000:]}"
        assert time.monotonic() - since < timeout_s, \
            f"{in_use} slot(s) still held after {timeout_s} s:\n{bot.log()[-3000:]}"
        time.sleep(0.1)
    return time.monotonic() - since


def assert_serves_four_callers(bot, tmp: Path) -> None:
    """The same worker process, idle, then answers four callers at once with the greeting."""
    assert bot.process.poll() is None and bot.process.pid == bot.first_pid, bot.log()[-3000:]
    wait_until_idle(bot)
    folder = tmp / "normal-callers"
    folder.mkdir()
    write_ulaw(folder / "caller.ulaw", bytes(8000 * 2 * 4))   # a caller who listens
    before = records(bot.recordings)
    result = run_sipp("uac_rtp_stream.xml", bot.port, folder, calls=4, hold_ms=4000)
    assert result.returncode == 0, result
    try:
        calls = new_records(bot.recordings, before, count=4)
    except AssertionError as exc:   # the worker's log says what it was doing (stacks if stuck)
        raise AssertionError(f"{exc}\nworker log:\n{bot.log()[-8000:]}") from None
    for call in calls:
        assert "rtp.first_frame" in call.kinds()
        assert call.one("call.end")["reason"] == "caller_hangup"
        assert voiced_seconds(read_stereo_wav(call.wav)[1]) > 1.5, call.kinds()
    assert "Traceback" not in bot.log()


def caller_audio(voice, question_at_s: float, lasting_s: float) -> bytes:
    """The question at `question_at_s`, then silence: a phone sends RTP until it hangs up."""
    pcm = synth_caller(voice, [(question_at_s, QUESTION)])
    return pcm + bytes(max(0, int(8000 * lasting_s) * 2 - len(pcm)))


def run_tool(*command: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)


def test_invite_scan_from_a_stranger_is_refused_and_the_worker_lives(bot, tmp_path):
    result = run_tool("svmap", "-b", "127.0.0.2", "-m", "INVITE", "-p", str(bot.port), "127.0.0.1")
    assert result.returncode == 0, result.stderr
    assert "rejected INVITE from 127.0.0.2" in bot.log()
    assert_serves_four_callers(bot, tmp_path)


def test_extension_scan_with_half_open_invites_gives_every_slot_back(bot, tmp_path):
    before, started = records(bot.recordings), time.monotonic()
    result = run_tool("svwar", "-e100-130", "-m", "INVITE", "-p", str(bot.port), "127.0.0.1")
    assert result.returncode == 0, result.stderr
    wait_until_idle(bot, since=started, timeout_s=SLOT_FREE_S + 4)  # svwar takes ~4 s
    held = new_records(bot.recordings, before, count=4)
    for call in held:   # svwar's ACK carries no SDP answer to our offer: no media, ever
        assert call.one("call.end")["reason"] == "no_media", call.kinds()
        assert call.one("sip.timeout")["t"] < DEADLINES.setup_timeout_s
    assert_serves_four_callers(bot, tmp_path)


@pytest.mark.parametrize("with_sdp", [True, False], ids=["offer", "no-sdp"])
def test_invite_never_acked_ends_after_the_setup_timeout(bot, tmp_path, with_sdp):
    before = records(bot.recordings)
    with RawPeer(bot.port) as peer:
        sent = time.monotonic()
        peer.request("INVITE", body=sdp_offer(peer.source, free_udp_port()) if with_sdp else "")
        codes = status_codes(peer.responses(1.0))
        assert codes.count(200) >= 2, codes   # the 200 OK is retransmitted while no ACK comes
        wait_until_idle(bot, since=sent)
    call, = new_records(bot.recordings, before)
    assert call.one("call.end")["reason"] == "no_ack"
    assert "sip.answered" not in call.kinds()
    assert_serves_four_callers(bot, tmp_path)


def test_cancel_racing_its_invite_leaves_no_call_behind(bot, tmp_path):
    before = records(bot.recordings)
    for _ in range(8):
        with RawPeer(bot.port) as peer:
            branch = f"z9hG4bKrace{peer.port}"
            call_id = peer.request("INVITE", body=sdp_offer(peer.source, free_udp_port()),
                                   branch=branch)
            peer.request("CANCEL", call_id=call_id, branch=branch)
            assert status_codes(peer.responses(0.3)), "no answer to INVITE + CANCEL"
    wait_until_idle(bot)
    # Answered at once, most INVITEs are calls before their CANCEL arrives (200 to the CANCEL,
    # no ACK ever); when four of them hold the slots, the rest get 486 Busy Here.
    calls = new_records(bot.recordings, before, count=len(records(bot.recordings) - before))
    assert calls and {c.one("call.end")["reason"] for c in calls} <= {"caller_cancelled", "no_ack"}
    assert_serves_four_callers(bot, tmp_path)


def test_requests_for_dialogs_that_do_not_exist_get_481(bot, tmp_path):
    with RawPeer(bot.port) as peer:
        peer.request("BYE", to_tag="gone", cseq=2)
        peer.request("INFO", to_tag="gone", cseq=3)
        peer.request("ACK", to_tag="gone")
        codes = status_codes(peer.responses(1.0))
    assert codes.count(481) == 2, codes   # BYE and INFO; an ACK is never answered
    assert_serves_four_callers(bot, tmp_path)


def test_malformed_messages_are_dropped_or_refused_and_the_worker_lives(bot, tmp_path):
    with RawPeer(bot.port) as peer:
        for message in TORTURE:
            peer.send_raw(message)
        peer.responses(1.0)
        peer.request("OPTIONS")
        assert 200 in status_codes(peer.responses(1.0)), "no 200 to OPTIONS after the torture"
    assert_serves_four_callers(bot, tmp_path)


def test_options_and_register_flood_does_not_take_the_worker_down(bot, tmp_path):
    sources = ["127.0.0.1", "127.0.0.3"]
    peers = [RawPeer(bot.port, source) for source in sources]
    try:
        started = time.monotonic()
        for i in range(1500):
            for peer in peers:
                peer.request("OPTIONS" if i % 2 else "REGISTER", cseq=i + 1)
        rate = 1500 * len(peers) / (time.monotonic() - started)
        answered = sum(len(status_codes(p.responses(2.0))) for p in peers)
    finally:
        for peer in peers:
            peer.close()
    assert rate > 1000, f"the flood was only {rate:.0f} requests/s"
    assert answered > 0, "the worker answered nothing during the flood"
    assert_serves_four_callers(bot, tmp_path)


def test_caller_whose_rtp_stops_is_hung_up_after_the_rtp_timeout(bot, sip_voice, tmp_path):
    write_ulaw(tmp_path / "caller.ulaw", synth_caller(sip_voice, [(0.5, "Hello?")]))
    before = records(bot.recordings)
    result = run_sipp("uac_rtp_stops.xml", bot.port, tmp_path, timeout_s=60)
    assert result.returncode == 0, result   # it received the hotline's BYE
    call, = new_records(bot.recordings, before)
    assert call.one("call.end")["reason"] == "rtp_timeout"
    assert call.one("sip.disconnected")["by"] == "bot"
    stopped_at = call.one("sip.media")["t"] + 0.5 + 2.0   # the file lasts about 2.5 s
    assert DEADLINES.rtp_timeout_s - 1 < call.one("sip.timeout")["t"] - stopped_at < \
        DEADLINES.rtp_timeout_s + 3
    assert_serves_four_callers(bot, tmp_path)


def test_hold_longer_than_the_rtp_timeout_then_unhold_with_another_codec(bot, sip_voice, tmp_path):
    question = caller_audio(sip_voice, 1.0, lasting_s=13)   # RTP until the hang-up 12 s on
    (tmp_path / "caller.alaw").write_bytes(alaw_encode(question))
    before = records(bot.recordings)
    hold_ms = int((DEADLINES.rtp_timeout_s + 3) * 1000)
    result = run_sipp("uac_hold_codec_change.xml", bot.port, tmp_path, hold_ms=hold_ms)
    assert result.returncode == 0, result
    call, = new_records(bot.recordings, before)
    kinds = call.kinds()
    assert "sip.timeout" not in kinds and call.one("call.end")["reason"] == "caller_hangup"
    held, unheld = call.one("sip.hold"), call.one("sip.unhold")
    assert unheld["t"] - held["t"] > DEADLINES.rtp_timeout_s
    assert held["t"] < call.one("asr.final")["t"] and unheld["t"] < call.one("asr.final")["t"]
    assert "roaming" in call.one("asr.final")["text"].lower()   # heard through PCMA
    assert "European Union" in call.said()
    assert_serves_four_callers(bot, tmp_path)


def test_rtp_from_another_port_than_the_sdp_is_heard(bot, sip_voice, tmp_path):
    write_ulaw(tmp_path / "caller.ulaw", caller_audio(sip_voice, 4.5, lasting_s=14))
    before = records(bot.recordings)
    result = run_sipp("uac_rtp_other_port.xml", bot.port, tmp_path, "-key", "sdp_port",
                      str(free_udp_port()), hold_ms=13000)
    assert result.returncode == 0, result
    call, = new_records(bot.recordings, before)
    assert "roaming" in call.one("asr.final")["text"].lower()
    assert "European Union" in call.said()
    assert_serves_four_callers(bot, tmp_path)
