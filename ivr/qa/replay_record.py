"""Record the replay regression calls: piper callers through the shipped plans, kept as records.

    .venv/bin/python -m ivr.qa.replay_record tests/data/calls

Each call runs through the offline driver of `ivr talk` (real models, simulated time) and leaves
what a SIP call leaves, in small form: `CALL_ID.jsonl` (its events) and `CALL_ID.wav`, the
caller's side of the call as the session heard it, mono G.711 mu-law (8 kB a second; replay
reads the caller channel of a stereo SIP recording the same way). `tests/test_replay.py`
replays them and expects every decision again. After an intended change of behaviour, accept
the new decisions with `ivr replay tests/data/calls --accept` (the audio stays) or re-record.
"""

from __future__ import annotations

import argparse
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ivr.audio.frames import FRAME_MS, PHONE_RATE, silence
from ivr.audio.g711 import phone_line, ulaw_encode
from ivr.dialplan.loader import load_dialplan
from ivr.qa.replay_sources import PROJECT
from ivr.session.engines import Engines
from ivr.session.offline import Drive, ScriptTurn, run_offline, run_script, simulate
from ivr.tts.base import TTSEngine


@dataclass(frozen=True)
class ScriptedCall:
    """A regression call: a conversational caller (`says`, each after the bot is quiet) or one
    who presses `keys` at set seconds (while the bot speaks) and hangs up at `length_s`."""

    call_id: str
    dialplan: str          # relative to the project, as the record keeps it
    says: tuple[str, ...] = ()
    keys: dict[float, str] = field(default_factory=dict)
    length_s: float = 0.0
    caller_number: str = "+15550100"


CALLS = (
    ScriptedCall("faq-roaming", "dialplans/acme-mobile.yaml",
                 says=("How much does roaming cost?",)),
    ScriptedCall("ask-for-person", "dialplans/acme-mobile.yaml",
                 says=("Can I speak to a real person please?",)),
    ScriptedCall("emergency", "dialplans/acme-mobile.yaml",
                 says=("Help, my friend collapsed and is not breathing.",)),
    ScriptedCall("menu-by-keys", "dialplans/it-hardware-support.yaml",
                 keys={2.0: "4", 2.2: "4", 2.4: "7", 2.6: "1", 2.8: "9", 3.0: "2", 3.2: "#",
                       5.0: "3"},
                 length_s=7.0, caller_number="+441632960777"),
)


def record(call: ScriptedCall, engines: Engines, voice: TTSEngine, folder: Path) -> Path:
    """Run `call` and write its record and caller audio into `folder`; returns the record."""
    loaded = load_dialplan(Path(call.dialplan) if Path(call.dialplan).is_file()
                           else PROJECT / call.dialplan)
    if call.says:
        turns = [ScriptTurn(audio=phone_line(b"".join(s.pcm for s in voice.speak_all(text))))
                 for text in call.says]
        drive: Drive = lambda session, clock: run_script(  # noqa: E731
            session, clock, turns, gap_s=1.0, end_reason="caller_hangup")
    else:
        keys = {round(t * 1000 / FRAME_MS): digit for t, digit in call.keys.items()}
        drive = lambda session, clock: run_offline(  # noqa: E731
            session, clock, silence(int(call.length_s * 1000)), keys=keys,
            hang_up="caller_hangup")
    events_path = folder / f"{call.call_id}.jsonl"
    result, _ = simulate(call.call_id, loaded, engines, drive, caller_number=call.caller_number,
                         events_path=events_path)
    write_ulaw(folder / f"{call.call_id}.wav", result.caller_audio)
    return events_path


def write_ulaw(path: Path, pcm: bytes) -> None:
    """8 kHz PCM16 as a mono G.711 mu-law WAV (format 7)."""
    data = ulaw_encode(pcm)
    path.write_bytes(struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(data), b"WAVE",
                                 b"fmt ", 16, 7, 1, PHONE_RATE, PHONE_RATE, 1, 8, b"data",
                                 len(data)) + data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to write the calls")
    args = parser.parse_args()
    from ivr.llm.client import LLMClient, LLMSettings
    from ivr.llm.embedded import EmbeddedLLMServer
    from ivr.models.locator import piper_joe, smollm2_gguf
    from ivr.session.engines import build_engines
    from ivr.tts.piper_tts import PiperTTS

    args.folder.mkdir(parents=True, exist_ok=True)
    voice = PiperTTS(*piper_joe(), deterministic=True)
    with EmbeddedLLMServer(smollm2_gguf()) as server:
        engines = build_engines("whisper-tiny.en", ["en"],
                                LLMClient(LLMSettings(base_url=server.base_url, embedded=True)),
                                progress=True)
        engines.voices["en"] = voice  # as the tests' engines: the same audio on every run
        for call in CALLS:
            print(record(call, engines, voice, args.folder))


if __name__ == "__main__":
    main()
