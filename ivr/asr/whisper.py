"""faster-whisper ASR: int8 on CPU by default, CUDA by configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ivr.asr.base import ASREngine, Hypothesis, Word
from ivr.asr.guard import PhantomGuard
from ivr.audio.resample import resample
from ivr.text.normalize import to_simplified

WHISPER_RATE = 16000
MAX_TOKENS_PER_TURN = 96
# Whisper writes Mandarin in traditional characters as often as not; a prompt in simplified
# characters steers it, and the output is converted anyway (homophones stay for the matchers).
ZH_PROMPT = "以下是普通话电话录音的简体中文转写。"


class WhisperASR(ASREngine):
    """Whisper via CTranslate2. Greedy decoding (beam 1) and no cross-utterance conditioning,
    which keeps latency low and stops one misheard turn from poisoning the next."""

    name = "faster-whisper"

    def __init__(self, model_dir: Path, device: str = "cpu", compute_type: str = "int8",
                 cpu_threads: int = 2, beam_size: int = 1, guard: PhantomGuard | None = None) -> None:
        super().__init__(guard)
        from faster_whisper import WhisperModel  # heavy import, only when an engine is built

        self.model = WhisperModel(str(model_dir), device=device, compute_type=compute_type,
                                  cpu_threads=cpu_threads)
        self.beam_size = beam_size
        self.english_only = not self.model.model.is_multilingual

    def _language(self, audio: np.ndarray, languages: tuple[str, ...]) -> str:
        """Fixed, or the most likely of the allowed ones (free detection fails on short turns)."""
        if self.english_only:
            return "en"
        if len(languages) == 1:
            return languages[0]
        _, _, probs = self.model.detect_language(audio)
        allowed = [(p, lang) for lang, p in probs if not languages or lang in languages]
        return max(allowed)[1] if allowed else (languages[0] if languages else "en")

    def _transcribe_impl(self, pcm: bytes, rate: int, languages: tuple[str, ...]) -> Hypothesis:
        audio = np.frombuffer(resample(pcm, rate, WHISPER_RATE), dtype="<i2").astype(np.float32) / 32768.0
        language = self._language(audio, languages)
        # One temperature (no fallback re-decoding) and a token cap: a phone turn is short, and a
        # hallucination loop on unclear audio must not hold the caller for seconds.
        segments, _ = self.model.transcribe(
            audio, language=language, beam_size=self.beam_size, vad_filter=False,
            condition_on_previous_text=False, without_timestamps=True, temperature=0.0,
            max_new_tokens=MAX_TOKENS_PER_TURN,
            initial_prompt=ZH_PROMPT if language == "zh" else None)
        segments = list(segments)
        if not segments:
            return Hypothesis("", language, 1.0, 0.0)
        text = "".join(s.text for s in segments)
        if language == "zh":
            text = to_simplified(text)
        return Hypothesis(text, language,
                          no_speech_prob=max(s.no_speech_prob for s in segments),
                          avg_logprob=float(np.mean([s.avg_logprob for s in segments])))

    def words(self, pcm: bytes, rate: int, languages: tuple[str, ...] = ()) -> list[Word]:
        """Every word of a long recording (a call's caller channel) with its timing: silence
        skipped by faster-whisper's VAD (timings stay those of the whole recording), beam 1."""
        audio = np.frombuffer(resample(pcm, rate, WHISPER_RATE), dtype="<i2").astype(np.float32) / 32768.0
        if audio.size == 0:
            return []
        language = self._language(audio[:30 * WHISPER_RATE], languages)
        segments, _ = self.model.transcribe(
            audio, language=language, beam_size=self.beam_size, vad_filter=True,
            word_timestamps=True, condition_on_previous_text=False, temperature=0.0,
            initial_prompt=ZH_PROMPT if language == "zh" else None)
        return [Word(w.start, w.end, w.word) for s in segments for w in (s.words or [])]
