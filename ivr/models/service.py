"""The model service: ASR, TTS and embeddings in their own process, over HTTP on loopback.

SIP workers (pjsua2) must not run model compute in-process: the GIL would starve pjmedia's media
clock thread. They use the clients in `ivr.models.remote` instead, which talk to this service.

Wire protocol (all bodies small; audio is 8 kHz-or-any-rate PCM16 little-endian mono):

* ``POST /asr?rate=8000&languages=en,zh`` with the raw PCM16 bytes as the body
  (``Content-Type: application/octet-stream``) -> JSON object with the `Transcript` fields.
  The phantom guard runs here, once (the public `ASREngine.transcribe`).
* ``POST /asr/words?rate=8000&languages=en`` with a whole recording's caller channel (PCM16)
  -> ``{"words": [{"start", "end", "text"}, ...]}``: every word with its timing, for beeping
  personal data out of the stored recording after the call (501 when the engine has no word
  timings). One such pass at a time, under its own lock: live turns never queue behind it,
  they share the CPU with it.
* ``POST /tts?language=en`` with JSON ``{"text": "..."}`` -> NDJSON stream
  (``application/x-ndjson``), one line per sentence as soon as it is synthesised:
  ``{"text": str, "compute_s": float, "source": "memory" | "disk" | "synthesis",
  "pcm_b64": base64 of 8 kHz PCM16}``. A failure after the stream started is sent as a final
  line ``{"error": "..."}``.
* ``POST /tts/warm?language=en`` with JSON ``{"text": "one sentence"}`` -> ``{"source": ...}``:
  the sentence is made ready (memory and disk store) without sending audio back; `ivr serve`
  warms a plan's prompts and answers with it.
* ``POST /embed`` with JSON ``{"texts": [...], "kind": "query" | "passage"}`` ->
  ``{"shape": [n, d], "dtype": "float32", "data_b64": base64 of the C-order little-endian array}``.
* ``GET /health`` -> ``{"status": "ok", "pid", "asr", "voices": {lang: engine}, "embedder",
  "timings": {model: load seconds}}``, plus ``"tts_store": {"root": folder, "keys": {lang:
  voice key}}`` with a TTS disk store (workers on this host read it directly).

With ``--tts-cache DIR`` (default `ivr.tts.store.default_root()`; ``--tts-cache-mb 0`` turns it
off) every voice keeps its sentences in a disk store there (`ivr.tts.store`).

Each engine is guarded by its own lock, so concurrent calls queue per model instead of
oversubscribing the CPU (and engines that are not thread-safe stay safe).

Run: ``python -m ivr.models.service --port P --asr-model NAME --languages en,zh``;
`ModelServiceProcess` does that and waits until it is ready.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Iterator, Literal

import numpy as np
from fastapi import Body, FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ivr.errors import IvrError
from ivr.service_process import ServiceProcess, free_port, http_ok
from ivr.session.engines import Engines
from ivr.tts.store import DEFAULT_MAX_MB, DiskStore


class TTSRequest(BaseModel):
    """Body of POST /tts."""

    text: str


class EmbedRequest(BaseModel):
    """Body of POST /embed."""

    texts: list[str]
    kind: Literal["query", "passage"] = "query"


def encode_array(vectors: np.ndarray) -> dict[str, object]:
    """A float32 array as ``{"shape", "dtype", "data_b64"}`` (little-endian, C order);
    `ivr.models.remote.decode_array` reads it back."""
    array = np.ascontiguousarray(vectors, dtype="<f4")
    return {"shape": list(array.shape), "dtype": "float32",
            "data_b64": base64.b64encode(array.tobytes()).decode("ascii")}


def create_app(engines: Engines) -> FastAPI:
    """The HTTP app serving `engines` (endpoints are plain `def`: FastAPI runs them in threads)."""
    app = FastAPI(title="ivr model service", docs_url=None, redoc_url=None)
    asr_lock = threading.Lock()
    words_lock = threading.Lock()
    embed_lock = threading.Lock()
    voice_locks = {id(v): threading.Lock() for v in engines.voices.values()}
    stored = {lang: v.stored_in for lang, v in engines.voices.items() if v.stored_in}
    tts_store = {"tts_store": {"root": str(next(iter(stored.values()))[0].root),
                               "keys": {lang: key for lang, (_, key) in stored.items()}}
                 } if stored else {}

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "pid": os.getpid(), "asr": engines.asr.name,
                "asr_careful": engines.asr.careful_decoding,
                "voices": {lang: v.name for lang, v in engines.voices.items()},
                "embedder": type(engines.embedder).__name__, "timings": engines.timings,
                **tts_store}

    @app.post("/asr")
    def asr(pcm: Annotated[bytes, Body(media_type="application/octet-stream")],
            rate: Annotated[int, Query(gt=0)] = 8000,
            languages: str = "", careful: bool = False) -> dict[str, object]:
        if len(pcm) % 2:
            raise HTTPException(422, f"PCM16 body has an odd byte count ({len(pcm)})")
        langs = tuple(lang for lang in (s.strip() for s in languages.split(",")) if lang)
        with asr_lock:
            transcript = engines.asr.transcribe(pcm, rate, langs, careful)
        return dataclasses.asdict(transcript)

    @app.post("/asr/words")
    def asr_words(pcm: Annotated[bytes, Body(media_type="application/octet-stream")],
                  rate: Annotated[int, Query(gt=0)] = 8000,
                  languages: str = "") -> dict[str, object]:
        words = getattr(engines.asr, "words", None)
        if words is None:
            raise HTTPException(501, f"{engines.asr.name} gives no word timings")
        if len(pcm) % 2:
            raise HTTPException(422, f"PCM16 body has an odd byte count ({len(pcm)})")
        langs = tuple(lang for lang in (s.strip() for s in languages.split(",")) if lang)
        with words_lock:
            found = words(pcm, rate, langs)
        return {"words": [dataclasses.asdict(w) for w in found]}

    @app.post("/tts")
    def tts(request: TTSRequest, language: str = "") -> StreamingResponse:
        voice = engines.voice(language)
        lock = voice_locks[id(voice)]

        def lines() -> Iterator[bytes]:
            sentences = voice.speak_all(request.text)
            while True:
                try:
                    with lock:
                        speech = next(sentences, None)
                except Exception as exc:  # the stream has started: report in-band
                    yield (json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n").encode()
                    return
                if speech is None:
                    return
                yield (json.dumps({"text": speech.text, "compute_s": speech.compute_s,
                                   "source": speech.source,
                                   "pcm_b64": base64.b64encode(speech.pcm).decode("ascii")})
                       + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.post("/tts/warm")
    def tts_warm(request: TTSRequest, language: str = "") -> dict[str, str]:
        voice = engines.voice(language)
        with voice_locks[id(voice)]:
            return {"source": voice.speak(request.text).source}

    @app.post("/embed")
    def embed(request: EmbedRequest) -> dict[str, object]:
        if not request.texts:
            return encode_array(np.zeros((0, 0), np.float32))
        with embed_lock:
            vectors = (engines.embedder.queries(request.texts) if request.kind == "query"
                       else engines.embedder.passages(request.texts))
        return encode_array(vectors)

    return app


class ModelServiceProcess(ServiceProcess):
    """`python -m ivr.models.service` on 127.0.0.1 as a subprocess; use as a context manager.

    Its output goes to `log_path` (a temporary file when not given), which error messages name.
    """

    def __init__(self, asr_model: str = "whisper-tiny.en", languages: list[str] | None = None,
                 port: int | None = None, asr_device: str = "cpu",
                 log_path: Path | None = None, tts_cache: Path | None = None,
                 tts_cache_mb: int = DEFAULT_MAX_MB) -> None:
        """`tts_cache`: the disk store's folder (None: the default); `tts_cache_mb` 0: none."""
        super().__init__("model service", log_path)
        self.tts_cache = tts_cache
        self.tts_cache_mb = tts_cache_mb
        self.asr_model = asr_model
        self.languages = languages or ["en"]
        self.port = port or free_port()
        self.asr_device = asr_device
        self.ready = http_ok(f"{self.base_url}/health")  # type: ignore[method-assign]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "ivr.models.service", "--port", str(self.port),
                "--asr-model", self.asr_model, "--languages", ",".join(self.languages),
                "--asr-device", self.asr_device, "--tts-cache-mb", str(self.tts_cache_mb),
                *(["--tts-cache", str(self.tts_cache)] if self.tts_cache else [])]


def main(argv: list[str] | None = None) -> None:
    """Build the engines, then serve them with uvicorn (log level warning)."""
    parser = argparse.ArgumentParser(prog="python -m ivr.models.service", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--asr-model", default="whisper-tiny.en",
                        help="bundled name (whisper-tiny.en, whisper-base) or a CTranslate2 folder")
    parser.add_argument("--asr-device", default="cpu")
    parser.add_argument("--languages", default="en", help="comma-separated, e.g. en,zh")
    parser.add_argument("--tts-cache", type=Path, default=None,
                        help="folder of the TTS disk store (default: ~/.cache/ivr/tts)")
    parser.add_argument("--tts-cache-mb", type=int, default=DEFAULT_MAX_MB,
                        help="its size cap in MB; 0: no disk store (default: %(default)s)")
    args = parser.parse_args(argv)

    import uvicorn

    from ivr.session.engines import build_engines

    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    try:
        engines = build_engines(args.asr_model, languages, asr_device=args.asr_device)
    except (IvrError, ValueError) as exc:
        print(f"model service: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if args.tts_cache_mb > 0:
        store = DiskStore(args.tts_cache, args.tts_cache_mb << 20)
        for voice in engines.voices.values():
            voice.attach_store(store)
    print(f"model service: loaded {engines.timings}, serving on {args.host}:{args.port}",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(engines), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
