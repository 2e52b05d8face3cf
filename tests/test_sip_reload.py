"""Hot reload on a running SIP worker: an edit reaches the next call, a broken edit does not."""

from __future__ import annotations

import os
import time

import pytest

from ivr.models.remote import remote_engines
from ivr.qa.synth import synth_caller

from sip.media_files import write_ulaw
from sip.siptest import (new_records, records, run_sipp, shared_model_service, verbatim_plan,
                         worker)

pytestmark = pytest.mark.slow


def touch_edit(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_edit_reaches_the_next_call_and_a_broken_edit_is_ignored(tmp_path):
    models = shared_model_service()
    voice = remote_engines(models.base_url, ["en"], None).voice("en")
    write_ulaw(tmp_path / "caller.ulaw", synth_caller(voice, [(4.5, "How much does roaming cost?")]))
    plan = verbatim_plan(tmp_path)
    with worker(tmp_path, plan, models.base_url) as bot:
        def one_call():
            before = records(bot.recordings)
            result = run_sipp("uac_rtp_stream.xml", bot.port, tmp_path, hold_ms=13000)
            assert result.returncode == 0, result
            call, = new_records(bot.recordings, before)
            return call

        first = one_call()
        touch_edit(plan, "included in every plan", "included in the Gold plan only")
        time.sleep(2.5)
        second = one_call()
        touch_edit(plan, "next: questions", "next: nowhere")  # broken: unknown node
        time.sleep(2.5)
        third = one_call()
        log = bot.log()

    sha = [c.one("call.start")["dialplan_sha256"] for c in (first, second, third)]
    assert sha[0] != sha[1] and sha[1] == sha[2]
    assert "every plan" in first.said() and "Gold plan only" in second.said()
    assert "Gold plan only" in third.said()
    assert "unknown node 'nowhere'" in log and "keeping the running plan" in log
