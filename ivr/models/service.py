"""The model service: ASR, TTS and embeddings in their own process, over HTTP on loopback.

SIP workers (pjsua2) must not run model compute in-process: the GIL would starve pjmedia's media
clock thread. They use the clients in `ivr.models.remote` instead, which talk to this service.

Wire protocol (all bodies small; audio is 8 kHz-or-any-rate PCM16 little-endian mono):

* ``POST /asr?rate=8000&languages=en,zh`` with the raw PCM16 bytes as the body
  (``Content-Type: application/octet-stream``) -> JSON object with the `Transcript` fields.
  The phantom guard runs here, once (the public `ASREngine.transcribe`).
* ``POST /tts?language=en`` with JSON ``{"text": "..."}`` -> NDJSON stream
  (``application/x-ndjson``), one line per sentence as soon as it is synthesised:
  ``{"text": str, "compute_s": float, "pcm_b64": base64 of 8 kHz PCM16}``. A failure after the
  stream started is sent as a final line ``{"error": "..."}``.
* ``POST /embed`` with JSON ``{"texts": [...], "kind": "query" | "passage"}`` ->
  ``{"shape": [n, d], "dtype": "float32", "data_b64": base64 of the C-order little-endian array}``.
* ``GET /health`` -> ``{"status": "ok", "pid", "asr", "voices": {lang: engine}, "embedder",
  "timings": {model: load seconds}}``.

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
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Iterator, Literal

import httpx
import numpy as np
from fastapi import Body, FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ivr.errors import IvrError
from ivr.llm.embedded import free_port
from ivr.session.engines import Engines


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
    embed_lock = threading.Lock()
    voice_locks = {id(v): threading.Lock() for v in engines.voices.values()}

    @app.get("/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "pid": os.getpid(), "asr": engines.asr.name,
                "voices": {lang: v.name for lang, v in engines.voices.items()},
                "embedder": type(engines.embedder).__name__, "timings": engines.timings}

    @app.post("/asr")
    def asr(pcm: Annotated[bytes, Body(media_type="application/octet-stream")],
            rate: Annotated[int, Query(gt=0)] = 8000,
            languages: str = "") -> dict[str, object]:
        if len(pcm) % 2:
            raise HTTPException(422, f"PCM16 body has an odd byte count ({len(pcm)})")
        langs = tuple(lang for lang in (s.strip() for s in languages.split(",")) if lang)
        with asr_lock:
            transcript = engines.asr.transcribe(pcm, rate, langs)
        return dataclasses.asdict(transcript)

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
                                   "pcm_b64": base64.b64encode(speech.pcm).decode("ascii")})
                       + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.post("/embed")
    def embed(request: EmbedRequest) -> dict[str, object]:
        if not request.texts:
            return encode_array(np.zeros((0, 0), np.float32))
        with embed_lock:
            vectors = (engines.embedder.queries(request.texts) if request.kind == "query"
                       else engines.embedder.passages(request.texts))
        return encode_array(vectors)

    return app


class ModelServiceProcess:
    """`python -m ivr.models.service` on 127.0.0.1 as a subprocess; use as a context manager.

    Its output goes to `log_path` (a temporary file when not given), which error messages name.
    """

    def __init__(self, asr_model: str = "whisper-tiny.en", languages: list[str] | None = None,
                 port: int | None = None, asr_device: str = "cpu",
                 log_path: Path | None = None) -> None:
        self.asr_model = asr_model
        self.languages = languages or ["en"]
        self.port = port or free_port()
        self.asr_device = asr_device
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"ivr-model-service-{self.port}-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout_s: float = 120.0) -> "ModelServiceProcess":
        """Start the service and wait until GET /health answers 200."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ivr.models.service", "--port", str(self.port),
                 "--asr-model", self.asr_model, "--languages", ",".join(self.languages),
                 "--asr-device", self.asr_device],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise IvrError(f"model service exited with {code} while starting"
                               f"{_last_line(self.log_path)} (see {self.log_path})")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1.0, trust_env=False).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.stop()
        raise IvrError(f"model service not ready after {ready_timeout_s:.0f} s (see {self.log_path})")

    def stop(self) -> None:
        """Terminate the service (kill it if it does not exit within 10 s)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "ModelServiceProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()[:300]}" if lines else ""


def main(argv: list[str] | None = None) -> None:
    """Build the engines, then serve them with uvicorn (log level warning)."""
    parser = argparse.ArgumentParser(prog="python -m ivr.models.service", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--asr-model", default="whisper-tiny.en",
                        help="bundled name (whisper-tiny.en, whisper-base) or a CTranslate2 folder")
    parser.add_argument("--asr-device", default="cpu")
    parser.add_argument("--languages", default="en", help="comma-separated, e.g. en,zh")
    args = parser.parse_args(argv)

    import uvicorn

    from ivr.session.engines import build_engines

    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    try:
        engines = build_engines(args.asr_model, languages, asr_device=args.asr_device)
    except (IvrError, ValueError) as exc:
        print(f"model service: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    print(f"model service: loaded {engines.timings}, serving on {args.host}:{args.port}",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(engines), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
