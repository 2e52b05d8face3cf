"""Per-turn anger from what the caller says and how they say it, with hysteresis across a call.

Words: the guard (`ivr.safety.guard`) finds hostile phrases (profanity, insults, accusations of
fraud, threats: the built-in lexicon plus the plan's `anger_phrases`), civil frustration, and the
learned net's angry/frustrated probabilities, and passes a word score with its evidence; this
module adds the same complaint repeated across turns.

Voice (`voice_features`):

* loudness: active speech level in dBFS (power mean of the 20 ms frames at least 10 dB over the
  utterance's noise floor, i.e. its 10th-percentile frame), so pauses and pre-roll don't count;
* pitch: median F0 over voiced frames, from a normalised autocorrelation (Boersma's method: the
  Hann-windowed frame's autocorrelation divided by the window's) on 40 ms frames every 10 ms,
  60-400 Hz, voiced when the peak is >= 0.5;
* speaking rate: words (CJK: characters) per second of active speech.

Each is compared with the caller's own calm turns (voice score < `calm_voice`) once there are
any, and before that with typical telephone speech (`TYPICAL_SPEECH`: an active level of
-20 dBFS, 120 Hz for a voice under 200 Hz and 210 Hz over it, the score weighted 0.7):
loudness +3..+10 dB, pitch +10..+35 %, rate +20..+60 % ramp from 0 to 1; voice = voice_cap x sqrt(loud x pitch) x (0.8 + 0.2 rate),
scaled down for turns with less than `min_voiced_s` of speech. Loudness and pitch must BOTH rise
(arousal): louder speech alone (a loud line, a caller holding the phone close) or higher pitch
alone (intonation) scores nothing. When `rebase_after` turns in a row are voice-hot with no anger
words, the baseline is rebuilt from them (a changed line, not anger).

Turn score = 1 - (1 - word)(1 - voice). `AngerTracker` smooths it (smoothed = alpha x score +
(1 - alpha) x previous) and reports `hostile` when one turn with anger words scores >=
hostile_turn: with the voice once the caller has calm turns of their own (a complaint shouted
against them is acted on at once, a shouted calm sentence is not), on the words alone before
that (against typical speech a loud line or a high voice sounds like shouting; there the voice
makes the turn hot and raises the smoothed score, so a second complaint escalates). `escalate`
when hostile, when smoothed >= threshold or when the last `consecutive` turns all
scored >= hot_turn (the voice alone needs two such turns, each against the caller's own calm
voice: a calm caller who is loud and high-pitched from the first word is not angry). Once
escalated it stays so until smoothed falls below `release`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median
from typing import Sequence

import numpy as np

from ivr.audio.frames import PHONE_RATE
from ivr.text.normalize import content_units, tokenize

__all__ = ["AngerAssessment", "AngerConfig", "AngerTracker", "TYPICAL_SPEECH", "VoiceFeatures",
           "count_words", "estimate_f0", "repeat_similarity", "voice_features"]

@dataclass(frozen=True)
class AngerConfig:
    """Tuning of `AngerTracker` (see the module doc for how each value is used)."""

    threshold: float = 0.45        # smoothed score that escalates
    release: float = 0.30          # smoothed score below which an escalation is released
    alpha: float = 0.5             # weight of the newest turn in the smoothed score
    hot_turn: float = 0.40         # a turn scoring this much counts as hot
    consecutive: int = 2           # this many hot turns in a row escalate
    voice_cap: float = 0.85        # the voice alone never scores more
    min_voiced_s: float = 0.8      # shorter speech scales the voice score down
    calm_voice: float = 0.30       # turns under this voice score feed the baseline
    baseline_turns: int = 6        # calm turns kept for the baseline
    rebase_after: int = 3          # voice-hot turns without anger words that rebuild it
    loud_db: tuple[float, float] = (3.0, 10.0)
    pitch_pct: tuple[float, float] = (10.0, 35.0)
    rate_pct: tuple[float, float] = (20.0, 60.0)
    repeat_similarity: float = 0.6
    hostile_turn: float = 0.60     # one turn scoring this much is hostile (acted on at once)


@dataclass(frozen=True)
class AngerAssessment:
    """One turn's anger: `score` of this turn, `smoothed` over the call, `escalate` whether to
    hand the caller to a person now, `evidence` what contributed (words found per category,
    repeats, loudness/pitch/rate and their deltas against the baseline, the partial scores)."""

    score: float
    smoothed: float
    escalate: bool
    evidence: dict
    hostile: bool = False


@dataclass(frozen=True)
class VoiceFeatures:
    """Voice measurements of one utterance; None where they could not be measured."""

    level_dbfs: float | None
    f0_hz: float | None
    voiced_s: float
    rate_wps: float | None


# --- voice -------------------------------------------------------------------------------------

def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64) / 32768.0


def _frame_levels(x: np.ndarray, rate: int, frame_s: float = 0.02) -> np.ndarray:
    n = int(rate * frame_s)
    count = len(x) // n
    if count == 0:
        return np.zeros(0)
    power = np.mean(x[: count * n].reshape(count, n) ** 2, axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


def _active_mask(levels: np.ndarray) -> np.ndarray:
    if levels.size == 0:
        return np.zeros(0, dtype=bool)
    floor = float(np.percentile(levels, 10))
    mask = (levels >= floor + 10.0) & (levels >= -55.0)
    if not mask.any():  # no pauses at all: keep the louder frames
        mask = (levels >= float(levels.max()) - 15.0) & (levels >= -55.0)
    return mask


def estimate_f0(samples: np.ndarray, rate: int = PHONE_RATE, fmin: float = 60.0,
                fmax: float = 400.0, frame_s: float = 0.04, hop_s: float = 0.01,
                voicing: float = 0.5) -> np.ndarray:
    """F0 in Hz of each frame of float `samples` (NaN where unvoiced or silent), by normalised
    autocorrelation with parabolic peak interpolation; the shortest lag within 10 % of the best
    peak wins, which avoids the usual octave-down errors."""
    x = np.asarray(samples, dtype=np.float64)
    n, hop = int(rate * frame_s), int(rate * hop_s)
    if len(x) < n:
        return np.zeros(0)
    count = 1 + (len(x) - n) // hop
    idx = np.arange(n)[None, :] + hop * np.arange(count)[:, None]
    frames = x[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.mean(frames ** 2, axis=1)
    window = np.hanning(n)
    size = 1 << (2 * n - 1).bit_length()
    spec = np.fft.rfft(frames * window, size, axis=1)
    acf = np.fft.irfft(np.abs(spec) ** 2, size, axis=1)[:, :n]
    wspec = np.fft.rfft(window, size)
    wacf = np.fft.irfft(np.abs(wspec) ** 2, size)[:n]
    r0 = np.maximum(acf[:, :1], 1e-20)
    norm = (acf / r0) / (wacf / wacf[0])
    lag_min, lag_max = max(2, int(rate / fmax)), min(n - 2, int(math.ceil(rate / fmin)))
    seg = norm[:, lag_min:lag_max + 1]
    f0 = np.full(count, np.nan)
    loud = energy > max(1e-9, float(np.percentile(energy, 95)) * 1e-3)
    for i in np.nonzero(loud)[0]:
        row = seg[i]
        peaks = np.nonzero((row[1:-1] > row[:-2]) & (row[1:-1] >= row[2:]))[0] + 1
        if peaks.size == 0:
            continue
        best = float(row[peaks].max())
        if best < voicing:
            continue
        k = int(peaks[np.argmax(row[peaks] >= 0.9 * best)])  # first peak near the best
        a, b, c = row[k - 1], row[k], row[k + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom != 0 else 0.0
        lag = lag_min + k + float(np.clip(shift, -0.5, 0.5))
        f0[i] = rate / lag
    return f0


def count_words(text: str) -> int:
    """Words for the speaking rate: Latin words, and each CJK character (about a syllable)."""
    return len(tokenize(text))


def voice_features(pcm: bytes, rate: int = PHONE_RATE, text: str | None = None,
                   speech_s: float | None = None) -> VoiceFeatures:
    """Loudness, pitch and speaking rate of one PCM16 mono utterance. `speech_s` (e.g. the
    endpointer's voiced time) overrides the measured active speech time for the rate."""
    x = _samples(pcm)
    levels = _frame_levels(x, rate)
    mask = _active_mask(levels)
    voiced_s = float(mask.sum()) * 0.02
    level = None
    if mask.any():
        level = float(10 * np.log10(np.mean(10 ** (levels[mask] / 10))))
    f0 = estimate_f0(x, rate)
    f0_hz = None
    if f0.size:
        # keep pitch frames inside active speech (frames every 10 ms vs levels every 20 ms)
        centres = (np.arange(f0.size) * 0.01 + 0.02) / 0.02
        inside = mask[np.minimum(centres.astype(int), max(mask.size - 1, 0))] if mask.size else \
            np.zeros(f0.size, dtype=bool)
        voiced = f0[inside & ~np.isnan(f0)]
        if voiced.size >= 5:
            f0_hz = float(np.median(voiced))
    duration = speech_s if speech_s else voiced_s
    rate_wps = None
    if text and duration >= 0.3:
        rate_wps = count_words(text) / duration
    return VoiceFeatures(level, f0_hz, voiced_s, rate_wps)


def _ramp(value: float, lo: float, hi: float) -> float:
    return float(min(1.0, max(0.0, (value - lo) / (hi - lo))))


# --- words ---------------------------------------------------------------------------------

def repeat_similarity(a: str, b: str) -> float:
    """Overlap of the content words (CJK: character pairs) of two turns, |A&B| / min(|A|,|B|);
    0 when either has fewer than two."""
    ca, cb = content_units(a), content_units(b)
    if len(ca) < 2 or len(cb) < 2:
        return 0.0
    return len(ca & cb) / min(len(ca), len(cb))


TYPICAL_SPEECH = {"level_dbfs": -20.0, "low_f0_hz": 120.0, "high_f0_hz": 210.0,
                  "split_f0_hz": 200.0, "weight": 0.7}
"""Typical telephone speech, the first turn's reference before the caller has a baseline."""


# --- tracker -----------------------------------------------------------------------------------

class AngerTracker:
    """One call's anger: call `assess` once per caller turn, with the turn's audio if any."""

    def __init__(self, config: AngerConfig | None = None) -> None:
        self.config = config or AngerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the call (history, baseline, smoothed score)."""
        self.smoothed = 0.0
        self.escalated = False
        self.history: list[str] = []
        self.hot: list[bool] = []   # per turn: hot enough to count towards `consecutive`
        self._baseline: list[VoiceFeatures] = []
        self._hot_voice: list[VoiceFeatures] = []

    def assess(self, text: str, word: float, evidence: dict, audio: bytes | None = None,
               rate: int = PHONE_RATE, speech_s: float | None = None) -> AngerAssessment:
        """Score one turn: `text` as recognised, `word` the anger its words carry (0..1, with its
        `evidence`), `audio` its PCM16 mono utterance at `rate`, `speech_s` the voiced seconds if
        the caller knows them better (endpointer)."""
        cfg = self.config
        evidence = dict(evidence)
        repeats = sum(1 for old in self.history
                      if repeat_similarity(text, old) >= cfg.repeat_similarity)
        if repeats:
            evidence["repeats"] = repeats
            word = 1 - (1 - word) * (1 - (0.3 if repeats == 1 else 0.45))
        evidence["word_score"] = round(word, 3)
        voice = 0.0
        if audio:
            feats = voice_features(audio, rate, text, speech_s)
            voice = self._voice_score(feats, evidence)
            self._update_baseline(feats, voice, word)
        score = 1 - (1 - word) * (1 - voice)
        self.smoothed = cfg.alpha * score + (1 - cfg.alpha) * self.smoothed
        self.history.append(text)
        # A voice only counts as hot on its own against the caller's own calm turns: against
        # typical speech a naturally high or loud calm voice would look the same.
        own_baseline = evidence.get("baseline_turns", 0) > 0
        self.hot.append(score >= cfg.hot_turn and (word > 0 or own_baseline))
        recent = self.hot[-cfg.consecutive:]
        hot_run = len(recent) == cfg.consecutive and all(recent)
        # One turn is hostile on its words, and on the voice only against this caller's own calm
        # turns: against typical speech, a loud line or a naturally high voice reads as shouting
        # (Kokoro's Mandarin women speak at 221-294 Hz, its English ones at 175-206 Hz, against
        # the typical 210 Hz), so there the voice adds to the call's score and makes the turn
        # hot (a second complaint then escalates), but does not make civil frustration hostile.
        hostile = word > 0 and (score if own_baseline else word) >= cfg.hostile_turn
        if hostile or self.smoothed >= cfg.threshold or hot_run:
            if not self.escalated:
                evidence["trigger"] = ("hostile_turn" if hostile else "smoothed"
                                       if self.smoothed >= cfg.threshold else "hot_turns")
            self.escalated = True
        elif self.smoothed < cfg.release:
            self.escalated = False
        return AngerAssessment(round(score, 4), round(self.smoothed, 4), self.escalated, evidence,
                               hostile)

    def _voice_score(self, feats: VoiceFeatures, evidence: dict) -> float:
        cfg = self.config
        evidence["voiced_s"] = round(feats.voiced_s, 2)
        if feats.level_dbfs is not None:
            evidence["loudness_dbfs"] = round(feats.level_dbfs, 1)
        if feats.f0_hz is not None:
            evidence["pitch_hz"] = round(feats.f0_hz, 1)
        if feats.rate_wps is not None:
            evidence["rate_wps"] = round(feats.rate_wps, 2)
        evidence["baseline_turns"] = len(self._baseline)
        baseline = self._baseline or [_typical_speech(feats)]
        parts = {"loud": 0.0, "pitch": 0.0, "rate": 0.0}
        base_level = _median([b.level_dbfs for b in baseline])
        if feats.level_dbfs is not None and base_level is not None:
            delta = feats.level_dbfs - base_level
            evidence["loudness_delta_db"] = round(delta, 1)
            parts["loud"] = _ramp(delta, *cfg.loud_db)
        base_f0 = _median([b.f0_hz for b in baseline])
        if feats.f0_hz is not None and base_f0:
            delta = 100 * (feats.f0_hz / base_f0 - 1)
            evidence["pitch_delta_pct"] = round(delta, 1)
            parts["pitch"] = _ramp(delta, *cfg.pitch_pct)
        base_rate = _median([b.rate_wps for b in baseline])
        if feats.rate_wps is not None and base_rate:
            delta = 100 * (feats.rate_wps / base_rate - 1)
            evidence["rate_delta_pct"] = round(delta, 1)
            parts["rate"] = _ramp(delta, *cfg.rate_pct)
        reliability = min(1.0, feats.voiced_s / cfg.min_voiced_s)
        if not self._baseline:  # against typical speech, not this caller's own: less sure
            reliability *= TYPICAL_SPEECH["weight"]
        joint = math.sqrt(parts["loud"] * parts["pitch"])  # arousal: both must rise
        voice = cfg.voice_cap * reliability * joint * (0.8 + 0.2 * parts["rate"])
        evidence["voice_score"] = round(voice, 3)
        return voice

    def _update_baseline(self, feats: VoiceFeatures, voice: float, word: float) -> None:
        cfg = self.config
        if feats.level_dbfs is None and feats.f0_hz is None:
            return
        if voice < cfg.calm_voice:
            self._baseline.append(feats)
            self._hot_voice.clear()
        elif word < 0.2:
            self._hot_voice.append(feats)
            if len(self._hot_voice) >= cfg.rebase_after:  # a changed line, not anger
                self._baseline = list(self._hot_voice)
                self._hot_voice.clear()
        else:
            self._hot_voice.clear()
        del self._baseline[:-cfg.baseline_turns]


def _typical_speech(feats: VoiceFeatures) -> VoiceFeatures:
    """Typical telephone speech for a voice like `feats` (low or high), with no rate."""
    low = feats.f0_hz is None or feats.f0_hz < TYPICAL_SPEECH["split_f0_hz"]
    return VoiceFeatures(TYPICAL_SPEECH["level_dbfs"],
                         TYPICAL_SPEECH["low_f0_hz" if low else "high_f0_hz"], 1.0, None)


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(median(present)) if present else None
