"""The real-time driver of one SIP call: the live twin of `ivr.session.offline.run_offline`.

The worker's loop calls `pump()` every few milliseconds: every caller frame the bridge received
goes to the recording and to `session.feed`, every bot frame the clock sent (silence included)
to `session.played` (the echo canceller's reference: one per tick, in step with the caller's),
and the bridge's small `tx` deque is topped up from `session.next_frame()`. Everything here runs on the worker's asyncio thread (pjsua2 callbacks
included), so there are no locks; the media clock thread only touches the bridge's deques.

A call goes RINGING -> LIVE (media up, greeting) -> [TRANSFERRING -> LIVE if it failed] -> ENDED.
A failed transfer is handed back to the session (`transfer_failed`): the dialplan's prompt tells
the caller, and its fallback node (or a hang-up) follows. Never silence.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ivr.dialplan.store import PlanStore
from ivr.events import EventLog, MonotonicClock
from ivr.metrics import CallMetrics
from ivr.session.aftercall import after_call
from ivr.session.engines import Engines
from ivr.session.session import CallSession, TransferRequest
from ivr.sip.media import AudioBridge
from ivr.sip.recorder import StereoRecorder
from ivr.sip.transfer import TransferStatus, refer_headers, refer_target
from ivr.sip.watchdog import CallWatchdog, MediaDeadlines
from ivr.store.writer import StoreWriter

log = logging.getLogger("ivr.sip")

WATCH_EVERY_S = 0.5  # how often a call's deadlines are checked


class Leg(Protocol):
    """What the driver asks of the SIP call it drives (implemented by `ivr.sip.call.BotCall`)."""

    def refer(self, target: str, headers: dict[str, str]) -> None: ...

    def end(self, code: int = 0) -> None: ...

    def rtp_packets(self) -> int | None: ...


class _GoneLeg:
    """Stands in for the SIP call once it is over (pjsua2 objects must die on the SIP thread)."""

    def refer(self, target: str, headers: dict[str, str]) -> None:
        raise RuntimeError("call is over")

    def end(self, code: int = 0) -> None:
        pass

    def rtp_packets(self) -> int | None:
        return None


class State(enum.Enum):
    RINGING = "ringing"
    LIVE = "live"
    TRANSFERRING = "transferring"
    ENDED = "ended"


@dataclass(frozen=True)
class DriverSettings:
    recordings: Path
    prefill_frames: int = 10          # bot frames queued ahead of the clock (200 ms): rides
                                      # out loop stalls; a barge-in flushes them at once
    transfer_timeout_s: float = 30.0  # no final NOTIFY by then: the transfer failed
    hangup_tail_s: float = 0.25       # after the last bot frame, before BYE (jitter buffers)
    deadlines: MediaDeadlines = MediaDeadlines()


@dataclass
class CallContext:
    """What every call of a worker shares."""

    plans: PlanStore
    engines: Engines
    settings: DriverSettings
    worker: str = "w1"
    store: StoreWriter | None = None   # the call store's writer; None: JSONL event logs only
    drivers: dict[str, "CallDriver"] = field(default_factory=dict)


class CallDriver:
    def __init__(self, call_id: str, ctx: CallContext, leg: Leg, remote: str,
                 sip_call_id: str, caller_number: str = "") -> None:
        self.call_id = call_id
        self.ctx = ctx
        self.leg = leg
        self.remote = remote
        self.state = State.RINGING
        self.bridge: AudioBridge | None = None
        self.started = time.monotonic()
        settings = ctx.settings
        settings.recordings.mkdir(parents=True, exist_ok=True)
        self.wav_path = settings.recordings / f"{call_id}.wav"
        self.events_path = settings.recordings / f"{call_id}.jsonl"
        # Each line is flushed as written (a worker crash keeps it); fsync runs off the loop
        # thread once a second (see `_sync_to_disk`): an fsync under disk load can take 300 ms.
        self.events = EventLog(MonotonicClock(), self.events_path, fsync=False)
        self.store = ctx.store.listener(call_id, str(self.events_path)) if ctx.store else None
        if self.store is not None:
            self.events.subscribe(self.store)
        self.events.subscribe(CallMetrics())
        self.events.emit("sip.invite", remote=remote, sip_call_id=sip_call_id,
                         worker=ctx.worker)
        self.session = CallSession(call_id, ctx.plans.current(), ctx.engines, self.events,
                                   on_transfer=self._on_transfer, on_hangup=self._on_bot_hangup,
                                   caller_number=caller_number, on_flush=self._flush_playout,
                                   on_first_frame=self._on_first_frame)
        raw_copy = self.session.plan.redaction.raw_copy
        if self.store is not None and raw_copy.enabled:  # what was said, kept apart (not 20 ms)
            self.events.subscribe_raw(self.store.keep_raw(list(raw_copy.roles)))
        self.recorder: StereoRecorder | None = None
        self.end_reason: str | None = None     # set when we hang up; else the caller did
        self.transfer: TransferRequest | None = None
        self._transfer_timer: asyncio.TimerHandle | None = None
        self._hangup_after: tuple[float, str] | None = None  # (monotonic time, reason)
        self._rtp_first_pending = False
        self._media_started: float | None = None
        self._media_ended: float | None = None
        self.rx_frames = 0
        self._last_pump: float | None = None
        self.max_pump_gap_ms = 0.0   # the longest the loop left this call's media alone
        self._refer_pending = False
        self._synced_at = time.monotonic()
        self._sync: asyncio.Future[None] | None = None
        self.stream_stats: dict[str, Any] = {}
        self.watchdog = CallWatchdog(settings.deadlines)
        self._watched_at = self.started
        self.finished = asyncio.get_running_loop().create_future()
        log.info("call %s start from %s (sip call-id %s) on %s", call_id, remote, sip_call_id,
                 ctx.worker)

    # ---- SIP events (worker thread) ----------------------------------------------------------
    def on_answer_sent(self) -> None:
        """Our 200 OK went out: from now on the call must get media within the setup timeout."""
        self.watchdog.answer_sent(time.monotonic())

    def on_answered(self) -> None:
        """The caller ACKed our 200 OK: the dialog is confirmed."""
        self.watchdog.ack_received()
        self.events.emit("sip.answered")

    def on_hold(self, held: bool, direction: str) -> None:
        """The caller put us on hold or took us off it (re-INVITE)."""
        self.watchdog.hold(held, time.monotonic())
        self.events.emit("sip.hold" if held else "sip.unhold", direction=direction)
        log.info("call %s %s by the caller (%s)", self.call_id,
                 "put on hold" if held else "taken off hold", direction)

    def on_media(self, bridge: AudioBridge) -> None:
        """Audio is flowing: start recording and greet the caller."""
        if self.bridge is not None or self.state is not State.RINGING:
            return
        self.bridge = bridge
        self.recorder = StereoRecorder(self.wav_path)
        self.state = State.LIVE
        self._media_started = time.monotonic()
        self.watchdog.media_up(self._media_started)
        self.events.emit("sip.media", recording=str(self.wav_path))
        self.session.start()

    def on_dtmf(self, digit: str, method: str) -> None:
        self.events.emit("sip.dtmf", digit=self.session.recorded_key(digit), method=method)
        if self.state is State.LIVE:
            self.session.dtmf(digit)

    def on_transfer_status(self, code: int, reason: str, final: bool) -> None:
        if self.state is not State.TRANSFERRING:
            return
        status = TransferStatus(code, reason)
        if not final:
            self.events.emit("transfer.status", status=code, reason=reason, final=False)
            return
        self._cancel_transfer_timer()
        if status.ok:
            self.events.emit("transfer.status", status=code, reason=reason,
                             outcome=status.outcome, final=True)
            log.info("call %s transferred to %s (%d %s)", self.call_id,
                     self.transfer.target if self.transfer else "?", code, reason)
            self.hang_up("transferred")
        else:
            self._transfer_failed(status)

    def on_stream_stats(self, stats: dict[str, Any]) -> None:
        self.stream_stats = stats

    def on_disconnected(self, code: int, reason: str) -> None:
        """The call is over (BYE either way, CANCEL, or an error): finish the record."""
        if self.state is State.ENDED:
            return
        previous, self.state = self.state, State.ENDED
        self._media_ended = time.monotonic()
        self._cancel_transfer_timer()
        if self.end_reason is None:
            self.end_reason = "caller_cancelled" if previous is State.RINGING else "caller_hangup"
        self.pump()  # what the bridge still holds goes into the recording
        self.events.emit("sip.disconnected", status=code, reason=reason, by=(
            "bot" if self.end_reason not in ("caller_hangup", "caller_cancelled") else "caller"))
        asyncio.get_running_loop().create_task(self._finish())

    # ---- the 20 ms path ---------------------------------------------------------------------
    def pump(self) -> None:
        """Move frames between the bridge and the session; called every few ms by the worker."""
        now = time.monotonic()
        if now - self._watched_at >= WATCH_EVERY_S:
            self._watched_at = now
            self._watch(now)
        bridge, recorder = self.bridge, self.recorder
        if bridge is None or recorder is None:
            return
        if self._last_pump is not None:
            self.max_pump_gap_ms = max(self.max_pump_gap_ms, (now - self._last_pump) * 1000)
        self._last_pump = now
        rx, played, session = bridge.rx, bridge.played, self.session
        feed = self.state is State.LIVE
        while rx:
            frame = rx.popleft()
            self.rx_frames += 1
            recorder.caller(frame)
            if feed:
                session.feed(frame)
        while played:
            frame = played.popleft()
            recorder.bot(frame)
            if feed:
                session.played(frame)
            if frame is not None and self._rtp_first_pending:
                self._rtp_first_pending = False
                self.events.emit("rtp.first_frame")
        if self.state is State.LIVE:
            while bridge.queued < self.ctx.settings.prefill_frames:
                frame = session.next_frame()
                if frame is None:
                    break
                bridge.queue(frame)
            bridge.expecting = session.audio_waiting
        if self._refer_pending and not bridge.queued:
            self._refer_pending = False
            self._send_refer()
        if now - self._synced_at >= 1.0 and (self._sync is None or self._sync.done()):
            self._synced_at = now
            self._sync = asyncio.get_running_loop().run_in_executor(
                None, _sync_to_disk, (self.events_path, self.wav_path))
        if self._hangup_after is not None and not bridge.queued:
            at, reason = self._hangup_after
            if time.monotonic() >= at:
                self._hangup_after = None
                self.hang_up(reason)

    def _watch(self, now: float) -> None:
        """End a call whose signalling or media went quiet (see `ivr.sip.watchdog`)."""
        if self.state is State.ENDED or self.end_reason is not None:
            return
        expiry = self.watchdog.check(now, self.leg.rtp_packets())
        if expiry is None:
            return
        log.warning("call %s: %s -> hanging up (%s)", self.call_id, expiry.detail, expiry.reason)
        self.events.emit("sip.timeout", reason=expiry.reason, detail=expiry.detail)
        self.hang_up(expiry.reason)

    def _flush_playout(self) -> int:
        """The session dropped or paused its reply (barge-in, a new decision, talk over the
        bot): so does the media bridge; how many frames it dropped."""
        dropped = self.bridge.flush() if self.bridge is not None else 0
        if dropped:
            self.events.emit("playout.flushed", frames=dropped)
        return dropped

    def _on_first_frame(self) -> None:
        """The frame the session just handed over starts a reply: note when it reaches RTP."""
        self._rtp_first_pending = True

    # ---- transfer ---------------------------------------------------------------------------
    def _on_transfer(self, request: TransferRequest) -> None:
        """The session finished its announcement: REFER once its last frames have been sent."""
        if self.state is not State.LIVE:
            return
        self.state = State.TRANSFERRING
        self.transfer = request
        self._refer_pending = True

    def _send_refer(self) -> None:
        request = self.transfer
        if request is None or self.state is not State.TRANSFERRING:
            return
        target = refer_target(request.target, request.call_id, request.summary)
        log.info("call %s transfer -> %s (%s)", self.call_id, request.target, request.reason)
        self.events.emit("transfer.refer", target=request.target, refer_to=target)
        try:
            self.leg.refer(target, refer_headers(request.call_id, request.summary))
        except Exception as exc:  # noqa: BLE001 - pjsua refused to send it: same as a failure
            self._transfer_failed(TransferStatus(500, f"REFER not sent: {exc}"))
            return
        loop = asyncio.get_running_loop()
        self._transfer_timer = loop.call_later(self.ctx.settings.transfer_timeout_s,
                                               self._transfer_timed_out)

    def _transfer_timed_out(self) -> None:
        self._transfer_timer = None
        if self.state is State.TRANSFERRING:
            self._transfer_failed(TransferStatus(408, "no final NOTIFY", timeout=True))

    def _cancel_transfer_timer(self) -> None:
        if self._transfer_timer is not None:
            self._transfer_timer.cancel()
            self._transfer_timer = None

    def _transfer_failed(self, status: TransferStatus) -> None:
        """Never silent: the session tells the caller and follows the dialplan's fallback."""
        self._cancel_transfer_timer()
        request, self.state = self.transfer, State.LIVE
        log.warning("call %s transfer to %s failed: %s (%d %s); telling the caller", self.call_id,
                    request.target if request else "?", status.outcome, status.code,
                    status.reason)
        self.events.emit("transfer.status", status=status.code, reason=status.reason,
                         outcome=status.outcome, final=True)
        if request is not None:
            self.session.transfer_failed(request, f"{status.outcome}: {status.code} {status.reason}")

    def _on_bot_hangup(self, reason: str) -> None:
        """The dialplan ended the call (after its last prompt): BYE once that prompt has left."""
        self._hangup_after = (time.monotonic() + self.ctx.settings.hangup_tail_s, reason)

    # ---- ending -----------------------------------------------------------------------------
    def hang_up(self, reason: str, code: int = 0) -> None:
        """End the call from our side (BYE, or a final response before answer)."""
        if self.state is State.ENDED or self.end_reason is not None:
            return
        self.end_reason = reason
        self.events.emit("sip.hangup", reason=reason)
        try:
            self.leg.end(code)
        except Exception as exc:  # noqa: BLE001 - already gone: DISCONNECTED follows anyway
            log.debug("call %s hangup: %s", self.call_id, exc)

    async def _finish(self) -> None:
        reason = self.end_reason or "caller_hangup"
        try:
            await self.session.close(reason)
        except Exception as exc:  # noqa: BLE001 - the record must still be finished
            log.exception("call %s: closing the session failed", self.call_id)
            self.events.emit("error", error=f"session close: {type(exc).__name__}: {exc}")
        if self.recorder is not None:
            self.recorder.close()   # before the last event: a record that ends has its WAV done
        try:  # the caller is gone: the final ticket, its webhook, the recording redacted
            await after_call(self.session, self.wav_path if self.recorder else None)
        except Exception as exc:  # noqa: BLE001 - the record must still be finished
            log.exception("call %s: after-call work failed", self.call_id)
            self.events.emit("error", error=f"after call: {type(exc).__name__}: {exc}")
        self.events.emit("media.stats", **self.media_stats())
        self.events.close()
        if self.store is not None:
            self.store.close()
        log.info("call %s end: %s after %.1f s, %d turns; recording %s", self.call_id, reason,
                 time.monotonic() - self.started, len(self.session.dialog.state.turns),
                 self.wav_path if self.recorder else "(none: no media)")
        self.leg = _GoneLeg()   # no pjsua2 object may outlive the call through a cycle
        self.bridge = None
        if not self.finished.done():
            self.finished.set_result(reason)

    def media_stats(self) -> dict[str, Any]:
        """Frames in and out, and how far the media clock lagged the wall clock."""
        stats: dict[str, Any] = {"rx_frames": self.rx_frames}
        if self._media_started is not None:
            # Frames the media clock owed us while the call was up (not while the session
            # finished its work after the hang-up).
            until = self._media_ended if self._media_ended is not None else time.monotonic()
            expected = int((until - self._media_started) / 0.02)
            stats["expected_frames"] = expected
            stats["clock_lag_frames"] = max(0, expected - self.rx_frames)
        if self.bridge is not None:
            stats["tx_underruns"] = self.bridge.underruns
            stats["max_underrun_run"] = self.bridge.max_underrun_run
            stats["max_tick_gap_ms"] = round(self.bridge.max_tick_gap_s * 1000, 1)
            stats["max_pump_gap_ms"] = round(self.max_pump_gap_ms, 1)
        if self.recorder is not None:
            stats["recorded_s"] = round(self.recorder.duration_s, 2)
        stats.update(self.stream_stats)
        return stats


def _sync_to_disk(paths: tuple[Path, ...]) -> None:
    """fsync the call's files (another descriptor of the same file flushes its pages)."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
