"""Speech start/end detection (endpointing) on 20 ms PCM16 frames, built on webrtcvad.

A frame counts as voiced only if webrtcvad says so AND it passes two energy gates:

* an absolute floor (`energy_floor_dbfs`, default -50 dBFS): quieter frames are never speech;
* a noise-floor margin: the frame must be `noise_margin_db` above the quietest frame of the last
  `noise_window_ms`. webrtcvad alone does not reject loud stationary noise: measured with
  webrtcvad-wheels at 8 kHz, aggressiveness 2, white noise at -30 dBFS is classed as speech in
  70-90% of frames for as long as it lasts (at -35 dBFS and below, only the first ~4 frames fire).
  The margin gate removes that. Its limits: a sound held steady for longer than the window without
  any dip stops counting as speech, and noise that starts abruptly after quiet still counts until
  it has lasted `noise_window_ms` (so it can make one bogus turn).

A turn STARTs when `start_ms` of voiced frames fall within the last `start_ms + 100` ms; its time
is backdated to the first voiced frame of that window. It ENDs after `end_silence_ms` of unvoiced
frames (time = end of the last voiced frame) or when it reaches `max_turn_ms`. A turn with less than
`min_speech_ms` voiced ends with a `dropped` END and no audio, so every START is closed.

For each length in `pauses_ms`, a PAUSE (audio so far, time = end of the last voiced frame) is
reported once per silence that reaches it inside a turn: the session starts recognising the turn
at one and asks an end-of-turn model (ivr/audio/turn.py) at another, which may end the turn there
with `end_at_pause`, before `end_silence_ms`.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import webrtcvad

from ivr.audio.frames import FRAME_MS, rms_dbfs

_WINDOW_SLACK_MS = 100


@dataclass
class EndpointerConfig:
    """Tuning of the endpointer; all times in milliseconds."""

    aggressiveness: int = 2  # webrtcvad mode 0..3
    start_ms: int = 120  # voiced ms within the sliding window that declare speech start
    pre_roll_ms: int = 300  # audio kept before the first voiced frame
    end_silence_ms: int = 700  # trailing unvoiced ms that end a turn
    pause_ms: int = 0  # trailing unvoiced ms that report a PAUSE (0: never; see wait())
    max_turn_ms: int = 20000  # a turn is ended when it gets this long
    min_speech_ms: int = 200  # a turn with fewer voiced ms is dropped as a click/noise
    energy_floor_dbfs: float = -50.0  # frames below this level are unvoiced
    noise_margin_db: float = 6.0  # frames this close to the recent noise floor are unvoiced
    noise_window_ms: int = 3000  # how far back the noise floor (quietest frame) is tracked


class SpeechKind(enum.Enum):
    """Which turn boundary a SpeechEvent marks."""

    START = "start"
    END = "end"
    PAUSE = "pause"


@dataclass(frozen=True)
class SpeechEvent:
    """A turn boundary. END carries the utterance audio (pre-roll included) unless `dropped`;
    PAUSE carries the audio so far, silence included."""

    kind: SpeechKind
    t: float  # call time of the speech start / end, seconds
    audio: bytes = b""
    speech_ms: int = 0  # voiced ms: in the trigger window for START, in the whole turn for END
    dropped: bool = False  # END of a turn shorter than min_speech_ms (audio is empty)
    silence_ms: int = 0  # PAUSE: the silence that reported it


class Endpointer:
    """Feed 20 ms PCM16 mono frames at 8 or 16 kHz with `process`; get START/END events."""

    def __init__(self, config: EndpointerConfig | None = None, rate: int = 8000) -> None:
        if rate not in (8000, 16000):
            raise ValueError(f"endpointer supports 8000 or 16000 Hz, not {rate}")
        self.config = config or EndpointerConfig()
        self.rate = rate
        self._frame_bytes = rate * FRAME_MS // 1000 * 2
        self.end_silence_ms = self.config.end_silence_ms
        """Trailing silence that ends a turn; the session sets it per dialplan node (`wait`)."""
        self.pauses_ms: frozenset[int] = frozenset({self.config.pause_ms} - {0})
        """Trailing silences that report a PAUSE (none: never); set per node like
        end_silence_ms."""
        self.reset()

    echo_floor_dbfs: float = float("-inf")
    """Set by the session while the bot speaks: caller frames quieter than this are taken for
    the bot's own echo coming back down the line, not the caller."""

    def reset(self) -> None:
        """Forget all audio and state (e.g. at the start of a new call)."""
        cfg = self.config
        self._vad = webrtcvad.Vad(cfg.aggressiveness)
        self._levels: deque[float] = deque(maxlen=max(1, cfg.noise_window_ms // FRAME_MS))
        self._window_frames = (cfg.start_ms + _WINDOW_SLACK_MS) // FRAME_MS
        self._history: deque[tuple[float, bytes, bool]] = deque(
            maxlen=self._window_frames + cfg.pre_roll_ms // FRAME_MS)
        self._end_turn()

    @property
    def in_speech(self) -> bool:
        """True between a START and its END."""
        return self._in_speech

    @property
    def voiced_ms(self) -> int:
        """Voiced ms in the current turn (0 outside speech), e.g. to gate barge-in."""
        return self._voiced_ms

    @property
    def silent_ms(self) -> int:
        """Unvoiced ms since the last voiced frame of the current turn (0 outside speech)."""
        return self._trailing_ms

    @property
    def current_audio(self) -> bytes:
        """The utterance so far (pre-roll included) while in speech, for interim recognition."""
        return bytes(self._audio) if self._in_speech else b""

    def process(self, frame: bytes, t: float) -> list[SpeechEvent]:
        """Consume one frame starting at call time `t` (seconds); returns the events it caused."""
        if len(frame) != self._frame_bytes:
            raise ValueError(f"expected a {FRAME_MS} ms frame of {self._frame_bytes} bytes, "
                             f"got {len(frame)}")
        voiced = self._is_voiced(frame)
        if not self._in_speech:
            self._history.append((t, frame, voiced))
            return self._try_start()
        self._audio += frame
        frame_end = t + FRAME_MS / 1000
        if voiced:
            self._voiced_ms += FRAME_MS
            self._trailing_ms = 0
            self._voiced_end = frame_end
        else:
            self._trailing_ms += FRAME_MS
        if self._trailing_ms >= self.end_silence_ms:
            return [self._finish(frame_end - self._trailing_ms / 1000)]
        if (frame_end - self._start_t) * 1000 >= self.config.max_turn_ms:
            return [self._finish(frame_end)]
        if self._trailing_ms in self.pauses_ms and self._voiced_ms >= self.config.min_speech_ms:
            return [SpeechEvent(SpeechKind.PAUSE, self._voiced_end, bytes(self._audio),
                                self._voiced_ms, silence_ms=self._trailing_ms)]
        return []

    def wait(self, pauses_ms: tuple[int, ...], end_silence_ms: int) -> None:
        """Report a PAUSE after each of `pauses_ms` of silence (0s are ignored) and end a turn
        after `end_silence_ms`, from the next frame on."""
        self.pauses_ms = frozenset(pauses_ms) - {0}
        self.end_silence_ms = end_silence_ms

    def end_at_pause(self, pause: SpeechEvent) -> SpeechEvent | None:
        """End the turn at `pause` if the caller has not spoken since; the END, or None."""
        if (not self._in_speech or self._trailing_ms < pause.silence_ms
                or self._voiced_end != pause.t):
            return None
        return self._finish(pause.t)

    def _is_voiced(self, frame: bytes) -> bool:
        level = rms_dbfs(frame)
        self._levels.append(level)
        vad_says = self._vad.is_speech(frame, self.rate)  # always run: the VAD adapts to each frame
        cfg = self.config
        return (vad_says and level >= max(cfg.energy_floor_dbfs, self.echo_floor_dbfs)
                and level >= min(self._levels) + cfg.noise_margin_db)

    def _try_start(self) -> list[SpeechEvent]:
        history = list(self._history)
        first = len(history) - self._window_frames
        voiced = [i for i in range(max(0, first), len(history)) if history[i][2]]
        if len(voiced) * FRAME_MS < self.config.start_ms:
            return []
        begin = max(0, voiced[0] - self.config.pre_roll_ms // FRAME_MS)
        self._in_speech = True
        self._start_t = history[voiced[0]][0]
        self._voiced_end = history[voiced[-1]][0] + FRAME_MS / 1000
        self._audio = bytearray(b"".join(f for _, f, _ in history[begin:]))
        self._voiced_ms = len(voiced) * FRAME_MS
        self._history.clear()
        return [SpeechEvent(SpeechKind.START, self._start_t, speech_ms=self._voiced_ms)]

    def _finish(self, t: float) -> SpeechEvent:
        dropped = self._voiced_ms < self.config.min_speech_ms
        event = SpeechEvent(SpeechKind.END, t, b"" if dropped else bytes(self._audio),
                            self._voiced_ms, dropped)
        self._end_turn()
        return event

    def _end_turn(self) -> None:
        self._in_speech = False
        self._start_t = 0.0
        self._voiced_end = 0.0
        self._audio = bytearray()
        self._voiced_ms = 0
        self._trailing_ms = 0
        self._history.clear()
