"""A scripted phone caller on pjsua2: calls the hotline, speaks WAV files turn by turn, records
what the bot says and times it. Used by the tests (transcribe the bot's answer) and by
`ivr bench sip` (latency, media gaps).

    python -m ivr.sip.caller sip:hotline@127.0.0.1:5060 --say q1.wav --say q2.wav \
        --record call.wav --report report.json [--calls 4]

Turn-taking: wait until the bot has spoken and then been quiet for `--quiet-s`, say the next
WAV, wait for the answer; after the last answer, hang up. A REFER from the bot is declined
(603) and noted in the report: a test caller has no agent to go to. One process places up to 4 calls at
once (the pjsua2 limit); more callers means more processes.

Timing: `speech_end` is when the utterance's last voiced frame was handed to pjmedia for
sending, `first_bot_audio` when the first voiced bot frame came out of the caller's jitter
buffer (set to its minimum), both on this process's monotonic clock, so the latency includes
one network hop and up to ~20-40 ms of jitter buffer.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pjsua2 as pj

from ivr.audio.frames import FRAME_BYTES, PHONE_RATE, frames
from ivr.sip.call import stream_stats
from ivr.sip.endpoint import MAX_CALLS, EndpointSettings, account_config, create_endpoint
from ivr.sip.media import SILENCE, AudioBridge, vector_bytes
from ivr.sip.recorder import StereoRecorder

VOICED_RMS = 300.0  # ~ -40 dBFS: speech, not line noise or PLC residue


def voiced(frame: bytes) -> bool:
    samples = np.frombuffer(frame, "<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) > VOICED_RMS


class TimedBridge(AudioBridge):
    """The worker's bridge plus a monotonic timestamp on each frame (the caller measures)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.rx_times: collections.deque[float] = collections.deque(maxlen=500)
        self.played_times: collections.deque[float] = collections.deque(maxlen=500)

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        self.rx_times.append(time.monotonic())
        if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size == FRAME_BYTES:
            self.rx.append(vector_bytes(frame.buf))
        else:
            self.rx.append(SILENCE)

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802
        self.played_times.append(time.monotonic())
        super().onFrameRequested(frame)


@dataclass
class Turn:
    speech_end: float | None = None
    first_bot_audio: float | None = None
    bot_audio_s: float = 0.0

    @property
    def latency_ms(self) -> float | None:
        if self.speech_end is None or self.first_bot_audio is None:
            return None
        return round((self.first_bot_audio - self.speech_end) * 1000, 1)


@dataclass
class CallReport:
    index: int
    state: str = "dialing"
    status: int = 0
    connected: bool = False
    media_start: float | None = None       # monotonic time of the recording's first frame
    greeting_ms: float | None = None       # answer -> first bot audio
    turns: list[Turn] = field(default_factory=list)
    rx_frames: int = 0
    max_rx_gap_ms: float = 0.0             # longest wait between two frames from pjmedia
    clock_lag_frames: int = 0
    stream: dict = field(default_factory=dict)
    recording: str | None = None
    transfers: list[str] = field(default_factory=list)  # REFER targets (declined with 603)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["turns"] = [{**asdict(t), "latency_ms": t.latency_ms} for t in self.turns]
        return data


@dataclass(frozen=True)
class CallerSettings:
    quiet_s: float = 1.2          # bot silence that ends its turn
    max_wait_s: float = 25.0      # give up waiting for the bot (greeting or answer)
    tail_s: float = 0.5           # after the last answer, before BYE
    record: Path | None = None    # WAV per call (index appended when several)


class ScriptedCall(pj.Call):
    """One call following a script; `step()` runs on the polling thread."""

    def __init__(self, account: pj.Account, index: int, utterances: list[bytes],
                 settings: CallerSettings) -> None:
        super().__init__(account)
        self.report = CallReport(index)
        self.utterances = list(utterances)
        self.settings = settings
        self.bridge: TimedBridge | None = None
        self.audio: pj.AudioMedia | None = None
        self.recorder: StereoRecorder | None = None
        self.phase = "greeting"        # greeting -> speaking -> answer -> ... -> done
        self.answered_at: float | None = None
        self.bot_heard = False
        self.last_bot_voice = 0.0
        self.phase_since = time.monotonic()
        self.last_voiced_sent: float | None = None
        self.prev_rx_time: float | None = None
        self.media_at: float | None = None
        self.done = False

    # ---- pjsua2 callbacks -------------------------------------------------------------------
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        if info.state == pj.PJSIP_INV_STATE_CONFIRMED:
            self.report.connected = True
            self.answered_at = time.monotonic()
        elif info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.report.status = info.lastStatusCode
            self.report.state = "ended" if self.report.connected else "failed"
            self.done = True

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        for index, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                self.audio = self.getAudioMedia(index)
                if self.bridge is None:
                    self.bridge = TimedBridge(f"caller-{self.report.index}")
                    self.media_at = self.report.media_start = time.monotonic()
                    if self.settings.record:
                        path = self.settings.record
                        if self.report.index:
                            path = path.with_name(f"{path.stem}-{self.report.index}{path.suffix}")
                        self.recorder = StereoRecorder(path)
                        self.report.recording = str(path)
                self.audio.startTransmit(self.bridge)
                self.bridge.startTransmit(self.audio)
                return

    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802
        """A test caller cannot reach the agent: decline, so the bot tells us and goes on."""
        self.report.transfers.append(prm.dstUri)
        prm.statusCode = 603

    def onStreamDestroyed(self, prm: pj.OnStreamDestroyedParam) -> None:  # noqa: N802
        try:
            self.report.stream = stream_stats(self.getStreamStat(prm.streamIdx))
        except pj.Error:
            pass

    # ---- script -----------------------------------------------------------------------------
    def step(self, now: float) -> None:
        bridge = self.bridge
        if bridge is None or self.done:
            return
        self._drain(bridge)
        if self.phase == "speaking":
            if not bridge.queued:
                turn = Turn(speech_end=self.last_voiced_sent or now)
                self.report.turns.append(turn)
                self._enter("answer", now)
            return
        quiet = self.bot_heard and now - self.last_bot_voice >= self.settings.quiet_s
        timed_out = now - self.phase_since >= self.settings.max_wait_s
        if self.phase in ("greeting", "answer") and (quiet or timed_out):
            if self.utterances:
                for frame in frames(self.utterances.pop(0)):
                    bridge.queue(frame)
                self._enter("speaking", now)
            elif now - self.last_bot_voice >= self.settings.tail_s:
                self._enter("done", now)
                self.hangup(pj.CallOpParam())

    def _enter(self, phase: str, now: float) -> None:
        self.phase, self.phase_since, self.bot_heard = phase, now, False

    def _drain(self, bridge: TimedBridge) -> None:
        recorder = self.recorder
        while bridge.rx and bridge.rx_times:
            frame, at = bridge.rx.popleft(), bridge.rx_times.popleft()
            self.report.rx_frames += 1
            if self.prev_rx_time is not None:
                gap = (at - self.prev_rx_time) * 1000
                self.report.max_rx_gap_ms = max(self.report.max_rx_gap_ms, round(gap, 1))
            self.prev_rx_time = at
            if recorder:
                recorder.bot(frame)
            if voiced(frame):
                self._bot_voice(at)
        while bridge.played and bridge.played_times:
            frame, at = bridge.played.popleft(), bridge.played_times.popleft()
            if recorder:
                recorder.caller(frame)
            if frame is not None and voiced(frame):
                self.last_voiced_sent = at

    def _bot_voice(self, at: float) -> None:
        if not self.bot_heard:
            self.bot_heard = True
            if self.phase == "greeting" and self.report.greeting_ms is None and self.answered_at:
                self.report.greeting_ms = round((at - self.answered_at) * 1000, 1)
            if self.phase == "answer" and self.report.turns:
                self.report.turns[-1].first_bot_audio = at
        if self.phase == "answer" and self.report.turns:
            self.report.turns[-1].bot_audio_s += 0.02
        self.last_bot_voice = at

    def finish(self) -> None:
        if self.bridge is not None:
            self._drain(self.bridge)
            self.bridge.close()
        if self.media_at is not None:
            expected = int((time.monotonic() - self.media_at) / 0.02)
            self.report.clock_lag_frames = max(0, expected - self.report.rx_frames)
        if self.recorder is not None:
            self.recorder.close()


def run_calls(target: str, scripts: list[list[bytes]], settings: CallerSettings,
              timeout_s: float = 180.0, stagger_s: float = 0.05,
              log_level: int = 0) -> list[CallReport]:
    """Place one call per script (at most 4), run them to the end, return their reports."""
    if not 1 <= len(scripts) <= MAX_CALLS:
        raise ValueError(f"one caller process places 1 to {MAX_CALLS} calls, not {len(scripts)}")
    endpoint = EndpointSettings(sip_port=0, rtp_port=0, rtp_port_range=0,
                                user_agent="ivr-test-caller", log_level=log_level,
                                jitter_min_prefetch=1)
    ep = create_endpoint(endpoint)
    account = pj.Account()
    account.create(account_config(endpoint, user="caller"), True)
    calls: list[ScriptedCall] = []
    try:
        for index, script in enumerate(scripts):
            calls.append(ScriptedCall(account, index, script, settings))
            calls[-1].makeCall(target, pj.CallOpParam(True))
            _poll(ep, calls, stagger_s)
        deadline = time.monotonic() + timeout_s
        while not all(c.done for c in calls) and time.monotonic() < deadline:
            _poll(ep, calls, 0.02)
        for pending in [c for c in calls if not c.done]:
            pending.report.state = "timeout"
            pending.hangup(pj.CallOpParam())
        end = time.monotonic() + 2
        while time.monotonic() < end and not all(c.done for c in calls):
            _poll(ep, calls, 0.02)
        return [_finished(c) for c in calls]
    finally:
        calls.clear()  # every pjsua2 Call must be gone before the library (no stray references)
        account.shutdown()
        ep.libDestroy()


def _finished(call: ScriptedCall) -> CallReport:
    call.finish()
    return call.report


def _poll(ep: pj.Endpoint, calls: list[ScriptedCall], seconds: float) -> None:
    end = time.monotonic() + seconds
    while True:
        ep.libHandleEvents(5)
        now = time.monotonic()
        for call in calls:
            call.step(now)
        if now >= end:
            return


def load_utterance(path: Path) -> bytes:
    """A WAV file as 8 kHz PCM16 through a G.711 line (what a phone would send)."""
    from ivr.audio.g711 import phone_line
    from ivr.audio.resample import resample
    from ivr.audio.wavfile import read_audio

    pcm, rate = read_audio(path)
    return phone_line(resample(pcm, rate, PHONE_RATE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.sip.caller",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("target", help="SIP URI to call, e.g. sip:hotline@127.0.0.1:5060")
    parser.add_argument("--say", type=Path, action="append", default=[],
                        help="WAV to say after the bot's turn (repeat for several turns)")
    parser.add_argument("--calls", type=int, default=1, help=f"parallel calls (1-{MAX_CALLS})")
    parser.add_argument("--record", type=Path, help="stereo WAV: caller left, bot right")
    parser.add_argument("--report", type=Path, help="write the JSON report here (default stdout)")
    parser.add_argument("--quiet-s", type=float, default=1.2)
    parser.add_argument("--max-wait-s", type=float, default=25.0)
    parser.add_argument("--timeout-s", type=float, default=180.0)
    parser.add_argument("--sip-log-level", type=int, default=0, help="pjsip log level (0-6)")
    args = parser.parse_args(argv)
    utterances = [load_utterance(p) for p in args.say]
    settings = CallerSettings(quiet_s=args.quiet_s, max_wait_s=args.max_wait_s,
                              record=args.record)
    reports = run_calls(args.target, [utterances] * args.calls, settings, args.timeout_s,
                        log_level=args.sip_log_level)
    text = json.dumps([r.to_dict() for r in reports], indent=1)
    if args.report:
        args.report.write_text(text)
    else:
        print(text)
    return 0 if all(r.connected and r.state == "ended" for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
