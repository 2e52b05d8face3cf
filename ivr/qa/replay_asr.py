"""Model results kept across replays: the same audio through the same model, computed once.

QA replays the same recorded calls again and again (after each plan edit, in CI on every
commit), and the caller's audio never changes between runs; only the plan does. The models that
listen to it are deterministic (whisper with greedy decoding at temperature 0, the end-of-turn
model), so `TranscriptCache` keeps each result under a key of everything that shapes it (the
model's identity, see `model_identity`, the sample rate, other inputs such as the allowed
languages, and the exact samples). `CachedASR` asks the recogniser only on a miss, and applies
the phantom guard (`ivr.asr.guard`) to every result as usual, so a guard change takes effect
without clearing anything; `CachedTurnModel` does the same for the end-of-turn model's
probability (the judge's threshold and transcript veto still run). A changed model, or a model
file replaced in place, gives another identity and so never reads the old results.

The cache is one SQLite file (default `$XDG_CACHE_HOME/ivr/replay-asr.db`); parallel replay
processes share it. It is a cache: a file that cannot be opened or written is logged and the
model simply runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ivr.asr.base import ASREngine, Hypothesis
from ivr.audio.turn import TurnJudge, TurnModel

log = logging.getLogger("ivr.qa.replay")


def default_path() -> Path:
    """``$IVR_REPLAY_ASR_CACHE``, else ``$XDG_CACHE_HOME/ivr/replay-asr.db``."""
    if os.environ.get("IVR_REPLAY_ASR_CACHE"):
        return Path(os.environ["IVR_REPLAY_ASR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ivr" / "replay-asr.db"


def model_identity(model: str, path: Path, device: str = "cpu") -> str:
    """What shapes a model's output: its name, the device (CPU int8 and GPU float16 may
    differ) and its file, or every file of its folder, by name, size and change time."""
    paths = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file()) \
        if path.is_dir() else []
    files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    return json.dumps({"model": model, "device": device, "files": files}, sort_keys=True)


def asr_identity(model: str, device: str) -> str:
    """A recogniser's identity: a bundled model name or a CTranslate2 whisper folder, with the
    decoding settings the engines use (a change to them must not serve stale results)."""
    from ivr.asr.whisper import DecodeOptions
    from ivr.session.engines import asr_model_dir

    decoding = json.dumps(dataclasses.asdict(DecodeOptions()), sort_keys=True, default=str)
    return model_identity(model, asr_model_dir(model), device) + decoding


class TranscriptCache:
    """Model results (JSON objects) by key in one SQLite file (thread-safe; several processes
    may share it)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS hypotheses "
                             "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except (sqlite3.Error, OSError) as exc:
            log.warning("replay ASR cache %s unusable (%s): recognising every utterance",
                        self.path, exc)
            self._db = None

    @staticmethod
    def key(identity: str, pcm: bytes, rate: int, inputs: tuple[str, ...] = ()) -> str:
        """The key of one piece of audio (and `inputs`) through one model."""
        digest = hashlib.sha256(f"{identity}|{rate}|{','.join(inputs)}|".encode())
        digest.update(pcm)
        return digest.hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        """The kept result, or None."""
        if self._db is None:
            return None
        try:
            with self._lock:
                row = self._db.execute("SELECT value FROM hypotheses WHERE key = ?",
                                       (key,)).fetchone()
        except sqlite3.Error as exc:
            log.warning("replay ASR cache %s: cannot read (%s)", self.path, exc)
            return None
        return json.loads(row[0]) if row else None

    def put(self, key: str, result: dict[str, Any]) -> None:
        """Keep `result` under `key` (a failure is logged, never raised)."""
        if self._db is None:
            return
        value = json.dumps(result, ensure_ascii=False)
        try:
            with self._lock, self._db:
                self._db.execute("INSERT OR REPLACE INTO hypotheses VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            log.warning("replay ASR cache %s: cannot write (%s)", self.path, exc)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class CachedASR(ASREngine):
    """`inner`'s recognition through a `TranscriptCache`; `hits` and `misses` count lookups."""

    def __init__(self, inner: ASREngine, identity: str, cache: TranscriptCache) -> None:
        super().__init__(inner.guard)
        self.inner, self.identity, self.cache = inner, identity, cache
        self.name, self.careful_decoding = inner.name, inner.careful_decoding
        self.hits = self.misses = 0

    def _transcribe_impl(self, pcm: bytes, rate: int, languages: tuple[str, ...],
                         careful: bool = False) -> Hypothesis:
        key = self.cache.key(self.identity, pcm, rate,
                             languages + (("careful",) if careful else ()))
        found = self.cache.get(key)
        if found is not None:
            self.hits += 1
            return Hypothesis(**found)
        self.misses += 1
        hypothesis = self.inner._transcribe_impl(pcm, rate, languages, careful)  # noqa: SLF001
        self.cache.put(key, dataclasses.asdict(hypothesis))
        return hypothesis


class CachedTurnModel:
    """An end-of-turn model (`ivr.audio.turn.TurnModel`) through a `TranscriptCache`."""

    def __init__(self, inner: TurnModel, identity: str, cache: TranscriptCache) -> None:
        self.inner, self.identity, self.cache = inner, identity, cache
        self.name = inner.name

    def probability(self, pcm: bytes, rate: int) -> float:
        """P(complete) as the model gives it, computed once per audio."""
        key = self.cache.key(self.identity, pcm, rate, ("turn",))
        found = self.cache.get(key)
        if found is not None:
            return float(found["p"])
        p = self.inner.probability(pcm, rate)
        self.cache.put(key, {"p": p})
        return p


def cached_turn_judge(judge: TurnJudge, cache: TranscriptCache) -> TurnJudge:
    """`judge` with its model's results through `cache` (unchanged when it has no model)."""
    if judge.model is None:
        return judge
    from ivr.audio.turn_model import smart_turn_onnx

    identity = model_identity(judge.model.name, smart_turn_onnx())
    return TurnJudge(CachedTurnModel(judge.model, identity, cache), judge.transcribe)
