"""Record the SIP replay regression calls: real SIP calls from sipp into real `ivr.sip.worker`
processes on the shipped plans, kept as small call records in tests/data/calls.

    .venv/bin/python tests/sip/record_replay_calls.py tests/data/calls

Each call in `CALLS` is a timed caller: piper speech (deterministic voice, through a G.711 line)
and RFC 2833 digits in one RTP stream (`sip.media_files.write_pcap`), played by sipp with
`uac_pcap_any_end.xml`, which accepts a transfer (REFER), answers the bot's BYE, or hangs up
`hold_s` after the media started. The worker answers with the model service (whisper tiny.en,
piper) and the embedded LLM, one call at a time per plan; a call is placed again when its
expected decisions are missing or it was `overtaken` (two busy cores: a recorded call's timing
must not hinge on a model answering late). What is kept of each call is what replay reads:
`sip-NAME.jsonl`, the worker's event record (its SIP call id replaced by the name and its plan
path made relative to the project), and `sip-NAME.wav`, the caller channel of the worker's
stereo recording as mono G.711 mu-law (8 kB a second). Every call's decisions are printed;
`tests/test_replay_sip.py` expects them again (each call's `expect`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from ivr.audio.frames import silence  # noqa: E402
from ivr.qa.replay_record import write_ulaw  # noqa: E402
from ivr.qa.synth import synth_caller  # noqa: E402
from ivr.record import CallRecord  # noqa: E402
from ivr.tts.base import TTSEngine  # noqa: E402
from sip.media_files import write_pcap  # noqa: E402
from sip.siptest import (SCENARIOS, WorkerHandle, new_records, records, run_sipp,  # noqa: E402
                         worker)

SERIAL_KEYS = ((2.0, "4"), (2.2, "4"), (2.4, "7"), (2.6, "1"), (2.8, "9"), (3.0, "2"), (3.2, "#"))
ATTEMPTS = 3    # a call whose expected decisions are missing is placed again


@dataclass(frozen=True)
class SipCall:
    """One recorded caller: `says` as (seconds of silence before, text) in turn, `keys` as
    (seconds from the media start, digit); hangs up `hold_s` after the media started unless the
    bot transfers or hangs up first."""

    name: str
    plan: str
    says: tuple[tuple[float, str], ...] = ()
    keys: tuple[tuple[float, str], ...] = ()
    hold_s: float = 14.0
    expect: tuple[str, ...] = ()
    ends: str | None = None

    def met(self, record: CallRecord) -> bool:
        """Whether the recorded decisions include `expect` in order (each as a prefix), the
        call ended as `ends` says, and no turn was `overtaken`: a call whose recognition came
        late on a loaded machine is placed again."""
        decisions = iter(str(e["reason"]) for e in record.of("dialog.decision"))
        ended = str(record.one("call.end")["reason"])
        return (all(any(d.startswith(want) for d in decisions) for want in self.expect)
                and (self.ends is None or ended == self.ends) and not overtaken(record))

    @property
    def number(self) -> str:
        """The caller's number, one per call of `CALLS` (99: another), so each record can be
        matched to its call."""
        return f"+1555010{CALLS.index(self) if self in CALLS else 99:02d}"


CALLS: tuple[SipCall, ...] = (
    SipCall("faq-bill", "acme-mobile", says=((4.5, "How do I pay my bill?"),), hold_s=17,
            expect=("kb_match",)),
    SipCall("faq-data", "acme-mobile", says=((4.5, "What data plans do you have?"),), hold_s=18,
            expect=("kb_match",)),
    SipCall("faq-lost-phone", "acme-mobile", says=((4.5, "I lost my phone."),), hold_s=17,
            expect=("kb_match",)),
    SipCall("faq-no-signal", "acme-mobile", says=((4.5, "My phone has no signal."),), hold_s=17,
            expect=("kb_match",)),
    SipCall("faq-two-questions", "acme-mobile",
            says=((4.5, "How much does roaming cost?"), (11.0, "And how do I pay my bill?")),
            hold_s=30, expect=("kb_match", "kb_match")),
    SipCall("person", "acme-mobile", says=((4.5, "Can I speak to a real person please?"),),
            hold_s=16, expect=("caller_asked_for_human",), ends="transferred"),
    SipCall("emergency-spoken", "acme-mobile",
            says=((4.5, "My friend collapsed and is not breathing."),), hold_s=18,
            expect=("emergency",), ends="transferred"),
    SipCall("anger", "acme-mobile",
            says=((4.5, "I am so angry about this terrible service!"),), hold_s=18,
            expect=("angry",)),
    SipCall("hangup-mid-answer", "acme-mobile", says=((4.5, "What data plans do you have?"),),
            hold_s=12.5, expect=("kb_match",)),
    SipCall("silence", "acme-mobile", hold_s=20, expect=("no_input_reprompt",)),
    SipCall("cannot-help-twice", "acme-mobile",
            says=((4.5, "What is the weather like in Paris tomorrow?"),
                  (8.0, "Can you recommend a good restaurant?")), hold_s=28,
            expect=("cannot_help",)),
    SipCall("faq-roaming-abroad", "acme-mobile", says=((4.5, "Can I use my phone abroad?"),),
            hold_s=17, expect=("kb_match",)),
    SipCall("serial-keys-menu-key-1", "it-hardware-support", keys=SERIAL_KEYS + ((5.0, "1"),),
            hold_s=12, expect=("slot_filled", "menu_choice")),
    SipCall("serial-keys-menu-key-2", "it-hardware-support", keys=SERIAL_KEYS + ((5.0, "2"),),
            hold_s=10, expect=("slot_filled", "menu_choice")),
    SipCall("serial-spoken-menu-spoken", "it-hardware-support",
            says=((10.5, "S N 4 4 7 1 9 2."), (4.0, "The installer cannot see the disks.")),
            hold_s=26, expect=("slot_filled", "menu_choice")),
    SipCall("menu-spoken-power", "it-hardware-support", keys=SERIAL_KEYS,
            says=((6.0, "My server does not power on."),), hold_s=17,
            expect=("slot_filled", "menu_choice")),
    SipCall("menu-key-3-question", "it-hardware-support", keys=SERIAL_KEYS + ((5.0, "3"),),
            says=((9.0, "How long is the warranty?"),), hold_s=26,
            expect=("slot_filled", "menu_choice")),
    SipCall("engineer-key-0", "it-hardware-support", keys=SERIAL_KEYS + ((5.0, "0"),),
            hold_s=12, expect=("slot_filled", "caller_pressed_"), ends="transferred"),
    SipCall("emergency-fire", "it-hardware-support",
            says=((3.0, "There is smoke coming out of the server, it is on fire!"),), hold_s=20,
            expect=("emergency",), ends="transferred"),
    SipCall("hangup-in-greeting", "it-hardware-support", hold_s=3, expect=("start",)),
)


CALLER_ACTS = ("speech.start", "dtmf", "sip.disconnected")


def overtaken(record: CallRecord) -> bool:
    """Whether the caller did something (spoke, pressed a key, hung up) while the session was
    still recognising their previous utterance, or went on talking while the end-of-turn model
    (or the question check) judged a pause that it found the end of the turn: replay runs in
    simulated time, where model work takes no time, so such a call would not replay as it
    happened on a loaded machine."""
    waiting = False
    for event in record.events:
        found_end = (event.kind == "turn.judged" and event.data.get("complete")) \
            or (event.kind == "turn.question" and event.data.get("question"))
        if found_end and not event.data.get("ended"):
            return True
        if event.kind == "speech.end" and not event.data.get("dropped"):
            waiting = True
        elif event.kind in ("asr.final", "asr.rejected", "asr.partial", "dialog.decision"):
            waiting = False
        elif event.kind in CALLER_ACTS and waiting:
            return True
    return False


def caller_pcap(call: SipCall, voice: TTSEngine, folder: Path) -> Path:
    """`call`'s RTP stream (speech and digits, as long as the call) as `folder/caller.pcap`."""
    pcm = synth_caller(voice, list(call.says)) if call.says else b""
    total = int(call.hold_s * 8000) * 2 + 16000  # a second past the hang-up
    pcm += silence(max(0, total - len(pcm)) // 16)
    return write_pcap(folder / "caller.pcap", pcm, digits=list(call.keys))


def scenario(call: SipCall, folder: Path) -> Path:
    """The any-end scenario with this call's caller number and hang-up time."""
    text = (SCENARIOS / "uac_pcap_any_end.xml").read_text()
    text = text.replace("HOLD_MS", str(int(call.hold_s * 1000)))
    text = text.replace("sip:caller@[local_ip]", f"sip:{call.number}@[local_ip]")
    path = folder / "scenario.xml"
    path.write_text(text)
    return path


def place(call: SipCall, port: int, voice: TTSEngine, folder: Path) -> None:
    """One real SIP call; raises when sipp failed."""
    folder.mkdir(parents=True, exist_ok=True)
    caller_pcap(call, voice, folder)
    result = run_sipp(str(scenario(call, folder)), port, folder, timeout_s=call.hold_s + 60)
    if result.returncode != 0:
        raise RuntimeError(f"call {call.name}: {result}")


def keep(record: CallRecord, call: SipCall, folder: Path) -> Path:
    """`record` as `folder/sip-NAME.jsonl` and its caller channel as `folder/sip-NAME.wav`."""
    from sip.siptest import read_stereo_wav

    start = record.one("call.start")
    name = f"sip-{call.name}"
    text = record.events_path.read_text(encoding="utf-8")
    text = text.replace(str(start["call_id"]), name)
    text = text.replace(json.dumps(str(start["dialplan"]))[1:-1], f"dialplans/{call.plan}.yaml")
    (folder / f"{name}.jsonl").write_text(text, encoding="utf-8")
    caller, _ = read_stereo_wav(record.wav)
    write_ulaw(folder / f"{name}.wav", caller.tobytes())
    return folder / f"{name}.jsonl"


def record_one(call: SipCall, bot: WorkerHandle, voice: TTSEngine, work: Path) -> CallRecord:
    """Place `call` on `bot` (nothing else running there) until its record has the expected
    decisions (`ATTEMPTS` at most); its record."""
    for attempt in range(1, ATTEMPTS + 1):
        before = records(bot.recordings)
        try:
            place(call, bot.port, voice, work / f"{call.name}-{attempt}")
        except RuntimeError as exc:  # sipp gave up (a worker too busy to answer in time)
            print(f"{call.name}: attempt {attempt} failed: {str(exc)[:300]}", file=sys.stderr)
            continue
        record, = new_records(bot.recordings, before, timeout_s=60)
        if call.met(record):
            return record
        got = [str(e["reason"]) for e in record.of("dialog.decision")]
        print(f"{call.name}: attempt {attempt} decided {got}, not {list(call.expect)}",
              file=sys.stderr)
    raise RuntimeError(f"call {call.name}: expected decisions not recorded in {ATTEMPTS} tries")


def record_all(calls: Sequence[SipCall], folder: Path, work: Path, models_url: str,
               llm_url: str | None, voice: TTSEngine) -> list[Path]:
    """Place `calls` one at a time on each of one worker per plan and keep their records in
    `folder`; returns the kept records (a call that failed every attempt is left out)."""
    import contextlib

    plans = sorted({c.plan for c in calls})
    with contextlib.ExitStack() as stack:
        bots = {plan: stack.enter_context(worker(work, ROOT / "dialplans" / f"{plan}.yaml",
                                                 models_url, name=f"w{n}", llm_url=llm_url))
                for n, plan in enumerate(plans, 1)}

        def one_plan(plan: str) -> list[Path]:
            kept = []
            for call in (c for c in calls if c.plan == plan):
                try:
                    kept.append(keep(record_one(call, bots[plan], voice, work), call, folder))
                except RuntimeError as exc:  # the others are still worth keeping
                    print(exc, file=sys.stderr)
            return kept

        with concurrent.futures.ThreadPoolExecutor(len(plans)) as pool:
            return [path for paths in pool.map(one_plan, plans) for path in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to keep the calls")
    parser.add_argument("--only", nargs="*", default=None, help="names of the calls to record")
    args = parser.parse_args()
    from ivr.llm.embedded import EmbeddedLLMServer
    from ivr.models.locator import piper_joe, smollm2_gguf
    from ivr.tts.piper_tts import PiperTTS
    from sip.siptest import shared_model_service

    calls = [c for c in CALLS if args.only is None or c.name in args.only]
    voice = PiperTTS(*piper_joe(), deterministic=True)
    models = shared_model_service()
    args.folder.mkdir(parents=True, exist_ok=True)
    with EmbeddedLLMServer(smollm2_gguf()) as llm, \
            tempfile.TemporaryDirectory(prefix="replay-sip-") as work:
        kept = record_all(calls, args.folder, Path(work), models.base_url, llm.base_url, voice)
        for path in kept:
            record = CallRecord.read(path)
            decisions = [f"{e['reason']}" for e in record.of("dialog.decision")]
            print(path.name, decisions, record.one("call.end")["reason"])
    if len(kept) < len(calls):
        raise SystemExit(f"{len(calls) - len(kept)} call(s) not recorded (see above)")


if __name__ == "__main__":
    main()
