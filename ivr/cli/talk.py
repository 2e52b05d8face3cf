"""`ivr talk CALLER.wav`: a recorded caller through the hotline, as if over a phone line."""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

from ivr.audio.frames import PHONE_RATE
from ivr.audio.g711 import phone_line
from ivr.audio.resample import resample
from ivr.audio.wavfile import read_audio, write_wav
from ivr.cli.runtime import add_runtime_options, runtime
from ivr.dialplan.model import Dialplan
from ivr.events import Event
from ivr.session.engines import Engines
from ivr.session.offline import run_offline, simulate
from ivr.tts.store import DiskStore, default_root
from ivr.tts.warm import warm_plan


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "talk", help="play a recorded caller (WAV) through the hotline",
        description="Play CALLER.wav (any sample rate, mono or stereo) through a call session as "
                    "if over an 8 kHz G.711 phone line, print the conversation turn by turn, and "
                    "write the bot's side as a WAV and the timeline as JSON lines.")
    parser.add_argument("caller", type=Path, help="caller audio, a WAV file")
    parser.add_argument("-o", "--out", type=Path, default=Path("bot.wav"),
                        help="where to write the bot's audio (default: %(default)s)")
    parser.add_argument("--events", type=Path, default=None,
                        help="write the call's events here as JSON lines")
    parser.add_argument("--codec", choices=["pcmu", "pcma"], default="pcmu",
                        help="phone line codec applied to the caller (default: %(default)s)")
    parser.add_argument("--caller-number", default="+15550100",
                        help="the caller's number, for dialplan branches (default: %(default)s)")
    parser.add_argument("--at", type=iso_time, default=None, metavar="ISO_TIME",
                        help="pretend the call happens at this time, e.g. 2026-11-25T10:00+00:00 "
                             "(business hours); default: now")
    parser.add_argument("--instant", action="store_true",
                        help="do not charge model work its compute time on the call's clock: "
                             "the bot answers the moment a turn ends (a repeatable timeline, as "
                             "QA replay uses); by default the timeline shows when a caller "
                             "would hear each reply on this machine")
    add_runtime_options(parser)
    parser.set_defaults(func=run)


def iso_time(text: str) -> datetime.datetime:
    """An --at option: an ISO time, UTC unless it names a zone."""
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO time like "
                                         f"2026-11-25T10:00+00:00") from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def print_event(event: Event) -> None:
    """The conversation as a person reads it."""
    line = {
        "asr.final": lambda: f"caller: {event.data['text']}",
        "asr.rejected": lambda: f"        (ignored {event.data['reason']}: {event.data['raw']!r})",
        "asr.reread": lambda: f"        (number read again: {event.data['first']!r} -> "
                              f"{event.data['text']!r}, {'taken' if event.data['taken'] else 'not taken'})",
        "bot.say": lambda: f"   bot: {event.data['text']}",
        "barge_in": lambda: "        (caller interrupted the bot)",
        "bot.paused": lambda: "        (bot pauses: the caller is talking)",
        "bot.resumed": lambda: f"        (bot goes on after {event.data['paused_s']:.1f} s)",
        "transfer.request": lambda: f"        -> transfer to {event.data['target']} "
                                    f"({event.data['reason']})",
        "error": lambda: f"        (error: {event.data['error']})",
        "dtmf": lambda: f"caller: [pressed {event.data['digit']}]",
        "no_input": lambda: "        (caller silent: prompting again)",
        "slot": lambda: f"        (slot {event.data['name']} = {event.data['value']})",
        "transfer.failed": lambda: f"        (transfer failed: {event.data['status']})",
        "hangup.request": lambda: f"        -> bot hangs up ({event.data['reason']})",
    }.get(event.kind)
    if line:
        print(f"[{event.t:6.2f}s] {line()}", flush=True)


def reply_waits(events: list[Event]) -> list[float]:
    """For each caller turn the bot answered aloud: seconds from the caller's last voiced
    frame to the reply's first frame."""
    waits, ended = [], None
    for event in events:
        if event.kind == "speech.end" and not event.data.get("dropped"):
            ended = event.data["at"]
        elif event.kind == "playout.first_frame" and ended is not None:
            waits.append(event.t - ended)
            ended = None
    return waits


def pre_speak(plan: Dialplan, engines: Engines) -> None:
    """The plan's prompts and approved answers from the disk store `ivr serve` keeps (spoken
    into it first where missing), so the caller hears them as soon as a served call would."""
    store = DiskStore(default_root())
    for voice in engines.voices.values():
        voice.attach_store(store)
    report = warm_plan(plan, lambda language, sentence: engines.voice(language).speak(
        sentence).source)
    print(report.line(plan.name), file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    pcm, rate = read_audio(args.caller)
    caller = phone_line(resample(pcm, rate, PHONE_RATE), args.codec)
    with runtime(args) as (loaded, engines):
        pre_speak(loaded.plan, engines)
        result, events = simulate(f"talk-{args.caller.stem}", loaded, engines,
                                  lambda session, clock: run_offline(session, clock, caller,
                                                                     paced=not args.instant),
                                  caller_number=args.caller_number, now=args.at,
                                  events_path=args.events, listener=print_event)
    waits = reply_waits(events.events)
    if waits:
        print("bot audio began " + ", ".join(f"{w:.2f} s" for w in waits) + " after the caller "
              "stopped talking" + (" (--instant: without compute time)" if args.instant else ""),
              file=sys.stderr)
    write_wav(args.out, result.bot_audio, PHONE_RATE)
    print(f"call ended: {result.end_reason}; bot audio -> {args.out}"
          + (f"; events -> {args.events}" if args.events else ""), file=sys.stderr)
    return 0
