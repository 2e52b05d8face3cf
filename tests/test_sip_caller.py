"""The pjsua2 test caller asks the hotline a question over SIP/RTP and whisper checks what the
bot said: the whole product path with the real demo plan (LLM phrasing included)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ivr.text.normalize import simple_normalize as normalize
from ivr.audio.wavfile import write_wav
from ivr.models.remote import remote_engines

from sip.siptest import ROOT, read_stereo_wav, shared_model_service, worker

pytestmark = pytest.mark.slow


def test_pjsua2_caller_hears_the_facts_it_asked_for(tmp_path: Path, llm_server):
    models = shared_model_service()
    engines = remote_engines(models.base_url, ["en"], None)
    question = tmp_path / "question.wav"
    write_wav(question, b"".join(s.pcm for s in engines.voice("en").speak_all(
        "How much does roaming cost?")), 8000)
    with worker(tmp_path, ROOT / "dialplans" / "acme-mobile.yaml", models.base_url,
                llm_url=llm_server.base_url) as bot:
        report_path, recording = tmp_path / "report.json", tmp_path / "call.wav"
        run = subprocess.run(
            [sys.executable, "-m", "ivr.sip.caller", f"sip:hotline@127.0.0.1:{bot.port}",
             "--say", str(question), "--record", str(recording), "--report", str(report_path),
             "--timeout-s", "90"], capture_output=True, text=True, timeout=150, cwd=ROOT)
        assert run.returncode == 0, run.stderr[-3000:] + bot.log()[-3000:]
    report, = json.loads(report_path.read_text())
    assert report["connected"] and report["state"] == "ended", report
    assert report["greeting_ms"] is not None and report["greeting_ms"] < 5000, report
    turn, = report["turns"]
    assert 0 < turn["latency_ms"] < 10000 and turn["bot_audio_s"] > 2.0, report
    caller, bot_side = read_stereo_wav(recording)
    answer = bot_side[int((turn["speech_end"] - report["media_start"]) * 8000):]
    heard = normalize(engines.asr.transcribe(answer.astype("<i2").tobytes(), 8000, ("en",)).raw_text)
    assert "roaming" in heard or "european union" in heard, heard
    assert "european union" in heard and ("five dollars" in heard or "5" in heard), heard
    assert np.abs(caller).max() > 1000  # the question went out on the caller's channel
