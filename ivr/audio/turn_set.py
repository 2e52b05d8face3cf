"""The paused-utterance sets (tests/data/paused_utterances.yaml, English, and
paused_utterances_zh.yaml, Mandarin): load them and voice them.

Every part is spoken with deterministic prosody (English by piper, Mandarin by a Kokoro voice),
trimmed of the voice's own leading and trailing quiet (so a pause lasts exactly what the set
says), joined with digital silence and sent through a G.711 line, so the true speech boundaries
are known to the sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from ivr.audio.frames import PHONE_RATE, silence
from ivr.audio.g711 import phone_line
from ivr.tts.base import TTSEngine

DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "paused_utterances.yaml"
ZH_VOICE = "zf_xiaoyi"  # a Mandarin item's Kokoro voice unless it names another
LEAD_S = 0.5  # silence before the turn
TAIL_S = 2.0  # silence after it: longer than any silence bound


@dataclass(frozen=True)
class TurnItem:
    """One caller turn: texts with the pauses between them."""

    id: str
    texts: tuple[str, ...]
    pauses: tuple[float, ...]
    slot: str | None = None
    speed: float = 1.0  # length scale: > 1 is slower speech
    codec: str = "pcmu"
    lang: str = "en"
    voice: str | None = None  # a Kokoro voice for Mandarin items

    @property
    def paused(self) -> bool:
        return bool(self.pauses)


@dataclass(frozen=True)
class VoicedTurn:
    """An item as 8 kHz PCM16 after the phone line, with where each part's speech lies (s)."""

    item: TurnItem
    pcm: bytes
    spans: tuple[tuple[float, float], ...] = field(default_factory=tuple)

    @property
    def speech_end(self) -> float:
        return self.spans[-1][1]

    @property
    def last_part_start(self) -> float:
        return self.spans[-1][0]


def load_turn_set(path: Path = DEFAULT_SET) -> dict[str, list[TurnItem]]:
    """{"dev": [...], "holdout": [...]} from the YAML set."""
    raw = yaml.safe_load(Path(path).read_text())
    return {part: [_item(entry) for entry in entries] for part, entries in raw.items()}


def _item(entry: dict) -> TurnItem:
    parts = entry["parts"]
    texts = tuple(str(p) for p in parts[0::2])
    pauses = tuple(float(p) for p in parts[1::2])
    if len(texts) != len(pauses) + 1:
        raise ValueError(f"{entry['id']}: parts must alternate text, pause, text...")
    return TurnItem(entry["id"], texts, pauses, entry.get("slot"), float(entry.get("speed", 1.0)),
                    entry.get("codec", "pcmu"), entry.get("lang", "en"), entry.get("voice"))


def _trim(pcm: bytes, floor_dbfs: float = -45.0) -> bytes:
    """`pcm` without leading and trailing 10 ms blocks quieter than `floor_dbfs`."""
    block = PHONE_RATE // 100
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0
    count = len(samples) // block
    rms = np.sqrt(np.mean(samples[:count * block].reshape(count, block) ** 2, axis=1) + 1e-12)
    loud = np.nonzero(20 * np.log10(rms) >= floor_dbfs)[0]
    if not len(loud):
        return b""
    return pcm[loud[0] * block * 2:(loud[-1] + 1) * block * 2]


def voice_turn(item: TurnItem, voice_for: Callable[[TurnItem], TTSEngine]) -> VoicedTurn:
    """Speak `item` with its voice (`voice_for`, e.g. `caller_voices()`) and pass it through its
    codec."""
    voice = voice_for(item)
    pieces, spans, t = [silence(int(LEAD_S * 1000))], [], LEAD_S
    for i, text in enumerate(item.texts):
        if i:
            pieces.append(silence(int(item.pauses[i - 1] * 1000)))
            t += item.pauses[i - 1]
        speech = _trim(b"".join(s.pcm for s in voice.speak_all(text)))
        pieces.append(speech)
        spans.append((t, t + len(speech) / (2 * PHONE_RATE)))
        t = spans[-1][1]
    pieces.append(silence(int(TAIL_S * 1000)))
    return VoicedTurn(item, phone_line(b"".join(pieces), item.codec), tuple(spans))


def caller_voices() -> Callable[[TurnItem], TTSEngine]:
    """The synthetic callers' voices, built once each: piper's for English at the item's speed
    (deterministic prosody), a Kokoro voice for Mandarin (`TurnItem.voice`, default ZH_VOICE)."""
    from ivr.models.locator import piper_joe
    from ivr.tts.piper_tts import PiperTTS
    from ivr.tts.voices import VoiceSpec, build_voice

    voices: dict[tuple, TTSEngine] = {}

    def voice_for(item: TurnItem) -> TTSEngine:
        key = (item.lang, item.voice, item.speed)
        if key not in voices:
            if item.lang == "zh":
                spec = VoiceSpec(engine="kokoro", voice=item.voice or ZH_VOICE,
                                 speed=1.0 / item.speed)
                voices[key] = build_voice(spec, "zh")
            else:
                voices[key] = PiperTTS(*piper_joe(), length_scale=item.speed, deterministic=True)
        return voices[key]

    return voice_for
