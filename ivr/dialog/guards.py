"""What short talk over the bot means: a backchannel ("mhm") or a request to stop."""

from __future__ import annotations

from ivr.text.normalize import simple_normalize


BACKCHANNELS = frozenset({
    "ok", "okay", "okay okay", "mhm", "mm", "mmhmm", "mm hmm", "hmm", "uh huh", "uhhuh", "yeah",
    "yes", "yep", "right", "sure", "alright", "all right", "i see", "got it", "uh", "um", "嗯", "好",
    "好的", "对", "是", "是的", "哦",
})


def is_backchannel(text: str) -> bool:
    """True for a listener's "mhm"/"okay" that acknowledges the bot rather than interrupting it."""
    return simple_normalize(text).replace("-", " ") in BACKCHANNELS


STOP_PHRASES = frozenset({"stop", "wait", "hold on", "no", "no no", "sorry", "excuse me",
                          "one moment", "等一下", "停", "不是"})


def is_stop_request(text: str) -> bool:
    """True for a caller asking the bot to stop talking (and then listen)."""
    return simple_normalize(text) in STOP_PHRASES
