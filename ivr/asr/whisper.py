"""faster-whisper ASR: int8 on CPU by default, CUDA by configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from ivr.asr.base import ASREngine, Hypothesis, Word
from ivr.asr.guard import PhantomGuard, repetitive
from ivr.audio.resample import resample
from ivr.text.normalize import simple_normalize, to_simplified

WHISPER_RATE = 16000
MAX_TOKENS_PER_TURN = 96
# A long turn gets more: a Mandarin character is one to three of whisper's tokens, so 96 cut a
# 13 s Chinese sentence off before its last clause (26 s of Mandarin took 210).
TOKENS_PER_SECOND = 12
WHISPER_CONTEXT = 448    # tokens: the prompt faster-whisper builds, then what it writes
PROMPT_OVERHEAD = 6      # the start-of-transcript sequence and the markers around the prompt
# Whisper writes Mandarin in traditional characters as often as not; a prompt in simplified
# characters steers it, and the output is converted anyway (homophones stay for the matchers).
ZH_PROMPT = "以下是普通话电话录音的简体中文转写。"


def token_budget(per_turn: int, seconds: float, room: int) -> int:
    """The most tokens one decoding of `seconds` of audio may write: `per_turn` (the cap that
    stops a hallucination loop early), or more for a turn too long to fit in it; never more
    than the `room` the prompt leaves in whisper's context."""
    return max(1, min(room, max(per_turn, math.ceil(seconds * TOKENS_PER_SECOND))))


def echoes_prompt(text: str) -> bool:
    """Whisper wrote its prompt, or a piece of it, back instead of the caller's words (it does on
    some short Mandarin turns: "你好，我要挂号" came back as the whole prompt, "是的" as 下). Such
    a turn is decoded again without the prompt; a caller who really said a piece of it ("是")
    is heard so again."""
    heard, prompt = simple_normalize(text), simple_normalize(ZH_PROMPT)
    return bool(heard) and (prompt in heard or heard in prompt)


@dataclass(frozen=True)
class DecodeOptions:
    """How whisper decodes one caller turn (`ivr bench asr-zh --asr KEY=VALUE` tries others).

    `temperatures`: one (no fallback re-decoding) keeps a hallucination loop on unclear audio from
    holding the caller for seconds; more are tried in turn when a decode fails whisper's
    compression-ratio / log-probability checks."""

    beam_size: int = 1
    temperatures: tuple[float, ...] = (0.0,)
    max_new_tokens: int = MAX_TOKENS_PER_TURN
    # A turn's audio encoded once for both language choice and decoding (ivr.asr.whisper_model).
    reuse_encoder: bool = True
    # Another of the plan's languages only when whisper gives it at least this probability
    # (None: the most likely of the plan's languages); see `choose_language`.
    switch_language_min_prob: float | None = 0.8
    # The plan's vocabulary (`asr.hotwords` and menu words, `ivr.asr.vocabulary`) as whisper's
    # hotwords, in the turn's language (see `WhisperASR.use_vocabulary`). Off: on the Mandarin
    # caller set it fixed 医生/手机号 but made whisper base loop on one-word answers ("是" ->
    # "语语语...") and garble dates and digits (`ivr bench asr-zh`, README).
    hotwords: bool = False
    # A decode that loops ("语语语...") is decoded once more with this beam and no hotwords (0: no
    # retry; the phantom guard then rejects the loop and the caller is asked again).
    loop_retry_beam: int = 0
    # The beam of a careful decoding (`transcribe(..., careful=True)`): a read-out number the
    # dialog could not take. The Mandarin caller set's phone-number turns, 2026-12-04: greedy
    # decoding read 0 of 30 dev and 4 of 30 held-out numbers right, beam 5 read 6 and 9.
    careful_beam: int = 5
    # Seconds of encoder window (whisper's own is 30; see `ivr.asr.whisper_model`): a turn is
    # encoded with padding up to this length, a longer one with 1 s after it. A decode that
    # loops on the short window is decoded again on the full one.
    window_s: float = 10.0

    @classmethod
    def from_assignments(cls, assignments: Iterable[str]) -> DecodeOptions:
        """The defaults with `KEY=VALUE` overrides as typed on a command line (values read as
        YAML: `temperatures=[0, 0.2]`)."""
        import yaml

        pairs = dict(item.split("=", 1) for item in assignments)
        return cls().with_overrides({k: yaml.safe_load(v) for k, v in pairs.items()})

    def as_json(self) -> dict[str, object]:
        """The options as JSON-ready values, for a benchmark's report."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self)}

    def with_overrides(self, overrides: dict[str, object]) -> DecodeOptions:
        """A copy with some fields changed (names checked, values cast to the field's type)."""
        known = {f.name: f for f in fields(self)}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ValueError(f"unknown ASR option(s) {sorted(unknown)}: known are {sorted(known)}")
        return replace(self, **{name: _cast(name, getattr(self, name), value)
                                for name, value in overrides.items()})


def _cast(name: str, default: object, value: object) -> object:
    """An override read from the command line, as the type of the option's field."""
    if name == "temperatures":
        return tuple(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))
    if value is None or default is None:
        return None if value in (None, "none", "None") else float(value)  # optional numbers
    return type(default)(value)


class WhisperASR(ASREngine):
    """Whisper via CTranslate2. Greedy decoding (beam 1) and no cross-utterance conditioning,
    which keeps latency low and stops one misheard turn from poisoning the next."""

    name = "faster-whisper"
    careful_decoding = True

    def __init__(self, model_dir: Path, device: str = "cpu", compute_type: str = "int8",
                 cpu_threads: int = 2, beam_size: int = 1, guard: PhantomGuard | None = None,
                 options: DecodeOptions | None = None) -> None:
        super().__init__(guard)
        from ivr.asr.whisper_model import OneEncodeWhisperModel  # heavy import: faster-whisper

        self.options = options or DecodeOptions(beam_size=beam_size)
        self.model = OneEncodeWhisperModel(str(model_dir), device=device,
                                           compute_type=compute_type, cpu_threads=cpu_threads,
                                           window_s=self.options.window_s)
        self.beam_size = beam_size
        self.english_only = not self.model.model.is_multilingual
        self.vocabulary: dict[str, str] = {}  # language -> hotwords (see `use_vocabulary`)

    def use_vocabulary(self, language: str, words: list[str]) -> None:
        """Bias recognition in `language` towards these words (a plan's services, menu words,
        names), when `DecodeOptions.hotwords` is on."""
        self.vocabulary[language] = "，".join(dict.fromkeys(w.strip() for w in words if w.strip()))

    def _language(self, audio: np.ndarray, languages: tuple[str, ...]) -> str:
        """Fixed, or chosen among the allowed ones (free detection fails on short turns)."""
        from ivr.asr.whisper_model import choose_language

        if self.english_only:
            return "en"
        if len(languages) == 1:
            return languages[0]
        if self.options.reuse_encoder:
            probs = self.model.language_probs(audio)
        else:
            probs = dict((lang, p) for lang, p in self.model.detect_language(audio)[2])
        return choose_language(probs, languages, self.options.switch_language_min_prob)

    def _transcribe_impl(self, pcm: bytes, rate: int, languages: tuple[str, ...],
                         careful: bool = False) -> Hypothesis:
        audio = np.frombuffer(resample(pcm, rate, WHISPER_RATE), dtype="<i2").astype(np.float32) / 32768.0
        language = self._language(audio, languages)
        opts = self.options
        beam = opts.careful_beam if careful else opts.beam_size
        hyp = self._decode(audio, language, beam, opts.hotwords)
        if repetitive(hyp.text) and self.model.shortened:
            with self.model.full_window():
                hyp = self._decode(audio, language, beam, opts.hotwords)
        if opts.loop_retry_beam and repetitive(hyp.text):
            hyp = self._decode(audio, language, opts.loop_retry_beam, hotwords=False)
        if language == "zh" and echoes_prompt(hyp.text):
            hyp = self._decode(audio, language, beam, opts.hotwords, prompt=False)
        return hyp

    def _decode(self, audio: np.ndarray, language: str, beam_size: int,
                hotwords: bool, prompt: bool = True) -> Hypothesis:
        """One decoding of a turn in `language` (simplified characters for Mandarin; `prompt`:
        steered by `ZH_PROMPT`)."""
        opts = self.options
        initial = ZH_PROMPT if language == "zh" and prompt else None
        words = self.vocabulary.get(language) if hotwords else None
        segments, _ = self.model.transcribe(
            audio, language=language, beam_size=beam_size, vad_filter=False,
            condition_on_previous_text=False, without_timestamps=True,
            temperature=list(opts.temperatures), max_new_tokens=token_budget(
                opts.max_new_tokens, audio.size / WHISPER_RATE, self._room(initial, words)),
            initial_prompt=initial, hotwords=words)
        segments = list(segments)
        if not segments:
            return Hypothesis("", language, 1.0, 0.0)
        text = "".join(s.text for s in segments)
        if language == "zh":
            text = to_simplified(text)
        return Hypothesis(text, language,
                          no_speech_prob=max(s.no_speech_prob for s in segments),
                          avg_logprob=float(np.mean([s.avg_logprob for s in segments])))

    def _room(self, *prompts: str | None) -> int:
        """Tokens whisper may still write after a prompt of these texts (faster-whisper keeps
        at most half its context of each, and refuses a decoding that would overrun it)."""
        half = WHISPER_CONTEXT // 2 - 1
        used = sum(min(half, len(self.model.hf_tokenizer.encode(" " + text.strip()).ids))
                   for text in prompts if text)
        return WHISPER_CONTEXT - PROMPT_OVERHEAD - used

    def words(self, pcm: bytes, rate: int, languages: tuple[str, ...] = ()) -> list[Word]:
        """Every word of a long recording (a call's caller channel) with its timing: silence
        skipped by faster-whisper's VAD (timings stay those of the whole recording), beam 1."""
        audio = np.frombuffer(resample(pcm, rate, WHISPER_RATE), dtype="<i2").astype(np.float32) / 32768.0
        if audio.size == 0:
            return []
        with self.model.full_window():  # offline, on up to 30 s of a recording at a time
            language = self._language(audio[:30 * WHISPER_RATE], languages)
            segments, _ = self.model.transcribe(
                audio, language=language, beam_size=self.beam_size, vad_filter=True,
                word_timestamps=True, condition_on_previous_text=False, temperature=0.0,
                initial_prompt=ZH_PROMPT if language == "zh" else None)
            return [Word(w.start, w.end, w.word) for s in segments for w in (s.words or [])]
