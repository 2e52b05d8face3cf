"""Per-turn anger from what the caller says and how they say it, with hysteresis across a call.

Words (`word_anger`): phrases in four categories (profanity, insults, frustration, threats to
leave or complain) found with the fuzzy `PhraseMatcher`, plus the same complaint repeated across
turns. Category weights are combined by noisy-OR: word = 1 - prod(1 - w_i).

Voice (`voice_features`, scored against the caller's own baseline):

* loudness: active speech level in dBFS (power mean of the 20 ms frames at least 10 dB over the
  utterance's noise floor, i.e. its 10th-percentile frame), so pauses and pre-roll don't count;
* pitch: median F0 over voiced frames, from a normalised autocorrelation (Boersma's method: the
  Hann-windowed frame's autocorrelation divided by the window's) on 40 ms frames every 10 ms,
  60-400 Hz, voiced when the peak is >= 0.5;
* speaking rate: words (CJK: characters) per second of active speech.

Each is compared with the median of the same feature over this caller's earlier calm turns
(voice score < `calm_voice`): loudness +3..+10 dB, pitch +10..+35 %, rate +20..+60 % ramp from 0
to 1 (the pitch dead zone is wider than the +-10 % a calm speaker varies between sentences, e.g. a
question's rise); voice = voice_cap x sqrt(loud x pitch) x (0.8 + 0.2 rate), scaled down for
turns with less than `min_voiced_s` of speech. Loudness and pitch must BOTH rise (arousal): louder
speech alone (a caller who moves to a noisy street or holds the phone closer, a line's gain) or
higher pitch alone (intonation) scores nothing. The first turn has no baseline and no voice
score; a line that is uniformly loud or noisy gives no delta.
When `rebase_after` turns in a row are voice-hot with no anger words, the baseline is rebuilt
from them (a changed line, not anger).

Turn score = 1 - (1 - word)(1 - voice). `AngerTracker` smooths it, smoothed = alpha x score +
(1 - alpha) x previous, and escalates when smoothed >= threshold or the last `consecutive` turns
all scored >= hot_turn. With the defaults one turn never escalates unless its score is >= 0.9
(voice alone is capped at 0.85), so one loud word or one shouted sentence does not; two hot
turns in a row do. Once
escalated it stays so until smoothed falls below `release`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from statistics import median
from typing import Mapping, Sequence

import numpy as np

from ivr.audio.frames import PHONE_RATE
from ivr.dialog.phrases import PhraseMatcher, tokenize

__all__ = ["AngerAssessment", "AngerConfig", "AngerTracker", "VoiceFeatures", "DEFAULT_LEXICON",
           "CATEGORY_WEIGHTS", "DEFAULT_EXCLUSIONS", "count_words", "estimate_f0", "repeat_similarity",
           "voice_features", "word_anger"]

DEFAULT_LEXICON: dict[str, dict[str, list[str]]] = {
    "profanity": {
        "en": ["fuck", "fucking", "fucked", "fuck off", "shit", "bullshit", "damn", "dammit",
               "goddamn", "goddammit",
               "crap", "bastard", "asshole", "bitch", "piss off", "pissed off", "screw you",
               "what the hell", "bloody hell", "for god's sake", "for christ's sake"],
        "zh": ["他妈的", "妈的", "卧槽", "我靠", "去死", "混蛋", "王八蛋", "滚蛋", "你滚"],
    },
    "insult": {
        "en": ["stupid", "idiot", "idiots", "useless", "incompetent", "pathetic", "moron",
               "dumb", "worthless", "garbage", "rubbish", "clown", "you're a joke",
               "stupid machine", "stupid robot", "useless robot", "brainless", "liars",
               "scammers", "thieves", "rip off"],
        "zh": ["垃圾", "废物", "白痴", "笨蛋", "蠢", "傻", "弱智", "没用", "破系统", "破机器",
               "什么破", "骗子", "智障"],
    },
    "frustration": {
        "en": ["ridiculous", "unacceptable", "outrageous", "fed up", "sick of", "sick and tired",
               "had enough", "waste of time", "waste of my time", "wasting my time", "are you kidding",
               "kidding me", "unbelievable", "for the last time", "i already told you",
               "i already said", "how many times", "listen to me", "you're not listening",
               "not listening", "terrible service", "worst service", "disgusting", "furious",
               "i am angry", "so annoyed", "frustrated", "frustrating", "nonsense", "absurd",
               "joke of a company", "this is a joke", "shut up"],
        "zh": ["太过分", "过分了", "受够了", "气死", "烦死", "离谱", "荒唐", "岂有此理", "不像话",
               "太差", "太差劲", "浪费时间", "说了多少遍", "说了多少次", "听不懂人话", "搞什么",
               "什么玩意", "无语", "生气", "闭嘴"],
    },
    "threat": {
        "en": ["cancel my contract", "cancel my account", "cancel everything",
               "close my account", "switch provider", "switch providers",
               "switch to another provider", "change provider", "going to leave",
               "i'm leaving", "take my business elsewhere", "never use acme again",
               "sue you", "my lawyer", "report you", "file a complaint", "make a complaint",
               "ombudsman", "regulator", "post this online"],
        "zh": ["投诉", "销户", "退网", "携号转网", "换运营商", "不用你们", "告你们", "工信部",
               "曝光", "取消合约"],
    },
}
DEFAULT_EXCLUSIONS: dict[str, list[str]] = {
    "en": ["dumb phone", "garbage collection", "stupid question", "joke aside"],
    "zh": ["垃圾短信", "垃圾邮件", "垃圾电话", "没用过", "没用完", "傻瓜相机"],
}
CATEGORY_WEIGHTS: dict[str, float] = {"profanity": 0.45, "insult": 0.45, "frustration": 0.45,
                                      "threat": 0.35}
_MASKED_PROFANITY = re.compile(r"\b[a-z]\*{2,}[a-z]*", re.IGNORECASE)


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
    match_threshold: float = 0.88  # fuzzy threshold for the anger lexicon
    lexicon: Mapping[str, Mapping[str, Sequence[str]]] = field(
        default_factory=lambda: DEFAULT_LEXICON)
    exclusions: Mapping[str, Sequence[str]] = field(default_factory=lambda: DEFAULT_EXCLUSIONS)


@dataclass(frozen=True)
class AngerAssessment:
    """One turn's anger: `score` of this turn, `smoothed` over the call, `escalate` whether to
    hand the caller to a person now, `evidence` what contributed (words found per category,
    repeats, loudness/pitch/rate and their deltas against the baseline, the partial scores)."""

    score: float
    smoothed: float
    escalate: bool
    evidence: dict


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


# --- words -------------------------------------------------------------------------------------

def _content(text: str) -> set[str]:
    toks = tokenize(text)
    latin = {t.norm for t in toks if not t.cjk and len(t.norm) >= 3 and t.norm not in _STOP}
    cjk = "".join(t.norm for t in toks if t.cjk)
    return latin | {cjk[i:i + 2] for i in range(len(cjk) - 1)}


_STOP = frozenset({"the", "and", "you", "your", "for", "with", "this", "that", "have", "has",
                   "was", "are", "not", "but", "what", "why", "can", "cannot", "please", "will",
                   "just", "about", "there", "they", "them", "then", "than", "its", "from",
                   "how", "who", "would", "could", "should", "did", "does"})


def repeat_similarity(a: str, b: str) -> float:
    """Overlap of the content words (CJK: character pairs) of two turns, |A&B| / min(|A|,|B|);
    0 when either has fewer than two."""
    ca, cb = _content(a), _content(b)
    if len(ca) < 2 or len(cb) < 2:
        return 0.0
    return len(ca & cb) / min(len(ca), len(cb))


class _Lexicon:
    def __init__(self, config: AngerConfig) -> None:
        self.matchers = {cat: PhraseMatcher(phrases, config.exclusions,
                                            threshold=config.match_threshold, cjk_threshold=0.99)
                         for cat, phrases in config.lexicon.items()}


def word_anger(text: str, history: Sequence[str] = (), config: AngerConfig | None = None,
               _lexicon: _Lexicon | None = None) -> tuple[float, dict]:
    """Anger from the words of one turn and the caller's earlier turns: (score, evidence)."""
    config = config or AngerConfig()
    lexicon = _lexicon or _Lexicon(config)
    found: dict[str, list[str]] = {}
    for category, matcher in lexicon.matchers.items():
        hits = [m.matched for m in matcher.find_all(text)]
        if category == "profanity":
            hits += _MASKED_PROFANITY.findall(text)
        if hits:
            found[category] = hits
    remaining = 1.0
    for category in found:
        remaining *= 1 - CATEGORY_WEIGHTS.get(category, 0.35)
    repeats = sum(1 for old in history if repeat_similarity(text, old) >= config.repeat_similarity)
    if repeats:
        remaining *= 1 - (0.3 if repeats == 1 else 0.45)
    evidence: dict = {"words": found} if found else {}
    if repeats:
        evidence["repeats"] = repeats
    return 1 - remaining, evidence


# --- tracker -----------------------------------------------------------------------------------

class AngerTracker:
    """One call's anger: call `assess` once per caller turn, with the turn's audio if any."""

    def __init__(self, config: AngerConfig | None = None) -> None:
        self.config = config or AngerConfig()
        self._lexicon = _Lexicon(self.config)
        self.reset()

    def reset(self) -> None:
        """Forget the call (history, baseline, smoothed score)."""
        self.smoothed = 0.0
        self.escalated = False
        self.history: list[str] = []
        self.scores: list[float] = []
        self._baseline: list[VoiceFeatures] = []
        self._hot_voice: list[VoiceFeatures] = []

    def assess(self, text: str, audio: bytes | None = None, rate: int = PHONE_RATE,
               speech_s: float | None = None) -> AngerAssessment:
        """Score one turn: `text` as recognised, `audio` its PCM16 mono utterance at `rate`,
        `speech_s` the voiced seconds if the caller knows them better (endpointer)."""
        cfg = self.config
        word, evidence = word_anger(text, self.history, cfg, self._lexicon)
        evidence["word_score"] = round(word, 3)
        voice = 0.0
        if audio:
            feats = voice_features(audio, rate, text, speech_s)
            voice = self._voice_score(feats, evidence)
            self._update_baseline(feats, voice, word)
        score = 1 - (1 - word) * (1 - voice)
        self.smoothed = cfg.alpha * score + (1 - cfg.alpha) * self.smoothed
        self.scores.append(score)
        self.history.append(text)
        recent = self.scores[-cfg.consecutive:]
        hot_run = len(recent) == cfg.consecutive and all(s >= cfg.hot_turn for s in recent)
        if self.smoothed >= cfg.threshold or hot_run:
            if not self.escalated:
                evidence["trigger"] = "smoothed" if self.smoothed >= cfg.threshold else "hot_turns"
            self.escalated = True
        elif self.smoothed < cfg.release:
            self.escalated = False
        return AngerAssessment(round(score, 4), round(self.smoothed, 4), self.escalated, evidence)

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
        if not self._baseline:
            evidence["voice_score"] = 0.0
            return 0.0
        parts = {"loud": 0.0, "pitch": 0.0, "rate": 0.0}
        base_level = _median([b.level_dbfs for b in self._baseline])
        if feats.level_dbfs is not None and base_level is not None:
            delta = feats.level_dbfs - base_level
            evidence["loudness_delta_db"] = round(delta, 1)
            parts["loud"] = _ramp(delta, *cfg.loud_db)
        base_f0 = _median([b.f0_hz for b in self._baseline])
        if feats.f0_hz is not None and base_f0:
            delta = 100 * (feats.f0_hz / base_f0 - 1)
            evidence["pitch_delta_pct"] = round(delta, 1)
            parts["pitch"] = _ramp(delta, *cfg.pitch_pct)
        base_rate = _median([b.rate_wps for b in self._baseline])
        if feats.rate_wps is not None and base_rate:
            delta = 100 * (feats.rate_wps / base_rate - 1)
            evidence["rate_delta_pct"] = round(delta, 1)
            parts["rate"] = _ramp(delta, *cfg.rate_pct)
        reliability = min(1.0, feats.voiced_s / cfg.min_voiced_s)
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


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(median(present)) if present else None
