"""The turn model in a child process of its own, so its 100-300 ms of numpy and ONNX work never
holds a SIP worker's GIL (PLATFORM.md: CPU-busy Python threads in the worker starve pjmedia's
clock thread; model work runs in other processes). One child per process that judges turns;
pauses of concurrent calls queue for it."""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

_model = None  # the child's SmartTurn


def _load() -> None:
    global _model
    from ivr.audio.turn_model import SmartTurn

    _exit_with(os.getppid())
    _model = SmartTurn()


def _exit_with(parent: int) -> None:
    """End this child when `parent` is gone: a SIP worker killed outright (a crash, SIGKILL)
    runs no exit hook, and its model child would wait for work forever, one more per restart."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _probability(pcm: bytes, rate: int) -> float:
    return _model.probability(pcm, rate)  # type: ignore[union-attr]


class TurnModelProcess:
    """A TurnModel whose Smart Turn runs in one spawned child; a crashed child is replaced on
    the next call (that call raises, and the judge falls back to the silence bound)."""

    name = "smart-turn-v3.2"

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._pool = self._start()
        # A process exiting joins its children before the interpreter's own exit hooks run, so
        # the child is stopped first (else a replay or SIP worker process never exits), and
        # before the pool's queues close themselves at exit (their finalizers have priority 10)
        multiprocessing.util.Finalize(None, self._stop, exitpriority=100)
        # start the child and load the model now, without waiting (a SIP worker builds this on
        # its event loop); a model that does not load makes the first judgement fail and log
        self._pool.submit(_probability, bytes(3200), 8000)

    @staticmethod
    def _start() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(1, multiprocessing.get_context("spawn"), initializer=_load)

    def probability(self, pcm: bytes, rate: int) -> float:
        """P(complete), computed in the child (blocks the calling thread, not the GIL)."""
        try:
            return self._pool.submit(_probability, pcm, rate).result(self.timeout_s)
        except BrokenProcessPool:
            self._pool = self._start()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
