"""The audio bridge between a pjsua2 call and its driver: byte queues, nothing else.

pjmedia's clock thread calls `onFrameReceived` / `onFrameRequested` every 20 ms. Holding the GIL
there for long starves the clock (lost frames, gaps), so these callbacks only move bytes:
caller frames go into `rx`, the next bot frame comes out of the small pre-filled `tx` deque, and
the frame actually sent is noted in `played` so the recording lines up tick by tick.
The driver (on the asyncio loop thread) drains `rx`/`played` and tops `tx` up; a barge-in
`flush()` clears what is queued so the caller hears the bot stop within one frame.

A bridge is ended with `close()`, never by dropping its last reference. pjmedia calls every
port in the conference each tick, connected or not (a "heart-beat" frame), until the port's
C++ destructor has run; a Python bridge whose last reference goes is half torn down before
that destructor runs, and a callback into it then touches freed memory: the heap is corrupted
and the worker dies later with a segfault somewhere unrelated (a malloc at address 1).
`close()` runs the C++ destructor while the Python half is whole, so no callback can reach it.
"""

from __future__ import annotations

import collections
import ctypes
import time

import pjsua2 as pj

from ivr.audio.frames import FRAME_BYTES, FRAME_MS, PHONE_RATE
from ivr.sip.endpoint import library_running

SILENCE = bytes(FRAME_BYTES)
_AUDIO = pj.PJMEDIA_FRAME_TYPE_AUDIO
_NONE = pj.PJMEDIA_FRAME_TYPE_NONE
_PTR = ctypes.c_void_p


def _vector_bytes_fast(vector: pj.ByteVector) -> bytes:
    """The bytes of a SWIG std::vector<unsigned char> in ~2 us (element-wise copy takes ~150 us).

    Reads libstdc++'s vector layout (begin, end pointers), checked once at import against the
    slow path; if that check fails `vector_bytes` is the slow path."""
    address = int(vector.this)
    begin = _PTR.from_address(address).value
    end = _PTR.from_address(address + 8).value
    return ctypes.string_at(begin, end - begin) if begin and end else b""


def _vector_bytes_slow(vector: pj.ByteVector) -> bytes:
    return bytes(vector)


def _pick_vector_bytes():
    probe = bytes(range(256)) + b"\x01\x02\x03"
    try:
        if (_vector_bytes_fast(pj.ByteVector(probe)) == probe
                and _vector_bytes_fast(pj.ByteVector()) == b""):
            return _vector_bytes_fast
    except Exception:  # noqa: BLE001 - any surprise: use the portable copy
        pass
    return _vector_bytes_slow


vector_bytes = _pick_vector_bytes()


def audio_format() -> pj.MediaFormatAudio:
    """8 kHz mono PCM16, 20 ms frames: the phone line's format, everywhere."""
    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.clockRate = PHONE_RATE
    fmt.channelCount = 1
    fmt.bitsPerSample = 16
    fmt.frameTimeUsec = FRAME_MS * 1000
    return fmt


class AudioBridge(pj.AudioMediaPort):
    """A conference-bridge port whose callbacks only push and pop bytes (deque ops are atomic)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.rx: collections.deque[bytes] = collections.deque(maxlen=500)   # caller, 10 s max
        self.tx: collections.deque[tuple[pj.ByteVector, bytes]] = collections.deque()  # bot
        self.played: collections.deque[bytes | None] = collections.deque(maxlen=500)
        self.expecting = False  # the driver has more bot audio than it queued (set by it)
        self.underruns = 0      # frames sent as silence although bot audio was waiting
        self.max_underrun_run = 0  # the most such frames in a row (x 20 ms: the longest gap)
        self.max_tick_gap_s = 0.0  # the longest wait between two clock ticks asking for audio
        self._run = 0
        self._last_tick: float | None = None
        self.closed = False
        self.createPort(name, audio_format())

    def close(self) -> None:
        """Take the port out of the conference and free its C++ half, now, on this thread.

        pjsua2's destructor stops the clock thread's callbacks under the port's lock before it
        returns; until then a callback finds this Python object whole. Idempotent; after it
        only the deques may be used (`startTransmit` and the like would use freed memory)."""
        if self.closed:
            return
        self.closed = True
        if library_running():
            pj.AudioMediaPort.__swig_destroy__(self)
        else:  # no conference left to leave: its C++ half must not be freed into a dead library
            self.thisown = False

    def __del__(self) -> None:
        # A bridge dropped without `close()` (an error path): Python runs this while the object
        # is still whole, before it tears it down, so the callbacks stay safe here too.
        self.close()

    # ---- pjmedia clock thread ------------------------------------------------------------
    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 name)
        if frame.type == _AUDIO and frame.size == FRAME_BYTES:
            self.rx.append(vector_bytes(frame.buf))
        else:
            self.rx.append(SILENCE)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 name)
        now = time.monotonic()
        last, self._last_tick = self._last_tick, now
        if last is not None and now - last > self.max_tick_gap_s:
            self.max_tick_gap_s = now - last
        try:
            vector, pcm = self.tx.popleft()
        except IndexError:
            frame.type = _NONE
            frame.size = 0
            self.played.append(None)
            if self.expecting:
                self.underruns += 1
                self._run += 1
                self.max_underrun_run = max(self.max_underrun_run, self._run)
            return
        self._run = 0
        frame.buf = vector
        frame.size = FRAME_BYTES
        frame.type = _AUDIO
        self.played.append(pcm)

    # ---- driver thread ---------------------------------------------------------------------
    def queue(self, pcm: bytes) -> None:
        """Queue one 320-byte bot frame (converted here, not on the clock thread)."""
        self.tx.append((pj.ByteVector(pcm), pcm))

    def flush(self) -> int:
        """Drop queued bot audio (barge-in); returns how many frames were dropped."""
        dropped = len(self.tx)
        self.tx.clear()
        return dropped

    @property
    def queued(self) -> int:
        return len(self.tx)
