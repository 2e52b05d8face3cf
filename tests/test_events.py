"""The call record: written line by line as the call goes, and a full disk never ends a call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ivr.events import EventLog, ManualClock
from ivr.record import read_events


def test_each_event_is_on_disk_as_soon_as_it_is_emitted(tmp_path: Path):
    path = tmp_path / "call.jsonl"
    clock = ManualClock()
    log = EventLog(clock, path)
    log.emit("call.start", call_id="x")
    clock.advance(1.5)
    log.emit("asr.final", text="hello")
    assert [(e.kind, e.t) for e in read_events(path)] == [("call.start", 0.0), ("asr.final", 1.5)]
    log.close()


def test_a_crash_keeps_everything_up_to_it(tmp_path: Path):
    path = tmp_path / "call.jsonl"
    synced = tmp_path / "synced.txt"
    # os.fsync is wrapped to note how much of the record was on disk at each call: a crash
    # cannot show the difference between flushed and synced, so the test checks the syncs
    code = ("from pathlib import Path; import os\n"
            "from ivr.events import EventLog, ManualClock\n"
            "real = os.fsync\n"
            f"def fsync(fd):\n    real(fd)\n    open({str(synced)!r}, 'a').write("
            f"str(os.path.getsize({str(path)!r})) + chr(10))\n"
            "os.fsync = fsync\n"
            f"log = EventLog(ManualClock(), Path({str(path)!r}))\n"
            "log.emit('call.start'); log.emit('asr.final', text='my bill')\n"
            "os._exit(9)  # dies without closing anything\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert result.returncode == 9, result.stderr
    lines = path.read_text().splitlines()
    assert [e.kind for e in read_events(path)] == ["call.start", "asr.final"]
    sizes = [int(n) for n in synced.read_text().split()]
    assert sizes == [len(lines[0]) + 1, path.stat().st_size]  # synced after each event


def test_a_full_disk_is_logged_and_the_call_goes_on(caplog):
    log = EventLog(ManualClock(), Path("/dev/full"))  # every write fails with ENOSPC
    log.emit("call.start")
    log.emit("asr.final", text="still here")
    assert log.write_error is not None and "No space left" in log.write_error
    assert [e.kind for e in log.events] == ["call.start", "asr.final"]
    assert "the call goes on" in caplog.text
    log.close()
