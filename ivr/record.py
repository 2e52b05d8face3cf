"""Reading a call record back: the one reader of the JSON lines `ivr.events.EventLog` writes.

The benchmarks, the QA tools and the tests read records through here, so a change to the line
format is made in `ivr.events` and here only. A record may still be being written (a live call)
or cut short (a crash): a last line without its newline is not read yet.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.audio.frames import PHONE_RATE
from ivr.audio.resample import resample
from ivr.audio.wavfile import read_audio
from ivr.errors import AudioInputError
from ivr.events import RESERVED, SCHEMA_VERSION, Event


class RecordError(ValueError):
    """A line that is not an event of a schema this reader knows."""


def parse_line(line: str) -> Event:
    """One JSON line of a call record as an `Event` (lines from before versioning count as 1)."""
    fields = json.loads(line)
    version = fields.get("v", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(f"call record schema v{version}; this reader knows up to "
                          f"v{SCHEMA_VERSION}")
    return Event(fields["t"], fields["kind"],
                 {k: v for k, v in fields.items() if k not in RESERVED}, fields["wall"])


def read_events(path: Path) -> list[Event]:
    """Every complete line of the record at `path`; RecordError names the line that is not."""
    text = path.read_text(encoding="utf-8")
    complete = text[:text.rfind("\n") + 1]
    events = []
    for number, line in enumerate(complete.splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append(parse_line(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise RecordError(f"{path}:{number}: {exc}") from exc
    return events


@dataclass
class CallRecord:
    """One call's record: its events in order, and the stereo recording next to it (SIP calls).

    Events read like the JSON lines they came from: `record.one("call.end")["reason"]`.
    """

    events_path: Path
    events: list[Event]

    @classmethod
    def read(cls, path: Path) -> CallRecord:
        return cls(path, read_events(path))

    @property
    def finished(self) -> bool:
        """The SIP driver has written its last event (`media.stats`): the record is complete."""
        return bool(self.events) and self.events[-1].kind == "media.stats"

    @property
    def wav(self) -> Path:
        """The SIP driver's stereo recording (caller left, bot right) of this call."""
        return self.events_path.with_suffix(".wav")

    def caller_audio(self, wav: Path | None = None) -> bytes:
        """The caller's side of the recording (`wav`, default `self.wav`) as 8 kHz PCM16: the
        left channel of the SIP driver's stereo PCM16 WAV, or a mono WAV of the caller alone in
        any encoding `read_audio` takes (G.711 keeps stored calls small)."""
        path = wav or self.wav
        if not path.is_file():
            raise AudioInputError(f"{path}: recording missing")
        try:
            with wave.open(str(path)) as audio:
                channels, width, rate = (audio.getnchannels(), audio.getsampwidth(),
                                         audio.getframerate())
                data = audio.readframes(audio.getnframes())
        except (wave.Error, EOFError):  # not plain PCM (G.711, float): mono files only
            channels = 1
        if channels == 1:
            pcm, rate = read_audio(path)
        elif width == 2:
            pcm = np.frombuffer(data, "<i2")[0::channels].tobytes()
        else:
            raise AudioInputError(f"{path}: a stereo recording must be 16-bit PCM (caller left)")
        return resample(pcm, rate, PHONE_RATE)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def one(self, kind: str) -> Event:
        """The only event of `kind`; LookupError (listing the kinds) if there is not exactly one."""
        found = self.of(kind)
        if len(found) != 1:
            raise LookupError(f"expected one {kind!r}, got {len(found)}: {self.kinds()}")
        return found[0]

    def said(self) -> str:
        """Everything the bot said, in order."""
        return " ".join(e.data["text"] for e in self.of("bot.say"))
