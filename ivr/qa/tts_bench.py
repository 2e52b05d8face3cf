"""`ivr bench tts`: how long after the decision the first frame of an approved answer is ready,
with the pre-spoken disk store warm and cold, and how long warming a plan takes.

Measured per approved answer (each knowledge-base entry in each plan language), memory emptied
before each: the first sentence goes through the same steps as in a call (an executor thread
runs `TTSEngine.speak`, its audio is cut into 20 ms frames), and the clock stops when the first
frame exists. Two paths:

* ``local``: the voice in this process, as `ivr talk` and an in-process worker use it;
* ``service``: as `ivr serve`'s SIP workers speak: a voice of a model service, whose disk store
  the worker reads directly (same host), else an HTTP request; the service is restarted for
  each round, so no figure is the service's memory.

Cold means no disk store (synthesis); warm means the store holds the plan (see
`ivr.tts.warm`).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from ivr.audio.frames import FRAME_BYTES
from ivr.dialplan.loader import LoadedPlan
from ivr.qa.latency import percentiles
from ivr.tts.base import TTSEngine
from ivr.tts.sentences import split_sentences
from ivr.tts.store import DiskStore
from ivr.tts.warm import warm_plan


def answer_openings(loaded: LoadedPlan) -> list[tuple[str, str]]:
    """(language, first sentence) of every approved answer, in every plan language."""
    plan = loaded.plan
    found = []
    for entry in plan.knowledge:
        for language in plan.languages:
            sentences = split_sentences(plan.text(entry.answer, language))
            if sentences:
                found.append((language, sentences[0]))
    return found


async def _first_frame_s(voice: TTSEngine, sentence: str) -> float:
    """Decision -> first 20 ms frame of `sentence` ready, the way the call session gets it."""
    started = time.perf_counter()
    speech = await asyncio.get_running_loop().run_in_executor(None, voice.speak, sentence)
    if len(speech.pcm) < FRAME_BYTES:
        raise RuntimeError(f"no audio for {sentence!r}")
    return time.perf_counter() - started


def time_first_frames(voices: Callable[[str], TTSEngine], openings: list[tuple[str, str]],
                      rounds: int) -> list[float]:
    """Seconds to the first frame for each opening, `rounds` times, memory emptied each time."""
    async def measure() -> list[float]:
        times = []
        for _ in range(rounds):
            for language, sentence in openings:
                voice = voices(language)
                voice.forget()
                times.append(await _first_frame_s(voice, sentence))
        return times

    return asyncio.run(measure())


def stat(values: list[float]) -> dict[str, float]:
    """p50/p95 in milliseconds and the count."""
    p50, p95 = percentiles(values)
    return {"p50_ms": round(p50 * 1000, 2), "p95_ms": round(p95 * 1000, 2), "n": len(values)}


def bench_local(loaded: LoadedPlan, voices: dict[str, TTSEngine], store_dir: Path,
                rounds: int) -> dict[str, object]:
    """Warm-up time into an empty store, then first-frame times cold and warm, in process."""
    openings = answer_openings(loaded)
    store = DiskStore(store_dir)
    for voice in voices.values():
        voice.forget()
        voice.attach_store(store)
    report = warm_plan(loaded.plan, lambda lang, s: voices[lang].speak(s).source)
    warm = time_first_frames(voices.__getitem__, openings, rounds)
    for voice in voices.values():
        voice.attach_store(None)
    cold = time_first_frames(voices.__getitem__, openings, rounds)
    return {"warm_up": {"sentences": report.sentences, "seconds": round(report.seconds, 2)},
            "first_frame": {"cold (synthesis)": stat(cold), "warm (disk store)": stat(warm)}}


@contextlib.contextmanager
def _service(languages: list[str], store_dir: Path | None) -> Iterator[dict[str, TTSEngine]]:
    """A model service and its voices as a SIP worker has them (reading its store directly)."""
    from ivr.models.remote import remote_engines
    from ivr.models.service import ModelServiceProcess

    with ModelServiceProcess(languages=languages, tts_cache=store_dir,
                             tts_cache_mb=500 if store_dir else 0) as service:
        yield remote_engines(service.base_url, languages, None, timeout_s=60.0).voices


def bench_service(loaded: LoadedPlan, store_dir: Path, rounds: int) -> dict[str, object]:
    """The same as a SIP worker of `ivr serve` speaks, through a model service warmed once; a
    fresh service for each round (its memory empty), with the store and without one."""
    languages = list(loaded.plan.languages)
    openings = answer_openings(loaded)
    with _service(languages, store_dir) as voices:
        warm_plan(loaded.plan, lambda lang, s: voices[lang].speak(s).source)
    times: dict[str, list[float]] = {"cold (synthesis)": [], "warm (disk store)": []}
    for _ in range(rounds):
        for name, store in (("warm (disk store)", store_dir), ("cold (synthesis)", None)):
            with _service(languages, store) as voices:
                times[name] += time_first_frames(voices.__getitem__, openings, 1)
    return {"first_frame": {name: stat(values) for name, values in times.items()}}


def run_bench(loaded: LoadedPlan, voices: dict[str, TTSEngine], rounds: int,
              service: bool) -> dict[str, object]:
    """Local figures, and the model-service path when `service`; stores in temp folders."""
    with tempfile.TemporaryDirectory(prefix="ivr-bench-tts-") as tmp:
        figures: dict[str, object] = {"plan": loaded.plan.name,
                                      "answers": len(answer_openings(loaded)),
                                      "local": bench_local(loaded, voices, Path(tmp) / "local",
                                                           rounds)}
        if service:
            figures["service"] = bench_service(loaded, Path(tmp) / "service", rounds)
    return figures


def render(figures: dict) -> str:
    """A table of the figures."""
    lines = [f"{figures['plan']}: {figures['answers']} approved answers (first sentence each)"]
    warm_up = figures["local"]["warm_up"]
    lines.append(f"warm-up of the plan's sentences into an empty store: "
                 f"{warm_up['sentences']} sentences in {warm_up['seconds']:.1f} s")
    lines += ["", f"{'decision -> first answer frame':40} {'p50 ms':>9} {'p95 ms':>9} {'n':>4}"]
    for path in ("local", "service"):
        for name, s in figures.get(path, {}).get("first_frame", {}).items():
            lines.append(f"{path + ', ' + name:40} {s['p50_ms']:9.2f} {s['p95_ms']:9.2f} "
                         f"{s['n']:4d}")
    return "\n".join(lines)
