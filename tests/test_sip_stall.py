"""The worker's loop-stall guard: stacks in the log after a short stall, exit after a long one."""

from __future__ import annotations

import logging
import threading
import time

from ivr.sip.stall import STALLED_EXIT_CODE, LoopStallGuard


def test_a_stalled_loop_gets_its_stacks_logged_then_the_process_ends(caplog, capfd):
    exited = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        exited.set()

    guard = LoopStallGuard("w9", dump_after_s=0.3, exit_after_s=1.2, exit=fake_exit)
    with caplog.at_level(logging.ERROR, logger="ivr.sip"):
        guard.start()
        assert exited.wait(5), "the guard never ended the stalled process"
    guard.stop()
    assert codes == [STALLED_EXIT_CODE]
    assert "event loop stalled" in caplog.text
    assert "test_a_stalled_loop_gets_its_stacks_logged" in capfd.readouterr().err  # this stack


def test_a_loop_that_keeps_beating_is_left_alone(caplog):
    codes: list[int] = []
    guard = LoopStallGuard("w9", dump_after_s=0.3, exit_after_s=0.6, exit=codes.append).start()
    with caplog.at_level(logging.ERROR, logger="ivr.sip"):
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            guard.beat()
            time.sleep(0.05)
    guard.stop()
    assert codes == [] and "stalled" not in caplog.text
