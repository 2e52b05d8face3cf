"""The model service in a real subprocess (whisper tiny.en + piper English) and its remote clients."""

from __future__ import annotations

import difflib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from ivr.text.normalize import simple_normalize as normalize
from ivr.errors import EngineTimeout, IvrError
from ivr.llm.embedded import free_port
from ivr.models.remote import ModelServiceClient, RemoteASR, RemoteEmbedder, remote_engines
from ivr.models.service import ModelServiceProcess
from ivr.session.engines import Engines

pytestmark = pytest.mark.slow

SENTENCE = "Please hold the line while we connect you to the billing team."


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServiceProcess]:
    log = tmp_path_factory.mktemp("service") / "model-service.log"
    with ModelServiceProcess("whisper-tiny.en", ["en"], log_path=log) as svc:
        yield svc


@pytest.fixture(scope="module")
def engines(service: ModelServiceProcess) -> Engines:
    return remote_engines(service.base_url, ["en", "zh"], llm=None)


@pytest.fixture(scope="module")
def sentence_pcm(engines: Engines) -> bytes:
    speeches = list(engines.voice("en").speak_all(SENTENCE))
    assert [s.text for s in speeches] == [SENTENCE]
    return speeches[0].pcm


def test_health_lists_models_and_timings(engines: Engines) -> None:
    assert set(engines.voices) == {"en"}  # the service has no zh voice loaded
    assert {"asr", "embeddings", "tts.en"} <= set(engines.timings)


def test_tts_round_trip_gives_phone_rate_audio(sentence_pcm: bytes) -> None:
    assert len(sentence_pcm) % 2 == 0
    seconds = len(sentence_pcm) / 2 / 8000  # 11 words at 8 kHz: roughly 2-5 s
    assert 0.15 * 11 < seconds < 0.5 * 11
    samples = np.frombuffer(sentence_pcm, dtype="<i2")
    assert np.abs(samples).max() > 1000


def test_tts_streams_sentence_by_sentence(engines: Engines) -> None:
    speeches = list(engines.voice("en").speak_all("Hello there. How can I help you today?"))
    assert [s.text for s in speeches] == ["Hello there.", "How can I help you today?"]
    assert all(s.compute_s > 0 and s.audio_s > 0.3 for s in speeches)
    assert engines.voice("en").speak("Goodbye.").audio_s > 0.2  # single-sentence path


def test_asr_through_service_recognises_the_sentence(engines: Engines, sentence_pcm: bytes) -> None:
    transcript = engines.asr.transcribe(sentence_pcm, 8000, ("en",))
    assert transcript.rejected is None
    heard, said = normalize(transcript.text).split(), normalize(SENTENCE).split()
    assert difflib.SequenceMatcher(None, heard, said).ratio() >= 0.8, transcript.text
    assert transcript.language == "en"
    assert transcript.audio_s == pytest.approx(len(sentence_pcm) / 2 / 8000)
    assert transcript.compute_s > 0


def test_the_service_reads_a_turn_carefully_when_asked(engines: Engines,
                                                      sentence_pcm: bytes) -> None:
    assert engines.asr.careful_decoding  # whisper's beam-5 reading, as the service reports it
    careful = engines.asr.transcribe(sentence_pcm, 8000, ("en",), careful=True)
    heard, said = normalize(careful.text).split(), normalize(SENTENCE).split()
    assert difflib.SequenceMatcher(None, heard, said).ratio() >= 0.8, careful.text


def test_silence_is_rejected_by_the_service_guard(engines: Engines) -> None:
    transcript = engines.asr.transcribe(bytes(2 * 8000 * 2), 8000, ("en",))
    assert transcript.rejected == "silence"
    assert transcript.text == ""


def test_embeddings_equal_in_process_e5(engines: Engines) -> None:
    from ivr.kb.embedder import E5Embedder

    local = E5Embedder()
    texts = ["What are your opening hours?", "I lost my card", "营业时间"]
    remote_q = engines.embedder.queries(texts)
    remote_p = engines.embedder.passages(texts[:2])
    assert remote_q.dtype == np.float32 and remote_q.shape == (3, 384)
    np.testing.assert_allclose(remote_q, local.queries(texts), atol=1e-6)
    np.testing.assert_allclose(remote_p, local.passages(texts[:2]), atol=1e-6)


def test_concurrent_calls_from_threads(engines: Engines, sentence_pcm: bytes) -> None:
    voice = engines.voice("en")
    with ThreadPoolExecutor(4) as pool:
        asr = pool.submit(engines.asr.transcribe, sentence_pcm, 8000, ("en",))
        tts = pool.submit(lambda: list(voice.speak_all("One moment please.")))
        embeds = [pool.submit(engines.embedder.queries, [f"question {i}"]) for i in range(4)]
        assert asr.result(timeout=30).text
        assert tts.result(timeout=30)[0].pcm
        assert all(f.result(timeout=30).shape == (1, 384) for f in embeds)


def test_service_down_gives_ivr_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = ModelServiceClient(url)
    started = time.monotonic()
    with pytest.raises(IvrError, match=url) as info:
        RemoteASR(client).transcribe(bytes(1600), 8000)
    assert not isinstance(info.value, EngineTimeout)
    with pytest.raises(IvrError, match=url):
        RemoteEmbedder(client).queries(["hello"])
    with pytest.raises(IvrError, match=url):
        remote_engines(url, ["en"], llm=None)
    assert time.monotonic() - started < 3.0


def test_slow_service_gives_engine_timeout(engines: Engines, service: ModelServiceProcess,
                                           sentence_pcm: bytes) -> None:
    impatient = RemoteASR(ModelServiceClient(service.base_url, timeout_s=0.001))
    with pytest.raises(EngineTimeout, match=service.base_url):
        impatient.transcribe(sentence_pcm * 3, 8000, ("en",))


def test_service_that_cannot_start_names_its_log(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    with pytest.raises(IvrError, match="broken.log"):
        ModelServiceProcess(str(tmp_path / "no-such-model"), ["en"], log_path=log).start(ready_timeout_s=60)
