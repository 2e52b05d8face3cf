"""Deadlines that give a call slot back when signalling or media goes quiet.

A worker has four call slots (pjsua2's compiled limit), so a dialog that never becomes a real
call must not keep one: an INVITE answered 200 but never ACKed (a scanner, a caller whose network
died), an ACK without the SDP answer our 200 asked for, a caller whose RTP stopped (network gone,
phone crushed), a caller left on hold. The watchdog only decides; the call driver hangs up with
the reason it returns and records it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class MediaDeadlines(BaseModel):
    """How long each kind of silence may hold a slot (worker settings, `ivr serve` options)."""

    model_config = ConfigDict(frozen=True)

    setup_timeout_s: float = Field(10.0, ge=2, le=64)
    """The longest a dialog that never becomes a call with media (never ACKed, or ACKed without
    the SDP answer our 200 OK asked for) holds its slot: it is hung up at half of this, and SIP
    transactions (RFC 3261 timers B, F, H; 32 s in the RFC) give up after the other half, so a
    BYE to a peer that is gone frees the slot in time. 5 s covers the 200's retransmissions."""
    rtp_timeout_s: float = Field(15.0, gt=0, le=3600)
    """A live call, not on hold, with no RTP packet for this long has lost its caller (its
    slot is free at most `setup_timeout_s / 2` later, when the BYE is answered or gives up)."""
    hold_timeout_s: float = Field(600.0, gt=0, le=86400)
    """A caller who put the bot on hold for this long is not coming back."""

    @property
    def transaction_timeout_s(self) -> float:
        return self.setup_timeout_s / 2


@dataclass(frozen=True)
class Expiry:
    """Why a call is to be ended: `reason` goes into the record, `detail` into the log."""

    reason: str
    detail: str


class CallWatchdog:
    """Tracks one call's answer, media, RTP counter and hold state against `MediaDeadlines`.

    Times are monotonic seconds passed in by the caller (the driver), so the logic is testable
    without a clock."""

    def __init__(self, deadlines: MediaDeadlines) -> None:
        self.deadlines = deadlines
        self.answer_sent_at: float | None = None
        self.media_at: float | None = None
        self.acked = False
        self.hold_since: float | None = None
        self._packets = 0
        self._packets_changed_at: float | None = None

    def answer_sent(self, now: float) -> None:
        if self.answer_sent_at is None:
            self.answer_sent_at = now

    def ack_received(self) -> None:
        self.acked = True

    def media_up(self, now: float) -> None:
        if self.media_at is None:
            self.media_at = now
            self._packets_changed_at = now

    def hold(self, on_hold: bool, now: float) -> None:
        """The caller put us on hold (re-INVITE sendonly/inactive) or took us off it."""
        if on_hold and self.hold_since is None:
            self.hold_since = now
        elif not on_hold and self.hold_since is not None:
            self.hold_since = None
            self._packets_changed_at = now  # RTP may take a moment to resume

    def check(self, now: float, rtp_packets: int | None) -> Expiry | None:
        """The expiry to act on now, if any. `rtp_packets` is the stream's received-packet
        counter (None while there is no stream); any change, a reset to 0 by a new stream
        included, is traffic."""
        d = self.deadlines
        if self.media_at is None or not self.acked:
            if (self.answer_sent_at is None
                    or now - self.answer_sent_at < d.setup_timeout_s - d.transaction_timeout_s):
                return None
            waited = f"200 OK sent {now - self.answer_sent_at:.1f} s ago"
            if not self.acked:
                return Expiry("no_ack", f"{waited}, never ACKed")
            return Expiry("no_media", f"{waited}, ACKed without an SDP answer: no media")
        if (rtp_packets or 0) != self._packets:
            self._packets, self._packets_changed_at = rtp_packets or 0, now
        if self.hold_since is not None:
            if now - self.hold_since >= d.hold_timeout_s:
                return Expiry("hold_timeout", f"on hold for {now - self.hold_since:.0f} s")
            return None
        quiet = now - (self._packets_changed_at or self.media_at)
        if quiet >= d.rtp_timeout_s:
            return Expiry("rtp_timeout", f"no RTP from the caller for {quiet:.1f} s")
        return None
