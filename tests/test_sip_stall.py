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


def test_garbage_cycles_are_collected_by_the_loop_thread_only():
    import gc
    import weakref

    from ivr.sip.loop_gc import LoopGarbageCollector

    class Node:
        pass

    alive_before = [Node() for _ in range(50_000)]  # a worker's modules, models, plan index
    garbage = LoopGarbageCollector().start()
    try:
        assert not gc.isenabled()
        # what was alive at the start is frozen: a full collection no longer walks it
        assert gc.get_freeze_count() >= len(alive_before)
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        kept = [Node() for _ in range(5000)]  # allocations past the first threshold
        assert gc.get_count()[0] >= garbage.thresholds[0] and gone() is not None
        garbage.collect()
        del kept
        assert gone() is None and sum(garbage.collections) == 1
    finally:
        garbage.stop()
    assert gc.isenabled() and gc.get_freeze_count() == 0
