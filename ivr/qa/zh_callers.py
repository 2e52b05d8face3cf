"""The Mandarin caller set (tests/data/zh_callers.yaml): scripted clinic conversations, each turn
voiced by several voices, normal and shouted, through an 8 kHz G.711 line.

Synthesis is slow on two cores (Kokoro runs at about half real time), and a caller's audio
never changes for the same voice, speed and text, so each synthesised turn is kept at the phone
rate under ``~/.cache/ivr/zh-callers`` (``$IVR_CACHE``), keyed by the voice spec, the kokoro-onnx
version and the text; a voice is only loaded when a turn is missing.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict

from ivr.audio.frames import silence
from ivr.audio.g711 import phone_line
from ivr.models.locator import cache_dir
from ivr.tts.base import TTSEngine
from ivr.tts.store import package_version
from ivr.tts.voices import VoiceSpec, build_voice

Condition = Literal["normal", "shouted"]
SHOUT_RATE = 1.2  # a shouting caller speaks faster ...
SHOUT_GAIN = 4.0  # ... and 12 dB louder, into the clipping of the line
ESPEAK_WPM = 160


class Expectation(BaseModel):
    """How the clinic plan must end a conversation: slots, nodes reached, transfer (or none)."""

    model_config = ConfigDict(extra="forbid")
    slots: dict[str, str] = {}
    nodes: list[str] = []
    transfer: dict[str, str] | None = None


class Conversation(BaseModel):
    """One scripted caller: what they say, turn by turn, and what the plan must make of it."""

    model_config = ConfigDict(extra="forbid")
    id: str
    turns: list[str]
    expect: Expectation


class CallerSet(BaseModel):
    """Voices, conditions, and the dev (tuned on) and holdout (never tuned on) conversations."""

    model_config = ConfigDict(extra="forbid")
    today: datetime.datetime
    voices: list[VoiceSpec]
    conditions: list[Condition]
    dev: list[Conversation]
    holdout: list[Conversation]

    def split(self, name: str) -> list[Conversation]:
        """The conversations of `dev` or `holdout`."""
        return {"dev": self.dev, "holdout": self.holdout}[name]


@dataclass(frozen=True)
class Utterance:
    """One caller turn of one conversation."""

    split: str
    conversation: str
    turn: int
    text: str


def load_callers(path: Path) -> CallerSet:
    """Read and validate a caller set YAML."""
    return CallerSet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def utterances(callers: CallerSet, split: str) -> Iterator[Utterance]:
    """Every turn of every conversation of `split`, in order."""
    for conv in callers.split(split):
        for number, text in enumerate(conv.turns):
            yield Utterance(split, conv.id, number, text)


def voice_label(spec: VoiceSpec) -> str:
    """A short name for a voice: `zf_xiaoyi`, `espeak-ng:cmn`."""
    return spec.voice if spec.engine == "kokoro" else f"{spec.engine}:{spec.voice}"


def shout(pcm: bytes) -> bytes:
    """8 kHz PCM16 twelve decibels louder, hard-clipped at full scale (a shouting caller
    overdriving the handset)."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) * SHOUT_GAIN
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


class CallerVoices:
    """Caller turns as a phone line delivers them, synthesised once and then read from disk."""

    def __init__(self, root: Path | None = None, codec: str = "pcmu") -> None:
        self.root = root or cache_dir() / "zh-callers"
        self.codec = codec
        self._engines: dict[str, TTSEngine] = {}

    def line_audio(self, spec: VoiceSpec, condition: Condition, text: str) -> bytes:
        """`text` said by `spec` in `condition`, through G.711, as 8 kHz PCM16."""
        pcm = self.speech(self._at_speed(spec, condition), text)
        return phone_line(shout(pcm) if condition == "shouted" else pcm, self.codec)

    def conversation_audio(self, spec: VoiceSpec, condition: Condition,
                           turns: list[str]) -> list[bytes]:
        """Each turn of a conversation as line audio, in order."""
        return [self.line_audio(spec, condition, text) for text in turns]

    def speech(self, spec: VoiceSpec, text: str) -> bytes:
        """8 kHz PCM16 of `text` in voice `spec` (before the line): from disk, else synthesised."""
        key = json.dumps([spec.model_dump(), package_version("kokoro-onnx"), text],
                         ensure_ascii=False, sort_keys=True)
        path = self.root / (hashlib.sha256(key.encode("utf-8")).hexdigest() + ".pcm")
        if path.exists():
            return path.read_bytes()
        pcm = b"".join(s.pcm for s in self._engine(spec).speak_all(text))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(pcm)
        partial.replace(path)
        return pcm

    def _engine(self, spec: VoiceSpec) -> TTSEngine:
        label = json.dumps(spec.model_dump(), sort_keys=True)
        if label not in self._engines:
            if spec.engine == "espeak-ng":
                from ivr.tts.espeak_tts import EspeakTTS

                self._engines[label] = EspeakTTS(spec.voice or "cmn",
                                                 round(ESPEAK_WPM * spec.speed))
            else:
                self._engines[label] = build_voice(spec, "zh")
        return self._engines[label]

    @staticmethod
    def _at_speed(spec: VoiceSpec, condition: Condition) -> VoiceSpec:
        speed = spec.speed * (SHOUT_RATE if condition == "shouted" else 1.0)
        return spec.model_copy(update={"speed": speed})


def padded(pcm: bytes, lead_ms: int = 300, tail_ms: int = 700) -> bytes:
    """An utterance as the endpointer hands it to recognition: its pre-roll before the voice and
    the end-of-turn silence after it."""
    return silence(lead_ms) + pcm + silence(tail_ms)
