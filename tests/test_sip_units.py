"""The SIP layer's small parts, without a network: allow-list, REFER details, the streaming
recorder, the Kamailio config, the pjsua2 frame copy, the test pcap writer."""

from __future__ import annotations

import struct
import subprocess
import wave
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pjsua2 as pj
import pytest

from ivr.errors import IvrError
from ivr.sip.allow import AllowList
from ivr.sip.kamailio import (FrontSettings, allow_condition, ha1, read_trunk_users, render,
                              write_config)
from ivr.sip.media import _vector_bytes_slow, vector_bytes
from ivr.sip.recorder import StereoRecorder
from ivr.sip.transfer import TransferStatus, refer_headers, refer_target

from sip.media_files import write_pcap
from sip.siptest import read_stereo_wav


def test_allow_list_matches_addresses_and_networks():
    allow = AllowList(["127.0.0.1/32", "10.1.0.0/16", "2001:db8::/32"])
    assert allow.allows("127.0.0.1:5060") and allow.allows("10.1.200.3:5080")
    assert allow.allows("[2001:db8::5]:5060") and allow.allows("10.1.0.9")
    assert not allow.allows("127.0.0.2:5060") and not allow.allows("10.2.0.1:5060")
    assert not allow.allows("not-an-address:5060")
    with pytest.raises(IvrError, match="10.0.0.300"):
        AllowList(["10.0.0.300/8"])


def test_refer_target_carries_call_id_and_summary_as_escaped_uri_headers():
    summary = "reason=caller_asked; caller said: I want a person & now?\nsecond line"
    target = refer_target("sip:agents@10.0.0.5:5070", "20250101-w1-0001", summary)
    assert target.startswith("<sip:agents@10.0.0.5:5070?X-IVR-Call-Id=20250101-w1-0001&")
    assert target.endswith(">") and " " not in target and "\n" not in target
    query = target[1:-1].split("?", 1)[1]
    fields = dict(part.split("=", 1) for part in query.split("&"))
    assert unquote(fields["X-IVR-Summary"]) == "reason=caller_asked; caller said: I want a " \
                                               "person & now? second line"
    headers = refer_headers("id", "x" * 1000)
    assert len(headers["X-IVR-Summary"]) <= 240 and headers["X-IVR-Call-Id"] == "id"


@pytest.mark.parametrize("code,outcome", [(200, "connected"), (486, "busy"), (600, "busy"),
                                          (480, "no_answer"), (408, "no_answer"),
                                          (603, "rejected"), (403, "rejected"), (500, "error")])
def test_transfer_status_outcomes(code, outcome):
    status = TransferStatus(code)
    assert status.outcome == outcome and status.ok == (code == 200)
    assert TransferStatus(200, timeout=True).outcome == "timeout"


def test_recorder_aligns_ticks_and_keeps_a_valid_header_while_recording(tmp_path: Path):
    path = tmp_path / "call.wav"
    recorder = StereoRecorder(path, header_every_s=0.1)
    caller = [np.full(160, i, "<i2").tobytes() for i in range(1, 11)]
    bot = [np.full(160, -i, "<i2").tobytes() for i in range(1, 11)]
    for c, b in zip(caller, bot):
        recorder.caller(c)
        recorder.bot(b if c != caller[3] else None)  # a tick where the bot sent nothing
    # mid-call (no close): the file on disk is already a valid WAV with what was flushed
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getnframes() >= 5 * 160
    recorder.caller(caller[0])  # one more caller frame without its bot twin
    recorder.close()
    left, right = read_stereo_wav(path)
    assert left.size == 11 * 160
    assert [int(left[i * 160]) for i in range(11)] == list(range(1, 11)) + [1]
    assert [int(right[i * 160]) for i in range(11)] == [-1, -2, -3, 0, -5, -6, -7, -8, -9, -10, 0]


def test_vector_copy_fast_path_is_exact():
    for data in (bytes(range(256)) + bytes(64), b"", b"\x01"):
        vector = pj.ByteVector(data)
        assert vector_bytes(vector) == _vector_bytes_slow(vector) == data
    assert vector_bytes.__name__ == "_vector_bytes_fast"  # libstdc++ layout as expected


def test_kamailio_config_is_rendered_and_accepted_by_kamailio(tmp_path: Path):
    settings = FrontSettings("127.0.0.1", 5999, (("127.0.0.1", 6001), ("127.0.0.1", 6002)),
                             ("127.0.0.1/32", "10.0.0.0/8"))
    config = write_config(settings, tmp_path)
    text = config.read_text()
    assert "{{" not in text and "listen=udp:127.0.0.1:5999" in text
    assert allow_condition(settings.allow) in text
    assert 'is_in_subnet("$si", "10.0.0.0/8")' in text
    assert (tmp_path / "dispatcher.list").read_text().splitlines() == [
        "1 sip:127.0.0.1:6001 0 0 duid=w1", "1 sip:127.0.0.1:6002 0 0 duid=w2"]
    check = subprocess.run(["kamailio", "-c", "-f", str(config), "-Y", str(tmp_path)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr[-2000:]
    bad = tmp_path / "bad.tmpl"
    bad.write_text("listen={{NOPE}}\n")
    with pytest.raises(IvrError, match="NOPE"):
        render(settings, tmp_path, bad)


def test_pcap_writer_makes_one_rtp_stream_with_rfc2833_digits(tmp_path: Path):
    pcm = np.zeros(8000, "<i2").tobytes()  # 1 s
    path = write_pcap(tmp_path / "c.pcap", pcm, [(0.4, "7")], digit_ms=100)
    raw = path.read_bytes()
    assert struct.unpack_from("<I", raw)[0] == 0xA1B2C3D4
    packets, offset = [], 24
    while offset < len(raw):
        _, _, incl, _ = struct.unpack_from("<IIII", raw, offset)
        packets.append(raw[offset + 16 + 42:offset + 16 + incl])  # RTP after eth+ip+udp
        offset += 16 + incl
    seqs = [struct.unpack_from("!H", p, 2)[0] for p in packets]
    assert seqs == list(range(len(packets)))
    events = [p for p in packets if p[1] & 0x7F == 101]
    assert len(events) == 7 and all(p[12] == 7 for p in events)
    assert [bool(p[13] & 0x80) for p in events] == [False] * 4 + [True] * 3
    assert len({struct.unpack_from("!I", p, 4)[0] for p in events}) == 1  # one event timestamp
    audio = [p for p in packets if p[1] & 0x7F == 0]
    assert len(audio) == 50 - 5 and all(len(p) == 12 + 160 for p in audio)


def kamailio_check(config: Path, run_dir: Path) -> None:
    check = subprocess.run(["kamailio", "-c", "-f", str(config), "-Y", str(run_dir)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr[-2000:]


def test_kamailio_config_carries_the_flood_limit_sanity_checks_and_trusted_workers(tmp_path: Path):
    settings = FrontSettings("127.0.0.1", 5999, (("127.0.0.5", 6001), ("127.0.0.5", 6002)),
                             ("10.0.0.0/8",), pike_requests=40, pike_window_s=3, pike_ban_s=90)
    config = write_config(settings, tmp_path)
    text = config.read_text()
    assert 'modparam("pike", "reqs_density_per_unit", 40)' in text
    assert 'modparam("pike", "sampling_time_unit", 3)' in text
    assert "ipban=>size=8;autoexpire=90;" in text
    assert "if (!sanity_check())" in text and "route(SANITY);" in text
    assert 'if (is_in_subnet("$si", "127.0.0.5/32")) {' in text  # the workers, once
    assert "#!define WITH_TRUNK_AUTH" not in text and not (tmp_path / "trunks.cfg").exists()
    kamailio_check(config, tmp_path)


def test_kamailio_config_with_trunk_auth_is_accepted_and_holds_no_password(tmp_path: Path):
    settings = FrontSettings("127.0.0.1", 5999, (("127.0.0.1", 6001),), ("127.0.0.1/32",),
                             trunk_users=(("pbx1", "s3cret:pw"), ("pbx.2", "other")))
    assert "s3cret" not in repr(settings)
    config = write_config(settings, tmp_path)
    assert "#!define WITH_TRUNK_AUTH" in config.read_text()
    trunks = (tmp_path / "trunks.cfg").read_text()
    assert f'$sht(trunks=>pbx1) = "{ha1("pbx1", "s3cret:pw")}";' in trunks
    assert ha1("pbx1", "s3cret:pw") == "04102a1fa2d127f5f1510998e18cb55b"
    assert "s3cret" not in trunks and (tmp_path / "trunks.cfg").stat().st_mode & 0o077 == 0
    kamailio_check(config, tmp_path)
    write_config(FrontSettings("127.0.0.1", 5999, (("127.0.0.1", 6001),), ()), tmp_path)
    assert not (tmp_path / "trunks.cfg").exists()  # auth off again: no stale hashes left


def test_trunk_users_file_is_read_and_bad_lines_are_named(tmp_path: Path):
    path = tmp_path / "trunks.txt"
    path.write_text("# trunk users\npbx1:a:b\n\n  pbx-2:pw  \n")
    assert read_trunk_users(path) == (("pbx1", "a:b"), ("pbx-2", "pw"))
    for text, error in (("pbx1\n", "line 1: write USER:PASSWORD"), ("pbx1:\n", "line 1"),
                        ("a:1\nb c:2\n", "line 2: user 'b c'"), ("a:1\na:2\n", "listed twice"),
                        ("# none\n", "no USER:PASSWORD line")):
        path.write_text(text)
        with pytest.raises(IvrError, match=error):
            read_trunk_users(path)
    with pytest.raises(IvrError, match="cannot read"):
        read_trunk_users(tmp_path / "missing.txt")
