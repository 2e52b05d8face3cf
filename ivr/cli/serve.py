"""`ivr serve`: the hotline on SIP. Model service, the LLM if the plan needs one, N SIP workers
(<= 4 calls each) and, with N > 1, Kamailio in front; runs until Ctrl-C, then stops it all."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import tempfile
import time
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from ivr.cli.runtime import add_runtime_options
from ivr.dialplan.loader import LoadedPlan
from ivr.errors import IvrError
from ivr.qa.rubric import load_rubric
from ivr.sip.endpoint import MAX_CALLS
from ivr.sip.kamailio import read_trunk_users
from ivr.sip.stack import StackSettings, hotline, store_url
from ivr.sip.watchdog import MediaDeadlines
from ivr.store.store import display_url
from ivr.tts.store import DEFAULT_MAX_MB, default_root
from ivr.tts.warm import WarmReport

log = logging.getLogger("ivr.serve")

CONSOLE_PORT_OFFSET = 3000  # the console's TCP port next to the SIP port: 5060 -> 8060
METRICS_PORT_OFFSET = 4000  # /metrics next to the SIP port: 5060 -> 9060


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve", help="answer phone calls over SIP",
        description="Answer calls over SIP/RTP (G.711) with the dialplan. One worker process "
                    f"takes up to {MAX_CALLS} calls; with --workers N > 1, Kamailio listens on "
                    "--port and spreads calls over the workers (OPTIONS-probed, with failover). "
                    "Every call is recorded as a stereo WAV (caller left, bot right) plus its "
                    "event log (JSON lines). Ctrl-C stops everything it started.")
    parser.add_argument("--port", type=int, default=5060, help="public SIP UDP port (default: %(default)s)")
    parser.add_argument("--bind", default="127.0.0.1",
                        help="IPv4 address for SIP and RTP; callers must reach it (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1,
                        help=f"SIP worker processes, {MAX_CALLS} calls each (default: %(default)s)")
    parser.add_argument("--allow", action="append", metavar="CIDR",
                        help="peer allowed to call (address or CIDR, repeatable; "
                             "default: 127.0.0.1/32); others get 403")
    parser.add_argument("--recordings", type=Path, default=Path("recordings"),
                        help="folder for call recordings and event logs (default: %(default)s)")
    parser.add_argument("--store", metavar="URL", default=None,
                        help="call store: a SQLite file path or sqlite:///PATH, or "
                             "postgresql://USER:PASSWORD@HOST/DB (default: calls.db in "
                             "--recordings)")
    parser.add_argument("--rtp-port", type=int, default=40000,
                        help="first RTP port; worker i uses the 100 ports from "
                             "rtp-port + 100*i (default: %(default)s)")
    parser.add_argument("--answer-delay-ms", type=int, default=0,
                        help="ring this long before answering (default: %(default)s)")
    parser.add_argument("--transfer-timeout-s", type=float, default=30.0,
                        help="a transfer with no final answer by then has failed (default: %(default)s)")
    dead = parser.add_argument_group(
        "calls that go quiet",
        "A call slot is only held by a call with media: these deadlines hang up the rest and "
        "record why (no_ack, no_media, rtp_timeout, hold_timeout).")
    defaults = MediaDeadlines()
    dead.add_argument("--setup-timeout-s", type=float, default=defaults.setup_timeout_s,
                      metavar="S", help="the longest an answered INVITE without ACK or without "
                      "media holds a slot; SIP transactions give up after half of it "
                      "(default: %(default)s)")
    dead.add_argument("--rtp-timeout-s", type=float, default=defaults.rtp_timeout_s, metavar="S",
                      help="hang up a call whose caller sent no RTP for this long "
                           "(default: %(default)s)")
    dead.add_argument("--hold-timeout-s", type=float, default=defaults.hold_timeout_s,
                      metavar="S", help="hang up a caller who kept the bot on hold this long "
                                        "(default: %(default)s)")
    front = parser.add_argument_group(
        "Kamailio front (--workers > 1)",
        "Kamailio also drops floods (pike, per source address), answers malformed requests with "
        "the sanity module's error and refuses every request from outside --allow.")
    front.add_argument("--pike-rate", type=pike_rate, default=None, metavar="N/S",
                       help="a source sending more than N requests in S seconds is dropped "
                            "for --pike-ban-s (default: %s/%s; raise it for a trunk that brings "
                            "many calls at once or sends DTMF as SIP INFO)"
                            % (StackSettings.pike_requests, StackSettings.pike_window_s))
    front.add_argument("--pike-ban-s", type=whole_seconds, default=None, metavar="S",
                       help="how long a flooding source is dropped (default: "
                            f"{StackSettings.pike_ban_s})")
    front.add_argument("--trunk-auth", type=trunk_users, default=None, metavar="FILE",
                       help="trunks must authenticate REGISTER and INVITE (SIP digest) with "
                            "a USER:PASSWORD line of FILE (keep it private); default: no auth")
    parser.add_argument("--console-port", type=int, default=None, metavar="PORT",
                        help="TCP port of the web console on 127.0.0.1 (default: --port + "
                             f"{CONSOLE_PORT_OFFSET}; 0: no console)")
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="TCP port of Prometheus /metrics on 127.0.0.1 (default: --port + "
                             f"{METRICS_PORT_OFFSET}; 0: no metrics)")
    parser.add_argument("--tts-cache", type=Path, default=None, metavar="DIR",
                        help="where the plan's prompts and answers are kept as audio "
                             "(default: $IVR_TTS_CACHE or ~/.cache/ivr/tts)")
    parser.add_argument("--tts-cache-mb", type=int, default=DEFAULT_MAX_MB, metavar="MB",
                        help="size cap of that store; the least recently used audio goes first "
                             "(default: %(default)s; 0: no store, sentences are synthesised in "
                             "every model-service life)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="where generated configs and service logs go (default: a temp folder)")
    parser.add_argument("--rubric", type=Path, default=None, metavar="FILE",
                        help="QA rubric (YAML) every finished call is scored with in the call "
                             "store (default: the shipped ivr/qa/rubric.yaml); checked before "
                             "anything starts")
    add_runtime_options(parser)
    parser.set_defaults(func=run)


def pike_rate(text: str) -> tuple[int, int]:
    """--pike-rate N/S: (requests, seconds)."""
    requests, _, seconds = text.partition("/")
    try:
        rate = int(requests), int(seconds)
    except ValueError:
        rate = (0, 0)
    if min(rate) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give requests/seconds, e.g. 32/2")
    return rate


def whole_seconds(text: str) -> int:
    """--pike-ban-s S: a whole number of seconds, 1 or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of seconds, 1 or more")
    return int(text)


def trunk_users(text: str) -> tuple[tuple[str, str], ...]:
    """--trunk-auth FILE: its (user, password) pairs, read when the options are parsed."""
    try:
        return read_trunk_users(Path(text))
    except IvrError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def banner(args: argparse.Namespace, loaded: LoadedPlan, settings: StackSettings,
           console: str = "", warm: WarmReport | None = None) -> str:
    """What `ivr serve` prints once everything runs (`console`: its banner line)."""
    where = f"{args.bind}:{args.port}"
    front = (f"Kamailio on {where} -> {args.workers} workers x {MAX_CALLS} calls "
             f"(SIP ports {args.port + 1}-{args.port + args.workers})"
             if args.workers > 1 else f"1 worker on {where}, {MAX_CALLS} calls at once")
    defences = (f"  defences:   a source sending over {settings.pike_requests} requests in "
                f"{settings.pike_window_s} s is dropped for {settings.pike_ban_s} s; trunk auth "
                + (f"on ({len(settings.trunk_users)} users)" if settings.trunk_users else "off"))
    return "\n".join([
        "",
        f"ivr serve: the {loaded.plan.name} hotline answers on sip:hotline@{where} (UDP, G.711)",
        f"  capacity:   {front}",
        f"  call it:    .venv/bin/python -m ivr.sip.caller sip:hotline@{where} "
        "--say samples/caller.wav --record call.wav",
        "              (a recorded caller; call.wav gets what the bot said)",
        f"              or a softphone (Linphone, baresip) on this host: sip:hotline@{where}",
        f"              or sipp -sn uac {where} -m 1   (signalling only, no audio)",
        f"  allowed:    {', '.join(args.allow or ['127.0.0.1/32'])} (everyone else gets 403)",
        *([defences] if args.workers > 1 else []),
        f"  recordings: {args.recordings.resolve()}/<call-id>.wav (caller left, bot right) "
        "and <call-id>.jsonl (events)",
        f"  call store: {display_url(store_url(settings))} "
        "(every call, its turns and events)",
        *([console] if console else []),
        (f"  metrics:    http://127.0.0.1:{settings.metrics_port}/metrics (Prometheus)"
         if settings.metrics_port else "  metrics:    off (--metrics-port 0)"),
        (f"  TTS store:  {(settings.tts_cache or default_root()).resolve()} "
         f"(cap {settings.tts_cache_mb} MB)" if settings.tts_cache_mb
         else "  TTS store:  off (--tts-cache-mb 0)"),
        *([f"              {warm.line(loaded.plan.name)}"] if warm else []),
        f"  logs:       calls below; services in {settings.run_dir}",
        "Ctrl-C stops it.",
        "",
    ])


def stack_settings(args: argparse.Namespace) -> StackSettings:
    front: dict = {}
    if args.pike_rate:
        front["pike_requests"], front["pike_window_s"] = args.pike_rate
    if args.pike_ban_s:
        front["pike_ban_s"] = args.pike_ban_s
    if args.trunk_auth:
        front["trunk_users"] = args.trunk_auth
    if front and args.workers == 1:
        raise IvrError("--pike-rate, --pike-ban-s and --trunk-auth configure the Kamailio front, "
                       "which only runs with --workers 2 or more (one worker answers on --port "
                       "itself)")
    try:
        deadlines = MediaDeadlines(setup_timeout_s=args.setup_timeout_s,
                                   rtp_timeout_s=args.rtp_timeout_s,
                                   hold_timeout_s=args.hold_timeout_s)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise IvrError(f"--{str(error['loc'][0]).replace('_', '-')} {error['input']}: "
                       f"{error['msg'].lower()}") from None
    return StackSettings(
        dialplan=args.dialplan, run_dir=args.run_dir or Path(tempfile.mkdtemp(prefix="ivr-serve-")),
        recordings=args.recordings, store_url=args.store, port=args.port, bind=args.bind,
        workers=args.workers,
        allow=list(args.allow or ["127.0.0.1/32"]), rtp_port=args.rtp_port,
        answer_delay_ms=args.answer_delay_ms, transfer_timeout_s=args.transfer_timeout_s,
        llm_url=args.llm_url, llm_model=args.llm_model, asr_device=args.asr_device,
        deadlines=deadlines, metrics_port=metrics_port(args), tts_cache=args.tts_cache,
        tts_cache_mb=args.tts_cache_mb, rubric=args.rubric, **front)


def run(args: argparse.Namespace) -> int:
    settings = stack_settings(args)
    settings.check()  # bad options fail before anything starts
    if settings.rubric is not None:
        load_rubric(settings.rubric)  # a broken rubric too (RubricError names file:line)
    console_port(args)
    stop = _StopOnSignal()
    with hotline(settings, say=lambda text: print(text, flush=True)) as running, \
            _console(args, settings, running.loaded) as console:
        print(banner(args, running.loaded, settings, console, running.warm), flush=True)
        while not stop.requested:
            running.pool.watch()
            time.sleep(0.5)
        print("ivr serve: stopping (calls in progress are ended and recorded)...", flush=True)
    print("ivr serve: stopped", flush=True)
    return 0


def console_port(args: argparse.Namespace) -> int:
    """The console's port: --console-port, or --port + CONSOLE_PORT_OFFSET (0: none)."""
    port = args.port + CONSOLE_PORT_OFFSET if args.console_port is None else args.console_port
    if not 0 <= port <= 65535:
        raise IvrError(f"--console-port {port}: not a TCP port (0 turns the console off)")
    return port


def metrics_port(args: argparse.Namespace) -> int:
    """The /metrics port: --metrics-port, or --port + METRICS_PORT_OFFSET (0: none)."""
    port = args.port + METRICS_PORT_OFFSET if args.metrics_port is None else args.metrics_port
    if not 0 <= port <= 65535:
        raise IvrError(f"--metrics-port {port}: not a TCP port (0 turns metrics off)")
    return port


@contextlib.contextmanager
def _console(args: argparse.Namespace, settings: StackSettings, loaded: LoadedPlan
             ) -> Iterator[str]:
    """Start the web console beside the hotline (on the plan's folder, so edits there go
    live); yields its banner line."""
    port = console_port(args)
    if port == 0:
        yield "  console:    off (--console-port 0)"
        return
    from ivr.web.process import ConsoleProcess

    print("starting the web console...", flush=True)
    with ConsoleProcess(port, store_url(settings), settings.recordings.resolve(),
                        loaded.path.resolve().parent,
                        log_path=settings.run_dir / "console.log") as console:
        line = f"  console:    {console.url} (calls, recordings; dialplans for admins)"
        if console.users() == 0:
            line += ("\n              no user yet: ivr console user add NAME --role admin "
                     f"--store {display_url(store_url(settings))}")
        yield line


class _StopOnSignal:
    """Ctrl-C / SIGTERM ask the main loop to stop, so shutdown runs in order, not mid-step."""

    def __init__(self) -> None:
        self.requested = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:  # a second Ctrl-C: stop waiting politely
            raise KeyboardInterrupt
        self.requested = True


def main(argv: list[str] | None = None) -> int:
    """`python -m ivr.cli.serve ...` (the same as `ivr serve ...`)."""
    import os
    import sys

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="ivr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except IvrError as exc:
        print(f"ivr: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
