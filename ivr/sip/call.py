"""pjsua2 call and account subclasses: they translate library callbacks into driver calls.

All of these callbacks run on the worker's asyncio thread (mainThreadOnly, see endpoint.py).
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from ivr.sip.media import AudioBridge

if TYPE_CHECKING:
    from ivr.sip.driver import CallDriver

log = logging.getLogger("ivr.sip")

DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "sip_info"}


class BotCall(pj.Call):
    """One incoming call; implements the driver's `Leg` (refer, end)."""

    _live: weakref.WeakSet[BotCall] = weakref.WeakSet()

    def __init__(self, account: pj.Account, call_index: int, label: str) -> None:
        super().__init__(account, call_index)
        BotCall._live.add(self)
        self.label = label
        self.driver: CallDriver | None = None
        self.bridge: AudioBridge | None = None
        self.audio: pj.AudioMedia | None = None
        self.media_index: int | None = None
        self.on_hold = False
        self.disconnected = False

    @classmethod
    def outlive_library(cls) -> list[BotCall]:
        """Every call object still alive, disowned: freeing one after `libDestroy` would run
        pjsua2's `~Call`, which clears the user data of its old slot in a library that is gone
        (an assertion aborts the process). Keep the returned list until the library is destroyed,
        so no callback during the shutdown meets a freed object."""
        alive = list(cls._live)
        for call in alive:
            call.thisown = False
        return alive

    # ---- Leg --------------------------------------------------------------------------------
    def refer(self, target: str, headers: dict[str, str]) -> None:
        prm = pj.CallOpParam(True)
        for name, value in headers.items():
            header = pj.SipHeader()
            header.hName, header.hValue = name, value
            prm.txOption.headers.append(header)
        self.xfer(target, prm)

    def end(self, code: int = 0) -> None:
        prm = pj.CallOpParam()
        if code:
            prm.statusCode = code
        self.hangup(prm)

    def release(self) -> None:
        """Free the call's audio port (see `AudioBridge.close`); the call is over by now."""
        self.driver = None
        if self.bridge is not None:
            self.bridge.close()

    def rtp_packets(self) -> int | None:
        """RTP packets received on the audio stream so far (None while there is no stream)."""
        if self.media_index is None:
            return None
        try:
            return self.getStreamStat(self.media_index).rtcp.rxStat.pkt
        except pj.Error:
            return None

    # ---- pjsua2 callbacks -------------------------------------------------------------------
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED and self.driver:
            self.driver.on_answered()
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected:
            self.disconnected = True
            if self.audio is not None and self.bridge is not None:
                _quietly(self.bridge.stopTransmit, self.audio)
            if self.driver:
                self.driver.on_disconnected(info.lastStatusCode, info.lastReason)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        """First offer/answer, and every re-INVITE after it (hold, unhold, codec change: the
        stream may be new, so the bridge is connected to it again)."""
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            held = media.status == pj.PJSUA_CALL_MEDIA_REMOTE_HOLD
            if held != self.on_hold:
                self.on_hold = held
                if self.driver:
                    self.driver.on_hold(held, media_dir(media.dir))
            if media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = self.getAudioMedia(index)
            if self.bridge is None:
                self.bridge = AudioBridge(f"ivr-{self.label}")
            audio.startTransmit(self.bridge)   # caller -> bridge.rx
            self.bridge.startTransmit(audio)   # bridge.tx -> caller
            self.audio, self.media_index = audio, index
            if self.driver:
                self.driver.on_media(self.bridge)
            return

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802
        if self.driver:
            self.driver.on_dtmf(prm.digit, DTMF_METHODS.get(prm.method, str(prm.method)))

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802
        if prm.finalNotify:
            prm.cont = False  # no more NOTIFYs wanted
        if self.driver:
            self.driver.on_transfer_status(prm.statusCode, prm.reason, prm.finalNotify)

    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:  # noqa: N802
        if self.driver:
            try:
                self.driver.on_stream_stats(stream_stats(self.getStreamStat(prm.streamIdx)))
            except pj.Error:
                pass


def media_dir(direction: int) -> str:
    """pjmedia's direction flags as SDP words, from our side ('sendonly': we only send)."""
    return {pj.PJMEDIA_DIR_NONE: "inactive", pj.PJMEDIA_DIR_ENCODING: "sendonly",
            pj.PJMEDIA_DIR_DECODING: "recvonly"}.get(direction, "sendrecv")


def stream_stats(stat: pj.StreamStat) -> dict[str, Any]:
    """RTP counters of a finished stream (RTCP view of both directions)."""
    rx, tx = stat.rtcp.rxStat, stat.rtcp.txStat
    return {"rtp_rx_packets": rx.pkt, "rtp_rx_lost": rx.loss, "rtp_rx_discarded": rx.discard,
            "rtp_rx_jitter_ms_max": round(rx.jitterUsec.max / 1000, 1),
            "rtp_tx_packets": tx.pkt}


class BotAccount(pj.Account):
    """The worker's local account: hands every incoming call to `on_incoming`."""

    def __init__(self, on_incoming) -> None:
        super().__init__()
        self._on_incoming = on_incoming

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        self._on_incoming(self, prm)


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except pj.Error:
        pass
