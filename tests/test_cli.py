"""The `ivr` command as a user runs it: real subprocesses, real models, one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.audio.frames import silence
from ivr.audio.wavfile import read_audio, write_wav
from ivr.record import read_events

from conftest import ROOT

IVR = [sys.executable, "-m", "ivr.cli.main"]


def ivr(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IVR, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ivr: error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_talk_plays_the_sample_caller_and_writes_outputs(tmp_path: Path, llm_server):
    out, events = tmp_path / "bot.wav", tmp_path / "call.jsonl"
    result = ivr("talk", "samples/caller.wav", "-o", str(out), "--events", str(events),
                 "--llm-url", llm_server.base_url)
    assert result.returncode == 0, result.stderr
    assert "caller:" in result.stdout and "roaming" in result.stdout.lower()
    assert "-> transfer to sip:agents@127.0.0.1:5070" in result.stdout
    # the timeline charges model work its compute time: no reply starts the instant a turn ends
    waits = re.search(r"bot audio began (.*) after the caller stopped talking\n", result.stderr)
    assert waits and all(float(w) > 0.1 for w in re.findall(r"([\d.]+) s", waits.group(1))), \
        result.stderr
    pcm, rate = read_audio(out)
    assert rate == 8000 and len(pcm) > 8000 * 2 * 10
    kinds = [e.kind for e in read_events(events)]
    assert kinds[0] == "call.start" and kinds[-1] == "call.end"
    assert {"speech.end", "asr.final", "dialog.decision", "tts.first_audio",
            "transfer.request"} <= set(kinds)


@pytest.mark.parametrize("content,needle", [
    (None, "not found"), (b"", "empty"), (b"this is not audio at all" * 10, "not a WAV"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", "corrupt"),
])
def test_talk_rejects_bad_audio_with_one_line(tmp_path: Path, content, needle):
    path = tmp_path / "caller.wav"
    if content is not None:
        path.write_bytes(content)
    result = ivr("talk", str(path), "-o", str(tmp_path / "out.wav"))
    assert_one_line_error(result, str(path))
    assert needle.lower() in result.stderr.lower(), result.stderr


def test_talk_on_ten_minutes_of_silence_reprompts_then_hangs_up(tmp_path: Path, llm_server):
    caller = tmp_path / "silence.wav"
    write_wav(caller, silence(600_000, 16000), 16000)
    result = ivr("talk", str(caller), "-o", str(tmp_path / "out.wav"),
                 "--llm-url", llm_server.base_url)
    assert result.returncode == 0, result.stderr
    assert "caller:" not in result.stdout and "call ended: bot_hangup:no_input" in result.stderr
    assert result.stdout.count("(caller silent") == 3


def test_talk_with_a_broken_dialplan_names_file_and_line(tmp_path: Path):
    plan = tmp_path / "plan.yaml"
    text = (ROOT / "dialplans" / "acme-mobile.yaml").read_text()
    plan.write_text(text.replace("default: sip:agents@127.0.0.1:5070", "default: agents@nowhere"))
    line = text.splitlines().index("  default: sip:agents@127.0.0.1:5070") + 1
    result = ivr("talk", "samples/caller.wav", "--dialplan", str(plan))
    assert_one_line_error(result, f"{plan}:{line}:3:", "transfer.default", "agents@nowhere")


def test_models_lists_every_bundled_model():
    result = ivr("models")
    assert result.returncode == 0, result.stdout
    for name in ("whisper-tiny.en", "whisper-base", "piper-joe-en_US", "smollm2-135m-instruct",
                 "multilingual-e5-small"):
        assert f"ok       {name}" in result.stdout


def test_help_lists_commands():
    result = ivr("--help")
    assert result.returncode == 0 and "talk" in result.stdout and "bench" in result.stdout
