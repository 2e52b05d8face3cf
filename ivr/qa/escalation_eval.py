"""Precision and recall of the hand-off guards (emergency, "a person please", anger) on a
labelled development set, from text or through the whole audio path.

Text mode classifies each utterance's text. Audio mode takes the English utterances, speaks each
with piper at normal gain and at every gain in `gains` (default x4, +12 dB: a loud or shouting
caller), passes it through an 8 kHz G.711 line (`synth_caller`), transcribes it with whisper
tiny.en and classifies what was heard, with the utterance audio feeding the voice part of the
anger score against a calm first turn by the same voice. A loud neutral utterance must stay
neutral: loudness alone is not anger.

The set file (YAML): `phrases` {class: {language: [phrases]}} for emergency and human,
`exclusions` {language: [phrases]}, and `utterances`: [{text, lang, label, tags?, context?}].
One turn gets one label, in priority order emergency > human > angry > neutral; "angry" means
this turn alone scores at least `AngerConfig.hot_turn` (escalating on anger needs two such turns
in a call, or a smoothed score over the threshold; see ivr/dialog/anger.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from ivr.dialog.anger import AngerConfig, AngerTracker
from ivr.dialog.phrases import PhraseMatcher
from ivr.errors import IvrError

__all__ = ["CLASSES", "DevItem", "DevSet", "EscalationClassifier", "Classification", "ItemResult",
           "ClassScore", "EscalationReport", "load_set", "evaluate", "score_results"]

CLASSES = ("emergency", "human", "angry", "neutral")
BASELINE_SENTENCE = "Hello, I have a question about my account."


@dataclass(frozen=True)
class DevItem:
    """One labelled caller turn."""

    text: str
    lang: str
    label: str
    tags: tuple[str, ...] = ()
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class DevSet:
    phrases: dict[str, dict[str, list[str]]]
    exclusions: dict[str, list[str]]
    items: tuple[DevItem, ...]


def load_set(path: str | Path) -> DevSet:
    """Read and check a development set file (see the module doc)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IvrError(f"{path}: cannot read the set: {str(exc).splitlines()[0]}") from exc
    items = []
    for n, entry in enumerate(raw.get("utterances") or [], 1):
        label = entry.get("label")
        if label not in CLASSES or not entry.get("text"):
            raise IvrError(f"{path}: utterance {n} needs text and a label in {', '.join(CLASSES)}")
        items.append(DevItem(str(entry["text"]), str(entry.get("lang", "en")), label,
                             tuple(entry.get("tags") or ()), tuple(entry.get("context") or ())))
    phrases = {cls: {lang: list(p) for lang, p in (raw.get("phrases", {}).get(cls) or {}).items()}
               for cls in ("emergency", "human")}
    exclusions = {lang: list(p) for lang, p in (raw.get("exclusions") or {}).items()}
    return DevSet(phrases, exclusions, tuple(items))


@dataclass(frozen=True)
class Classification:
    """The label of one turn and why (`detail`: the phrase matched or the anger evidence)."""

    label: str
    detail: dict = field(default_factory=dict)


class EscalationClassifier:
    """The hand-off guards as one classifier of a single caller turn."""

    def __init__(self, phrases: dict[str, dict[str, list[str]]],
                 exclusions: dict[str, list[str]] | None = None,
                 anger: AngerConfig | None = None, threshold: float = 0.8) -> None:
        self.emergency = PhraseMatcher(phrases.get("emergency", {}), exclusions, threshold)
        self.human = PhraseMatcher(phrases.get("human", {}), exclusions, threshold)
        self.anger_config = anger or AngerConfig()

    def classify(self, text: str, context: Sequence[str] = (), audio: bytes | None = None,
                 baseline_audio: bytes | None = None, rate: int = 8000) -> Classification:
        """Label `text` (one caller turn after `context`); `audio` is its utterance and
        `baseline_audio` an earlier calm turn of the same caller, for the voice cues."""
        if match := self.emergency.find(text):
            return Classification("emergency", {"phrase": match.phrase, "score": match.score})
        if match := self.human.find(text):
            return Classification("human", {"phrase": match.phrase, "score": match.score})
        tracker = AngerTracker(self.anger_config)
        if baseline_audio is not None:
            tracker.assess(BASELINE_SENTENCE, baseline_audio, rate)
        for earlier in context:
            tracker.assess(earlier)
        result = tracker.assess(text, audio, rate)
        label = "angry" if result.score >= self.anger_config.hot_turn else "neutral"
        return Classification(label, {"anger": result.score, **result.evidence})


@dataclass(frozen=True)
class ItemResult:
    """One classified utterance (`variant`: "text", or "gain=x" in audio mode)."""

    item: DevItem
    predicted: str
    variant: str = "text"
    heard: str | None = None
    detail: dict = field(default_factory=dict)

    @property
    def correct(self) -> bool:
        return self.predicted == self.item.label


@dataclass(frozen=True)
class ClassScore:
    support: int
    predicted: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else math.nan

    @property
    def recall(self) -> float:
        return self.true_positives / self.support if self.support else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r and not math.isnan(p + r) else math.nan


@dataclass
class EscalationReport:
    """Per-class precision/recall over `results`; `table()` renders it for people."""

    mode: str
    set_path: str
    results: list[ItemResult]
    per_class: dict[str, ClassScore]
    confusion: dict[tuple[str, str], int]

    @property
    def accuracy(self) -> float:
        return sum(r.correct for r in self.results) / len(self.results) if self.results else math.nan

    def errors(self) -> list[ItemResult]:
        return [r for r in self.results if not r.correct]

    def table(self) -> str:
        def fmt(x: float) -> str:
            return "   -" if math.isnan(x) else f"{x:.2f}"

        lines = [f"escalation eval: {self.set_path} ({self.mode}, {len(self.results)} utterances)",
                 "", f"{'class':10} {'support':>7} {'predicted':>9} {'precision':>9} "
                     f"{'recall':>6} {'f1':>5}"]
        for cls in CLASSES:
            s = self.per_class[cls]
            lines.append(f"{cls:10} {s.support:7d} {s.predicted:9d} {fmt(s.precision):>9} "
                         f"{fmt(s.recall):>6} {fmt(s.f1):>5}")
        lines += [f"accuracy {fmt(self.accuracy)}", "",
                  "confusion (rows: label, columns: predicted)",
                  f"{'':10} " + " ".join(f"{c:>9}" for c in CLASSES)]
        for gold in CLASSES:
            lines.append(f"{gold:10} " + " ".join(f"{self.confusion.get((gold, p), 0):9d}"
                                                  for p in CLASSES))
        errors = self.errors()
        if errors:
            lines += ["", f"errors ({len(errors)}):"]
            for r in errors:
                heard = f"  [heard: {r.heard!r}]" if r.heard is not None else ""
                variant = f" ({r.variant})" if r.variant != "text" else ""
                lines.append(f"  {r.item.label:9} -> {r.predicted:9} {r.item.text!r}{variant}{heard}")
        return "\n".join(lines)


def score_results(results: Sequence[ItemResult], mode: str = "text",
                  set_path: str = "") -> EscalationReport:
    """Per-class counts and the confusion matrix of classified utterances."""
    confusion: dict[tuple[str, str], int] = {}
    for r in results:
        key = (r.item.label, r.predicted)
        confusion[key] = confusion.get(key, 0) + 1
    per_class = {cls: ClassScore(sum(1 for r in results if r.item.label == cls),
                                 sum(1 for r in results if r.predicted == cls),
                                 confusion.get((cls, cls), 0)) for cls in CLASSES}
    return EscalationReport(mode, set_path, list(results), per_class, confusion)


def evaluate(set_path: str | Path, audio: bool = False, *, limit: int | None = None,
             languages: Iterable[str] | None = None, gains: Sequence[float] = (1.0, 4.0),
             progress: bool = False, voice: Any = None, asr: Any = None,
             anger: AngerConfig | None = None, tts_noise: bool = False) -> EscalationReport:
    """Classify every utterance of the set (audio mode: the English ones, once per gain, through
    TTS, a G.711 line and ASR) and score the results. `limit`: the first N utterances (after the
    language filter); `voice`/`asr`: engines to use instead of piper / whisper tiny.en.
    Piper draws random prosody on every call; unless `tts_noise`, the piper voice built here has
    that noise switched off, so repeated runs hear the same audio and give the same figures."""
    dev = load_set(set_path)
    wanted = set(languages) if languages is not None else ({"en"} if audio else None)
    items = [i for i in dev.items if wanted is None or i.lang in wanted]
    if limit is not None:
        items = items[:limit]
    classifier = EscalationClassifier(dev.phrases, dev.exclusions, anger)
    if not audio:
        results = [_text_result(classifier, item) for item in items]
        return score_results(results, "text", str(set_path))
    return score_results(_audio_results(classifier, items, gains, progress, voice, asr, tts_noise),
                         "audio: piper -> G.711 -> whisper tiny.en", str(set_path))


def _text_result(classifier: EscalationClassifier, item: DevItem) -> ItemResult:
    found = classifier.classify(item.text, item.context)
    return ItemResult(item, found.label, detail=found.detail)


def _audio_results(classifier: EscalationClassifier, items: Sequence[DevItem],
                   gains: Sequence[float], progress: bool, voice: Any, asr: Any,
                   tts_noise: bool = False) -> list[ItemResult]:
    from ivr.qa.synth import synth_caller

    if voice is None:
        from ivr.tts.voices import build_voice, load_voices
        voice = build_voice(load_voices()["en"])
        if not tts_noise and hasattr(voice, "syn_config"):
            from piper.config import SynthesisConfig
            voice.syn_config = SynthesisConfig(length_scale=voice.syn_config.length_scale,
                                               noise_scale=0.0, noise_w_scale=0.0)
    if asr is None:
        from ivr.asr.whisper import WhisperASR
        from ivr.models.locator import whisper_tiny_en
        asr = WhisperASR(whisper_tiny_en())
    baseline = synth_caller(voice, [(0.3, BASELINE_SENTENCE)])
    jobs = [(item, gain) for item in items for gain in gains]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="escalation audio", unit="utt")
    results: list[ItemResult] = []
    try:
        for item, gain in jobs:
            pcm = synth_caller(voice, [(0.3, item.text)], gain=gain)
            transcript = asr.transcribe(pcm, 8000, (item.lang,))
            heard = transcript.text
            found = classifier.classify(heard, item.context, audio=pcm, baseline_audio=baseline)
            results.append(ItemResult(item, found.label, f"gain={gain:g}", heard, found.detail))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results
