"""Python's cyclic garbage collector, run by the worker's loop thread only.

Left automatic, the collector runs on whichever thread happens to allocate when a threshold is
crossed: pjmedia's clock thread in the middle of a frame callback (which holds the conference
lock), or a model-call executor thread. If it then frees a pjsua2 object that was kept alive by
a reference cycle, that object's C++ destructor takes pjsua's locks on a thread that already
holds one, against the loop thread taking them in the other order: a deadlock that wedges the
worker with its calls. So the worker switches automatic collection off and calls `collect`
every poll; it collects with the same generation thresholds as automatic collection would.

A full collection holds the GIL while it walks every tracked object, and pjmedia's clock thread
needs the GIL for each call's frame: a SIP worker holds ~330 000 objects once its modules,
engines and plan index are loaded, so each full collection stalled the clock 100-270 ms (the
callers heard a gap). `start` therefore freezes what is alive when the worker starts serving:
those objects live as long as the worker and are never walked again (`gc.freeze`), so a full
collection walks only what calls created since.
"""

from __future__ import annotations

import gc


class LoopGarbageCollector:
    """`start` turns automatic collection off (until `stop`); `collect` does its work."""

    def __init__(self) -> None:
        self.thresholds = gc.get_threshold()
        self.collections = [0, 0, 0]

    def start(self) -> "LoopGarbageCollector":
        gc.disable()
        gc.collect()  # what startup left as garbage is not kept for ever
        gc.freeze()
        return self

    def stop(self) -> None:
        gc.unfreeze()
        gc.enable()

    def collect(self) -> None:
        """Collect the generations automatic collection would collect now, if any."""
        counts, (t0, t1, t2) = gc.get_count(), self.thresholds
        if counts[0] < t0:
            return
        generation = 2 if counts[2] >= t2 and counts[1] >= t1 else 1 if counts[1] >= t1 else 0
        self.collections[generation] += 1
        gc.collect(generation)
