"""pjsua2 endpoint setup: one UDP SIP transport, a null sound device, no pjsua threads.

With `threadCnt=0` and `mainThreadOnly=True` every SIP callback (calls, DTMF, transfer status)
runs on the thread that calls `libHandleEvents`, which is the worker's asyncio thread, so the
call driver needs no locks. Only the media clock thread calls in from elsewhere (see media.py).
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass

import pjsua2 as pj

from ivr.audio.frames import FRAME_MS, PHONE_RATE

MAX_CALLS = 4  # compiled-in PJSUA_MAX_CALLS of the pjsua2-python wheel
PHONE_CODECS = ("PCMU/8000", "PCMA/8000")


@dataclass(frozen=True)
class EndpointSettings:
    bind: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_port: int = 40000
    rtp_port_range: int = 100
    max_calls: int = MAX_CALLS
    user_agent: str = "ivr-hotline"
    log_level: int = 1          # pjlib log level on the console: 0 none .. 5 debug
    jitter_min_prefetch: int = -1  # frames; -1 = pjmedia's default (bench callers set it low)
    transaction_timeout_ms: int = 5000  # RFC 3261 timers B, F, H (64*T1 = 32 s by default)


def create_endpoint(settings: EndpointSettings) -> pj.Endpoint:
    """Create, initialise and start the library; raise IvrError-worthy pj.Error on failure."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    ua = cfg.uaConfig
    ua.threadCnt = 0
    ua.mainThreadOnly = True
    ua.maxCalls = min(settings.max_calls, MAX_CALLS)
    ua.userAgent = settings.user_agent
    cfg.logConfig.level = settings.log_level
    cfg.logConfig.consoleLevel = settings.log_level
    med = cfg.medConfig
    med.clockRate = PHONE_RATE       # the bridge runs at the phone rate: no resampling anywhere
    med.sndClockRate = PHONE_RATE
    med.channelCount = 1
    med.audioFramePtime = FRAME_MS
    med.ptime = FRAME_MS
    med.noVad = True                 # send every frame: callers measure gaps, recordings align
    med.ecTailLen = 0                # no echo canceller: the bot does not listen to itself
    if settings.jitter_min_prefetch >= 0:
        med.jbInit = settings.jitter_min_prefetch
        med.jbMinPre = settings.jitter_min_prefetch
    ep.libInit(cfg)
    set_transaction_timeout(settings.transaction_timeout_ms)
    transport = pj.TransportConfig()
    transport.port = settings.sip_port
    transport.boundAddress = settings.bind
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.audDevManager().setNullDev()
    _phone_codecs_only(ep)
    ep.libStart()
    return ep


@functools.cache
def _native() -> ctypes.CDLL:
    """pjsua2's extension module as a C library: it exports pjsip's and pjsua's C functions,
    a few of which pjsua2 does not wrap."""
    import pjsua2._pjsua2 as extension

    library = ctypes.CDLL(extension.__file__)
    library.pjsip_tsx_set_timers.argtypes = [ctypes.c_uint] * 4
    library.pjsip_tsx_set_timers.restype = None
    library.pjsua_call_get_count.argtypes = []
    library.pjsua_call_get_count.restype = ctypes.c_uint
    library.pjsua_get_state.argtypes = []
    library.pjsua_get_state.restype = ctypes.c_int
    return library


def library_running() -> bool:
    """Whether pjsua is started and not yet destroyed (its conference bridge exists)."""
    return _native().pjsua_get_state() == pj.PJSUA_STATE_RUNNING


def set_transaction_timeout(ms: int) -> None:
    """How long a SIP transaction waits for its peer: timer H (our 200 OK never ACKed), F (a BYE
    or REFER to a peer that is gone) and B. RFC 3261's 32 s serves chains of proxies; a hotline
    whose peers are one hop away frees the call slot of a vanished caller sooner with less."""
    _native().pjsip_tsx_set_timers(0, 0, 0, ms)


def slots_in_use() -> int:
    """Call slots pjsua holds now, counting dialogs we hung up that still wait for their peer
    (pjsua2 reports a call disconnected at once; the slot is free only when the BYE is done)."""
    return _native().pjsua_call_get_count()


def _phone_codecs_only(ep: pj.Endpoint) -> None:
    """G.711 only (the pipeline is 8 kHz end to end); telephone-event stays for RFC 2833."""
    for codec in ep.codecEnum2():
        wanted = any(codec.codecId.startswith(name) for name in PHONE_CODECS)
        ep.codecSetPriority(codec.codecId, 200 if wanted else 0)


def account_config(settings: EndpointSettings, user: str = "ivr") -> pj.AccountConfig:
    """A local account (no registrar) whose calls use the configured RTP port range."""
    cfg = pj.AccountConfig()
    cfg.idUri = f"sip:{user}@{settings.bind}:{settings.sip_port}"
    media = cfg.mediaConfig.transportConfig
    media.port = settings.rtp_port
    media.portRange = settings.rtp_port_range
    media.boundAddress = settings.bind
    return cfg


def destroy_endpoint(ep: pj.Endpoint) -> None:
    """Shut the library down (hangs up what is left)."""
    try:
        ep.libDestroy()
    except pj.Error:
        pass
