"""A real call from a second, independent SIP client: baresip dials a real worker on 127.0.0.1,
asks a question from a WAV file, hears the knowledge-base answer and hangs up when its file
ends; the worker's event log and stereo recording show the whole call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivr.audio.frames import silence
from ivr.audio.wavfile import read_audio, write_wav
from ivr.models.remote import remote_engines
from ivr.qa.synth import synth_caller
from ivr.text.normalize import simple_normalize as normalize

from sip import baresip
from sip.siptest import (new_records, read_stereo_wav, records, shared_model_service,
                         verbatim_plan, voiced_seconds, worker)

pytestmark = pytest.mark.slow

QUESTION = "How much does roaming cost?"
GREETING_S = 4.5  # the caller lets the greeting finish before asking
LISTEN_S = 10.0   # silence after the question while the answer (about 5.5 s) plays


def test_baresip_call_is_answered_asks_hears_the_answer_and_hangs_up(tmp_path: Path) -> None:
    models = shared_model_service()
    engines = remote_engines(models.base_url, ["en"], None)
    say = tmp_path / "question.wav"
    pcm = synth_caller(engines.voice("en"), [(GREETING_S, QUESTION)])
    pcm += silence(int(LISTEN_S * 1000))
    write_wav(say, pcm, 8000)
    say_s = len(pcm) / 16000
    with worker(tmp_path, verbatim_plan(tmp_path), models.base_url) as bot:
        before = records(bot.recordings)
        result = baresip.call(f"sip:hotline@127.0.0.1:{bot.port}", say, tmp_path / "baresip")
        assert "Call established" in result.log and baresip.CALL_CLOSED in result.log, result
        call, = new_records(bot.recordings, before)

    kinds = call.kinds()
    assert kinds[:2] == ["sip.invite", "call.start"] and kinds[-1] == "media.stats"
    # after the call: the final ticket and the recording's redaction, in either order
    assert sorted(kinds[kinds.index("call.end") + 1:-1]) == ["recording.redacted", "ticket"]
    assert call.one("call.start")["caller"] == "caller"  # baresip's account, not another client
    assert {"sip.answered", "sip.media"} <= set(kinds[:kinds.index("asr.final")])
    assert "roaming" in call.one("asr.final")["text"].lower()
    assert "European Union" in call.said() and "five dollars a day" in call.said()

    # baresip hung up when its file ended, after the whole answer had been played
    hangup = call.one("sip.disconnected")
    assert hangup["by"] == "caller" and call.one("call.end")["reason"] == "caller_hangup"
    assert abs(hangup["t"] - say_s) < 1.5, (hangup["t"], say_s)
    answer = [e for e in call.of("bot.say") if e["t"] > call.one("asr.final")["t"]]
    assert hangup["t"] > answer[0]["t"] + sum(e["audio_s"] for e in answer)

    caller, bot_side = read_stereo_wav(call.wav)
    assert 1.0 < voiced_seconds(caller) < 3.0  # the question, nothing else
    assert voiced_seconds(bot_side) > 5.0      # greeting and answer

    # what baresip itself received and decoded is the greeting and the answer
    assert result.heard is not None, result
    heard_pcm, rate = read_audio(result.heard)
    assert rate == 8000 and voiced_seconds(np.frombuffer(heard_pcm, "<i2")) > 5.0
    heard = normalize(engines.asr.transcribe(heard_pcm, rate, ("en",)).raw_text)
    assert "how can i help" in heard and "european union" in heard, heard
