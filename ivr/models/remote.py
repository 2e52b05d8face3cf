"""Engines that call the model service (`ivr.models.service`) instead of computing in-process.

They implement the same interfaces as the local engines, so a call session cannot tell the
difference; a SIP worker uses them to keep model compute (and the GIL) out of its process.
They are synchronous and thread-safe (one shared `httpx.Client`): the session calls them from
executor threads.

Errors: the service unreachable -> `IvrError` naming its URL; no answer in time -> `EngineTimeout`;
an error status -> `IvrError` with the status and detail.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np

from ivr.asr.base import ASREngine, Hypothesis, Transcript, Word
from ivr.audio.frames import PHONE_RATE
from ivr.errors import EngineTimeout, IvrError
from ivr.kb.embedder import Embedder
from ivr.llm.client import LLMClient
from ivr.session.engines import Engines
from ivr.tts.base import Source, Speech, TTSEngine
from ivr.tts.store import DiskStore

_TRANSCRIPT_FIELDS = frozenset(f.name for f in dataclasses.fields(Transcript))


def decode_array(payload: dict[str, Any]) -> np.ndarray:
    """A float32 array from the service's ``{"shape", "dtype", "data_b64"}`` JSON."""
    raw = base64.b64decode(payload["data_b64"])
    return np.frombuffer(raw, dtype="<f4").reshape(tuple(payload["shape"])).astype(np.float32)


class ModelServiceClient:
    """One connection pool to a model service, shared by the remote engines (thread-safe).

    `timeout_s` bounds each read (for TTS: the wait for each next sentence); `connect_timeout_s`
    bounds connecting. Proxy variables from the environment are ignored (loopback / LAN service).
    """

    def __init__(self, base_url: str, timeout_s: float = 10.0, connect_timeout_s: float = 2.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = httpx.Client(base_url=self.base_url, trust_env=False,
                                  timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s))

    @contextmanager
    def _errors(self, path: str) -> Iterator[None]:
        url = f"{self.base_url}{path}"
        try:
            yield
        except httpx.ConnectTimeout as exc:
            raise IvrError(f"model service at {url} unreachable: connect timed out") from exc
        except httpx.TimeoutException as exc:
            raise EngineTimeout(f"model service at {url} timed out ({type(exc).__name__}, "
                                f"limit {self.timeout_s:g} s)") from exc
        except httpx.TransportError as exc:
            raise IvrError(f"model service at {url} unreachable: {exc or type(exc).__name__}") from exc

    def _check(self, response: httpx.Response, path: str) -> None:
        if response.status_code != 200:
            detail = response.read()[:200].decode("utf-8", "replace")
            raise IvrError(f"model service at {self.base_url}{path} answered "
                           f"{response.status_code}: {detail}")

    def post(self, path: str, timeout_s: float | None = None, **kwargs: Any) -> Any:
        """POST and return the decoded JSON answer."""
        with self._errors(path):
            response = self._http.post(path, timeout=timeout_s or httpx.USE_CLIENT_DEFAULT, **kwargs)
            self._check(response, path)
            return response.json()

    def post_lines(self, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """POST and yield each NDJSON line of the streamed answer as it arrives."""
        with self._errors(path):
            with self._http.stream("POST", path, **kwargs) as response:
                self._check(response, path)
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)

    def health(self) -> dict[str, Any]:
        """GET /health: loaded models and their load timings."""
        with self._errors("/health"):
            response = self._http.get("/health")
            self._check(response, "/health")
            return response.json()

    def close(self) -> None:
        self._http.close()


class RemoteASR(ASREngine):
    """ASR on the service. The phantom guard runs there, once; this side's guard is unused.

    `Transcript.compute_s` is the wall time this call waited (service compute plus transport).
    """

    name = "remote-asr"

    def __init__(self, client: ModelServiceClient, careful_decoding: bool = False) -> None:
        super().__init__()
        self.client = client
        self.careful_decoding = careful_decoding  # as the service's engine reports it

    def _request(self, pcm: bytes, rate: int, languages: tuple[str, ...],
                 careful: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"rate": rate, "languages": ",".join(languages)}
        if careful:
            params["careful"] = "true"
        return self.client.post("/asr", content=pcm, params=params,
                                headers={"Content-Type": "application/octet-stream"})

    def transcribe(self, pcm: bytes, rate: int, languages: tuple[str, ...] = (),
                   careful: bool = False) -> Transcript:
        """Recognise one utterance on the service (guarded there)."""
        started = time.perf_counter()
        data = self._request(pcm, rate, languages, careful)
        fields = {k: v for k, v in data.items() if k in _TRANSCRIPT_FIELDS}
        fields["compute_s"] = time.perf_counter() - started
        return Transcript(**fields)

    def words(self, pcm: bytes, rate: int, languages: tuple[str, ...] = (),
              timeout_s: float = 300.0) -> list[Word]:
        """Every word of a whole recording with its timing (the service's `/asr/words`)."""
        data = self.client.post("/asr/words", timeout_s=timeout_s, content=pcm,
                                params={"rate": rate, "languages": ",".join(languages)},
                                headers={"Content-Type": "application/octet-stream"})
        return [Word(w["start"], w["end"], w["text"]) for w in data["words"]]

    def _transcribe_impl(self, pcm: bytes, rate: int, languages: tuple[str, ...],
                         careful: bool = False) -> Hypothesis:
        data = self._request(pcm, rate, languages, careful)
        return Hypothesis(data["raw_text"], data["language"], data["no_speech_prob"],
                          data["avg_logprob"])


class RemoteTTS(TTSEngine):
    """One language's voice on the service; sentences stream back as they are synthesised.

    On the service's host its disk store is read directly (`remote_engines` attaches it,
    read-only, under the key the service reports), so a pre-spoken sentence costs a file read
    instead of an HTTP round trip.

    `Speech.compute_s` is how long this side waited for that sentence (the first includes the
    request itself).
    """

    name = "remote-tts"

    def __init__(self, client: ModelServiceClient, language: str) -> None:
        self.client = client
        self.language = language

    def speak_all(self, text: str) -> Iterator[Speech]:
        """Sentence by sentence, each yielded as soon as the service sends it."""
        waited = time.perf_counter()
        for item in self.client.post_lines("/tts", params={"language": self.language},
                                           json={"text": text}):
            if "error" in item:
                raise IvrError(f"model service at {self.client.base_url}/tts failed: {item['error']}")
            yield Speech(item["text"], base64.b64decode(item["pcm_b64"]),
                         time.perf_counter() - waited, item.get("source", "synthesis"))
            waited = time.perf_counter()

    def _produce(self, sentence: str) -> tuple[bytes, Source]:
        """From the service, which looks in its own memory and disk store first."""
        speeches = list(self.speak_all(sentence))
        source = speeches[0].source if len(speeches) == 1 else "synthesis"
        return b"".join(s.pcm for s in speeches), source

    def _synthesize_impl(self, text: str) -> tuple[bytes, int]:
        return b"".join(s.pcm for s in self.speak_all(text)), PHONE_RATE

    def warm(self, sentence: str) -> str:
        """Make `sentence` ready on the service (memory and disk store); where it came from."""
        return self.client.post("/tts/warm", params={"language": self.language},
                                json={"text": sentence}, timeout_s=60.0)["source"]


class RemoteEmbedder(Embedder):
    """e5 embeddings on the service (L2-normalised float32, as the local embedder's)."""

    def __init__(self, client: ModelServiceClient, timeout_s: float = 30.0) -> None:
        self.client = client
        self.timeout_s = timeout_s  # building a knowledge base embeds many texts at once

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        return decode_array(self.client.post("/embed", json={"texts": list(texts), "kind": kind},
                                             timeout_s=self.timeout_s))

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts, "query")

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts, "passage")


def remote_engines(base_url: str, languages: list[str], llm: LLMClient | None,
                   asr_url: str | None = None, timeout_s: float = 10.0) -> Engines:
    """Engines backed by the model service at `base_url` (checked with GET /health).

    `asr_url` points ASR at another service speaking the same /asr protocol (e.g. a GPU box).
    Voices are those of `languages` the service has; `timings` are the service's load timings.
    """
    client = ModelServiceClient(base_url, timeout_s=timeout_s)
    health = client.health()
    served = health.get("voices", {})
    voices: dict[str, TTSEngine] = {lang: RemoteTTS(client, lang) for lang in languages if lang in served}
    if not voices:
        raise IvrError(f"model service at {client.base_url} has no voice for any of {languages} "
                       f"(it has {sorted(served)})")
    _read_service_store(health.get("tts_store"), voices)
    asr_client, asr_health = client, health
    if asr_url is not None:
        asr_client = ModelServiceClient(asr_url, timeout_s=timeout_s)
        asr_health = asr_client.health()
    asr = RemoteASR(asr_client, careful_decoding=bool(asr_health.get("asr_careful", False)))
    return Engines(asr, voices, RemoteEmbedder(client), llm,
                   timings=dict(health.get("timings", {})))


def _read_service_store(info: dict[str, Any] | None, voices: dict[str, TTSEngine]) -> None:
    """Attach the service's TTS disk store, read-only, where this host sees its folder."""
    if not info or not Path(info["root"]).is_dir():
        return
    store = DiskStore(Path(info["root"]), read_only=True)
    for language, voice in voices.items():
        if info["keys"].get(language):
            voice.attach_store(store, info["keys"][language])
