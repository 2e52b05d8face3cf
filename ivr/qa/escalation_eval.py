"""Precision and recall of the hand-off guards on a labelled set, measured through the code that
runs on calls: each utterance is one caller turn of a fresh `DialogEngine` on the given dialplan
(its effective rules: the built-in lexicon and learned net plus the plan's own phrases), after
the turn's `context` (earlier turns of the same call). The label is read from what the dialog
did: transferred as an emergency or self-harm, as a request for a person, for anger (transfer or
an offer of a person), or treated the caller as upset (frustrated); else neutral. A hand-off on
one of the context turns ends the call there: it is the outcome when it is of the labelled kind
(caught early) or the label is calm (a false alarm); one of another kind is left aside. A turn
that gets the safety check ("are you safe right now?") is no hand-off: it counts as neutral (or
frustrated), and the table says how many turns of each label were asked.

Text mode gives the dialog the written text. Audio mode speaks each utterance (English with
piper, Mandarin with Kokoro's zf_xiaoyi: a caller's voice, not the bot's) at normal gain and at
every gain in `gains` (default x4, +12 dB: a shouting caller), passes it through an 8 kHz G.711
line (`synth_caller`), transcribes it with the plan's ASR model and gives the dialog what was
heard, with the audio for the voice cues (first turn: against typical telephone speech).

The set file (YAML) holds only labelled utterances: `utterances`: [{text, lang, label, tags?,
context?}], labels in priority order self_harm > emergency > human > angry > frustrated > neutral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ivr.errors import IvrError
from ivr.qa.set_files import read_set_file

__all__ = ["CALLER_VOICES", "CLASSES", "DevItem", "ItemResult", "ClassScore", "EscalationReport", "TurnRunner",
           "caller_voice", "load_set", "evaluate", "progress_bar", "score_results"]

CLASSES = ("emergency", "self_harm", "human", "angry", "frustrated", "neutral")
TAGS = frozenset({"asr", "hard_negative", "paraphrase", "traditional", "homophone"})
# Callers in audio mode: piper's English voice; for Mandarin a Kokoro voice other than the bot's
CALLER_VOICES = {"en": {"engine": "piper", "model": "piper-joe-en_US"},
                 "zh": {"engine": "kokoro", "voice": "zf_xiaoyi"}}


@dataclass(frozen=True)
class DevItem:
    """One labelled caller turn."""

    text: str
    lang: str
    label: str
    tags: tuple[str, ...] = ()
    context: tuple[str, ...] = ()


def load_set(path: str | Path) -> tuple[DevItem, ...]:
    """Read and check a set file (see the module doc)."""
    path = Path(path)
    raw = read_set_file(path, "set")
    extra = set(raw) - {"utterances"}
    if extra:
        raise IvrError(f"{path}: a set holds only 'utterances' (found {', '.join(sorted(extra))}); "
                       f"phrases belong in a dialplan's escalation section")
    items = []
    for n, entry in enumerate(raw.get("utterances") or [], 1):
        label = entry.get("label")
        if label not in CLASSES or not entry.get("text"):
            raise IvrError(f"{path}: utterance {n} needs text and a label in {', '.join(CLASSES)}")
        items.append(DevItem(str(entry["text"]), str(entry.get("lang", "en")), label,
                             tuple(entry.get("tags") or ()), tuple(entry.get("context") or ())))
    return tuple(items)


_CALM = ("frustrated", "neutral")
_REASONS = {"emergency": "emergency", "self_harm": "self_harm",
            "caller_asked_for_human": "human", "angry_caller": "angry", "angry_offer": "angry"}


class TurnRunner:
    """Plays one labelled turn (after its context) into a fresh dialog on a plan and reads the
    label off what the dialog did. Engines are loaded once and shared by every turn."""

    def __init__(self, plan_path: Path, embedder: Any = None) -> None:
        from ivr.dialplan.loader import load_dialplan
        from ivr.kb.embedder import CachingEmbedder, E5Embedder
        from ivr.kb.retriever import KBEntry, Retriever
        from ivr.safety.semantic import SemanticNet

        self.plan = load_dialplan(plan_path).plan
        self.plan_path = plan_path
        self.embedder = CachingEmbedder(embedder or E5Embedder(threads=2), size=256)
        entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in self.plan.knowledge]
        self.retriever = Retriever(entries, self.embedder, self.plan.answers.min_score)
        self.net = SemanticNet(self.embedder)

    def classify(self, text: str, lang: str, context: Sequence[str] = (),
                 audio: bytes | None = None, expected: str | None = None) -> tuple[str, dict]:
        """(label, evidence) for `text` as a caller turn after `context`. `expected`, the
        set's label, only says how a hand-off on a context turn counts (see the module doc)."""
        from ivr.dialog.actions import Transfer
        from ivr.dialog.engine import DialogEngine
        from ivr.events import EventLog, ManualClock

        engine = DialogEngine(self.plan, self.retriever, None, EventLog(ManualClock()),
                              net=self.net)
        engine.start()
        for n, earlier in enumerate(context, 1):
            step = engine.on_text(earlier, lang)
            early = _REASONS.get(step.reason)
            if early and any(isinstance(a, Transfer) for a in step.actions) \
                    and (early == expected or expected in _CALM):
                # the call was handed over on an earlier turn: this caller got that hand-off
                # (caught early for the same label; a false alarm for a calm caller). A hand-off
                # of another kind is left aside and the labelled turn judged on its own.
                return early, {"reason": step.reason, "context_turn": n, **step.evidence}
        step = engine.on_text(text, lang, audio)
        label = _REASONS.get(step.reason)
        if label is None:
            label = "frustrated" if engine.state.upset else "neutral"
        mood = engine.state.mood.evidence if engine.state.mood is not None else {}
        return label, {**mood, "reason": step.reason, **step.evidence}


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

    @property
    def urgent(self) -> ClassScore:
        """Emergency and self-harm together (both go to the emergency target at once)."""
        urgent = ("emergency", "self_harm")
        return ClassScore(sum(1 for r in self.results if r.item.label in urgent),
                          sum(1 for r in self.results if r.predicted in urgent),
                          sum(1 for r in self.results
                              if r.item.label in urgent and r.predicted in urgent))

    @property
    def calm_false_urgent(self) -> tuple[int, int]:
        """(calm turns sent to emergency help, calm turns)."""
        calm = [r for r in self.results if r.item.label == "neutral"]
        return sum(1 for r in calm if r.predicted in ("emergency", "self_harm")), len(calm)

    @property
    def safety_checks(self) -> dict[str, tuple[int, int]]:
        """{label: (turns that got the safety check instead of a hand-off, turns)}."""
        return {cls: (sum(1 for r in self.results if r.item.label == cls
                          and r.detail.get("reason") == "safety_check"),
                      self.per_class[cls].support) for cls in CLASSES}

    def by_language(self) -> dict[str, "EscalationReport"]:
        """This report split by the utterances' language."""
        languages = sorted({r.item.lang for r in self.results})
        return {lang: score_results([r for r in self.results if r.item.lang == lang], self.mode,
                                    f"{self.set_path} [{lang}]") for lang in languages}

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
        urgent = self.urgent
        false_urgent, calm = self.calm_false_urgent
        lines += [f"{'urgent':10} {urgent.support:7d} {urgent.predicted:9d} "
                  f"{fmt(urgent.precision):>9} {fmt(urgent.recall):>6} {fmt(urgent.f1):>5}"
                  f"   (emergency + self_harm)",
                  f"calm callers sent to emergency help: {false_urgent}/{calm}",
                  "asked whether they are safe (no hand-off): " + ", ".join(
                      f"{cls} {n}/{total}" for cls, (n, total) in self.safety_checks.items()
                      if total),
                  f"accuracy {fmt(self.accuracy)}", "",
                  "confusion (rows: label, columns: predicted)",
                  f"{'':10} " + " ".join(f"{c:>10}" for c in CLASSES)]
        for gold in CLASSES:
            lines.append(f"{gold:10} " + " ".join(f"{self.confusion.get((gold, p), 0):10d}"
                                                  for p in CLASSES))
        errors = self.errors()
        if errors:
            lines += ["", f"errors ({len(errors)}):"]
            for r in errors:
                heard = f"  [heard: {r.heard!r}]" if r.heard is not None else ""
                variant = f" ({r.variant})" if r.variant != "text" else ""
                lines.append(f"  {r.item.label:10} -> {r.predicted:10} {r.item.text!r}{variant}"
                             f"{heard}")
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


def evaluate(set_path: str | Path, plan_path: str | Path, audio: bool = False, *,
             limit: int | None = None, languages: Iterable[str] | None = None,
             gains: Sequence[float] = (1.0, 4.0), progress: bool = False,
             runner: TurnRunner | None = None, voices: Mapping[str, Any] | None = None,
             asr: Any = None, tts_noise: bool = False) -> EscalationReport:
    """Run every utterance of the set in the plan's languages (audio mode: once per gain, through
    TTS, a G.711 line and ASR) through the plan's dialog and score the results. `limit`: the
    first N utterances (after the language filter); `voices`: {language: TTS engine} to speak
    callers with instead of `CALLER_VOICES`; `asr`: instead of the plan's whisper model. Piper's
    random prosody is switched off unless `tts_noise`, so repeated runs hear the same audio and
    give the same figures."""
    runner = runner or TurnRunner(Path(plan_path))
    plan_languages = set(runner.plan.languages)
    wanted = set(languages) & plan_languages if languages is not None else plan_languages
    items = [i for i in load_set(set_path) if i.lang in wanted]
    if limit is not None:
        items = items[:limit]
    where = f"{set_path} on {Path(plan_path).name}"
    if not audio:
        results = []
        for item in progress_bar(items, progress, "escalation text"):
            label, detail = runner.classify(item.text, item.lang, item.context,
                                            expected=item.label)
            results.append(ItemResult(item, label, detail=detail))
        return score_results(results, "text", where)
    results = _audio_results(runner, items, gains, progress, dict(voices or {}), asr, tts_noise)
    return score_results(results, "audio: TTS caller -> G.711 -> whisper", where)


def progress_bar(items: Sequence, enabled: bool, desc: str, unit: str = "utt"):
    """`items`, with a progress bar on the terminal when `enabled`."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit)


def caller_voice(lang: str, tts_noise: bool = False) -> Any:
    """The TTS engine that plays callers of `lang` in audio mode: `CALLER_VOICES[lang]`, with
    piper's random prosody off unless `tts_noise`."""
    from ivr.tts.voices import VoiceSpec, build_voice

    spec = CALLER_VOICES.get(lang)
    if spec is None:
        raise IvrError(f"audio mode has no caller voice for language {lang!r} "
                       f"(it has {', '.join(sorted(CALLER_VOICES))})")
    voice = build_voice(VoiceSpec.model_validate(spec), lang)
    if not tts_noise and hasattr(voice, "syn_config"):
        from piper.config import SynthesisConfig
        voice.syn_config = SynthesisConfig(length_scale=voice.syn_config.length_scale,
                                           noise_scale=0.0, noise_w_scale=0.0)
    return voice


def _audio_results(runner: TurnRunner, items: Sequence[DevItem], gains: Sequence[float],
                   progress: bool, voices: dict[str, Any], asr: Any,
                   tts_noise: bool) -> list[ItemResult]:
    from ivr.qa.synth import synth_caller

    if asr is None:
        from ivr.asr.whisper import WhisperASR
        from ivr.session.engines import asr_model_dir
        asr = WhisperASR(asr_model_dir(runner.plan.asr_model))
    results: list[ItemResult] = []
    jobs = [(item, gain) for item in items for gain in gains]
    for item, gain in progress_bar(jobs, progress, "escalation audio"):
        if item.lang not in voices:
            voices[item.lang] = caller_voice(item.lang, tts_noise)
        pcm = synth_caller(voices[item.lang], [(0.3, item.text)], gain=gain)
        heard = asr.transcribe(pcm, 8000, (item.lang,)).text
        label, detail = runner.classify(heard, item.lang, item.context, audio=pcm,
                                        expected=item.label)
        results.append(ItemResult(item, label, f"gain={gain:g}", heard, detail))
    return results
