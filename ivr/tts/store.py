"""Synthesised sentences on disk, so prompts and approved answers are spoken without synthesis.

Layout: ``<root>/<voice key>/<sha256 of the sentence>.pcm``. The voice key is a hash of
everything that shapes the audio (engine, model file hashes, voice name, speed, library
version), so a changed voice or speed never reads another voice's audio. Each file is a
24-byte header (magic, sample rate, byte count, CRC-32 of the samples) and PCM16 mono; a file
whose header or checksum does not match (a torn copy, bit rot, another format) is ignored,
removed and synthesised again.

Writes go to a temporary file in the same folder and are renamed into place, so a reader sees
a whole file or none. The store is a cache: every disk problem (full disk, unreadable file,
read-only folder) is logged and the caller synthesises instead; nothing here raises `OSError`.
Above `max_bytes` the least recently used files (by modification time, which a hit renews) are
removed until the store is at 90 % of the cap. The model service owns the store it writes; a SIP
worker on the same host reads it through a read-only view.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import struct
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Mapping

log = logging.getLogger("ivr.tts.store")

MAGIC = b"IVRPCM1\0"
_HEADER = struct.Struct("<8sIII")  # magic, sample rate, PCM byte count, CRC-32 of the PCM
DEFAULT_MAX_MB = 500
SUFFIX = ".pcm"


def default_root() -> Path:
    """``$IVR_TTS_CACHE``, else ``$XDG_CACHE_HOME/ivr/tts`` (``~/.cache/ivr/tts``)."""
    if os.environ.get("IVR_TTS_CACHE"):
        return Path(os.environ["IVR_TTS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ivr" / "tts"


def voice_key(identity: Mapping[str, object]) -> str:
    """A folder name for a voice: its engine, then 20 hex digits of the identity's hash."""
    canonical = json.dumps(dict(identity), sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]
    return f"{identity.get('engine', 'tts')}-{digest}"


@functools.lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a model file, computed once per process for a given size and mtime."""
    stat = path.stat()
    return _digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def package_version(name: str) -> str | None:
    """An installed distribution's version (part of a voice's identity), None if absent."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


class DiskStore:
    """Sentence audio of many voices under one folder, capped at `max_bytes` (thread-safe)."""

    def __init__(self, root: Path | None = None, max_bytes: int = DEFAULT_MAX_MB << 20,
                 read_only: bool = False) -> None:
        """`read_only`: only read (a SIP worker reading what its model service wrote)."""
        self.root = root or default_root()
        self.max_bytes = max_bytes
        self.read_only = read_only
        self._lock = threading.Lock()
        self._total: int | None = None  # bytes on disk, counted on the first write

    def path(self, key: str, text: str) -> Path:
        """Where the audio of `text` in voice `key` lives."""
        return self.root / key / (hashlib.sha256(text.encode("utf-8")).hexdigest() + SUFFIX)

    def get(self, key: str, text: str) -> tuple[bytes, int] | None:
        """The stored PCM16 and its sample rate, or None (absent, damaged or unreadable)."""
        path = self.path(key, text)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("TTS store: cannot read %s (%s); synthesising instead", path, exc)
            return None
        pcm_rate = _decode(data)
        if pcm_rate is None:
            log.warning("TTS store: %s is damaged; removing it and synthesising again", path)
            self._remove(path)
            return None
        try:
            os.utime(path)  # recently used: the last to go in a clean-up
        except OSError:
            pass
        return pcm_rate

    def put(self, key: str, text: str, pcm: bytes, rate: int) -> bool:
        """Store atomically; False when read-only or (logged) when the disk refuses."""
        if self.read_only:
            return False
        path = self.path(key, text)
        data = _HEADER.pack(MAGIC, rate, len(pcm), zlib.crc32(pcm)) + pcm
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=SUFFIX)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("TTS store: cannot write %s (%s); the sentence stays in memory only",
                        path, exc)
            if tmp is not None:
                self._remove(Path(tmp))
            return False
        self._added(len(data))
        return True

    def size(self) -> int:
        """Bytes of audio files under the root (walks the folder)."""
        total = 0
        for file in self._files():
            try:
                total += file.stat().st_size
            except OSError:
                pass
        return total

    def cleanup(self) -> int:
        """Remove least recently used files until the store is at 90 % of its cap (when it is
        over the cap); the number of files removed."""
        with self._lock:
            self._total = self.size()
            if self._total <= self.max_bytes:
                return 0
            aged = []
            for file in self._files():
                try:
                    stat = file.stat()
                except OSError:
                    continue
                aged.append((stat.st_mtime_ns, stat.st_size, file))
            aged.sort()
            removed = 0
            for _, size, file in aged:
                if self._total <= self.max_bytes * 0.9:
                    break
                if self._remove(file):
                    self._total -= size
                    removed += 1
            log.info("TTS store: removed %d least recently used files (%s now %.1f MB)",
                     removed, self.root, self._total / 1e6)
            return removed

    def _added(self, size: int) -> None:
        with self._lock:
            if self._total is not None:
                self._total += size
                over = self._total > self.max_bytes
            else:
                over = True  # first write of this process: count what is there
        if over:
            self.cleanup()

    def _files(self) -> list[Path]:
        try:
            return [f for f in self.root.glob(f"*/*{SUFFIX}") if not f.name.startswith(".tmp-")]
        except OSError:
            return []

    @staticmethod
    def _remove(path: Path) -> bool:
        try:
            path.unlink()
            return True
        except OSError:
            return False


def _decode(data: bytes) -> tuple[bytes, int] | None:
    if len(data) < _HEADER.size:
        return None
    magic, rate, length, crc = _HEADER.unpack_from(data)
    pcm = data[_HEADER.size:]
    if magic != MAGIC or length != len(pcm) or length % 2 or zlib.crc32(pcm) != crc:
        return None
    return pcm, rate
