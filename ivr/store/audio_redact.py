"""Beeping personal data out of a call's stored recording, after the call.

The caller channel (left) of the stereo WAV is transcribed as a whole with word timings; the
words are joined into one text, `Redactor.spans` finds the card numbers, IDs, phone numbers,
e-mails and plan patterns in it, and the audio of the words under each span (plus a little
margin: word timings are approximate) is replaced by a 1 kHz tone or silence. The bot channel
and everything outside the spans keep their samples. The file is rewritten atomically (a
temporary file beside it, then a rename), so a reader sees either the old or the new recording.
"""

from __future__ import annotations

import os
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np

from ivr.asr.base import Word
from ivr.audio.wavfile import write_wav
from ivr.text.redact import Redactor

TONE_HZ = 1000.0
TONE_LEVEL = 0.25          # of full scale: -12 dBFS, plainly audible, never clipping
MARGIN_S = 0.12            # around each span: whisper's word edges are good to ~0.1 s

Transcriber = Callable[[bytes, int], list[Word]]
"""Caller audio (PCM16 mono) and its rate -> the words heard, with timings."""


@dataclass(frozen=True)
class AudioRedaction:
    """What was done to one recording: `spans` beeped (or silenced) covering `redacted_s` of
    audio, among `words` recognised in `audio_s` of caller audio, in `compute_s`."""

    spans: int
    words: int
    audio_s: float
    redacted_s: float
    compute_s: float


def word_spans(words: Sequence[Word], redactor: Redactor) -> list[tuple[float, float]]:
    """(start, end) seconds of the words that the redactor masks in their joined text."""
    text, bounds = "", []
    for word in words:
        token = word.text.strip()
        text += " " if text else ""
        bounds.append((len(text), len(text) + len(token)))
        text += token
    spans = []
    for start, end in redactor.spans(text):
        hit = [w for w, (a, b) in zip(words, bounds) if a < end and b > start]
        if hit:
            spans.append((hit[0].start, hit[-1].end))
    return spans


def _cover(samples: np.ndarray, rate: int, spans: list[tuple[float, float]],
           mode: Literal["beep", "silence"]) -> float:
    """Overwrite `samples` (int16, in place) over each span plus margins; seconds covered."""
    covered = np.zeros(samples.size, dtype=bool)
    for start, end in spans:
        a = max(0, int((start - MARGIN_S) * rate))
        b = min(samples.size, int(np.ceil((end + MARGIN_S) * rate)))
        covered[a:b] = True
    if mode == "beep":
        t = np.arange(samples.size) / rate
        tone = (TONE_LEVEL * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
        samples[covered] = tone[covered]
    else:
        samples[covered] = 0
    return float(covered.sum()) / rate


def redact_recording(path: Path, transcribe: Transcriber, redactor: Redactor,
                     mode: Literal["beep", "silence"] = "beep") -> AudioRedaction:
    """Beep (or silence) the caller's personal data in the stereo recording at `path`, in
    place; the file is rewritten only when something was found."""
    started = time.perf_counter()
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").copy()
    stereo = data.reshape(-1, channels)
    caller = np.ascontiguousarray(stereo[:, 0])
    words = transcribe(caller.tobytes(), rate)
    spans = word_spans(words, redactor)
    redacted_s = 0.0
    if spans:
        redacted_s = _cover(caller, rate, spans, mode)
        stereo[:, 0] = caller
        tmp = path.with_name(f".{path.name}.redacting")
        write_wav(tmp, stereo.tobytes(), rate, channels)
        os.replace(tmp, path)
    return AudioRedaction(len(spans), len(words), round(caller.size / rate, 3),
                          round(redacted_s, 3), round(time.perf_counter() - started, 3))
