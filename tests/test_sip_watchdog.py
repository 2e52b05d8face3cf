"""The call watchdog's deadlines, on a clock the test drives (no network)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ivr.sip.watchdog import CallWatchdog, MediaDeadlines

DEADLINES = MediaDeadlines(setup_timeout_s=10, rtp_timeout_s=15, hold_timeout_s=300)


def live_call(at: float = 0.0) -> CallWatchdog:
    dog = CallWatchdog(DEADLINES)
    dog.answer_sent(at)
    dog.ack_received()
    dog.media_up(at + 0.1)
    return dog


def test_a_200_never_acked_expires_at_half_the_setup_timeout():
    dog = CallWatchdog(DEADLINES)
    assert dog.check(100.0, None) is None          # still ringing: no 200 sent yet
    dog.answer_sent(100.0)
    dog.media_up(100.0)                            # media can start before the ACK
    assert dog.check(104.9, 0) is None
    expiry = dog.check(105.0, 0)
    assert expiry is not None and expiry.reason == "no_ack"
    assert DEADLINES.transaction_timeout_s == 5.0  # the BYE's own wait: the other half


def test_an_ack_without_media_expires_as_no_media():
    dog = CallWatchdog(DEADLINES)
    dog.answer_sent(0.0)
    dog.ack_received()
    assert dog.check(4.0, None) is None
    assert dog.check(5.0, None).reason == "no_media"


def test_rtp_that_keeps_coming_keeps_the_call_and_rtp_that_stops_ends_it():
    dog = live_call()
    for second in range(1, 60):
        assert dog.check(float(second), second * 50) is None
    assert dog.check(59 + 14.9, 59 * 50) is None
    expiry = dog.check(59 + 15.0, 59 * 50)
    assert expiry.reason == "rtp_timeout" and "15.0 s" in expiry.detail


def test_a_call_that_never_receives_rtp_times_out():
    dog = live_call()
    assert dog.check(1.0, 0) is None
    assert dog.check(15.0, 0) is None               # media came up at 0.1
    assert dog.check(15.1, 0).reason == "rtp_timeout"


def test_a_counter_reset_by_a_new_stream_counts_as_traffic():
    dog = live_call()
    assert dog.check(10.0, 500) is None
    assert dog.check(20.0, 0) is None               # re-INVITE: a new stream, counter 0
    assert dog.check(34.9, 0) is None
    assert dog.check(35.0, 0).reason == "rtp_timeout"


def test_hold_pauses_the_rtp_timeout_until_the_hold_timeout():
    dog = live_call()
    assert dog.check(5.0, 250) is None
    dog.hold(True, 6.0)
    assert dog.check(200.0, 250) is None            # no RTP on hold: fine
    assert dog.check(305.9, 250) is None
    assert dog.check(306.0, 250).reason == "hold_timeout"


def test_unhold_restarts_the_rtp_clock():
    dog = live_call()
    dog.hold(True, 1.0)
    dog.hold(False, 100.0)
    assert dog.check(114.9, 0) is None
    assert dog.check(115.0, 0).reason == "rtp_timeout"


def test_deadlines_are_validated():
    with pytest.raises(ValidationError):
        MediaDeadlines(setup_timeout_s=0.5)
    with pytest.raises(ValidationError):
        MediaDeadlines(rtp_timeout_s=0)


def test_serve_options_reach_the_workers_and_bad_ones_are_named():
    from ivr.cli.main import build_parser
    from ivr.cli.serve import stack_settings
    from ivr.dialplan.loader import load_dialplan
    from ivr.errors import IvrError
    from ivr.sip.stack import worker_settings

    args = build_parser().parse_args(["serve", "--setup-timeout-s", "6", "--rtp-timeout-s", "20",
                                      "--hold-timeout-s", "90"])
    settings = stack_settings(args)
    loaded = load_dialplan(args.dialplan)
    worker, = worker_settings(settings, loaded, "http://127.0.0.1:1", None)
    assert worker.deadlines == MediaDeadlines(setup_timeout_s=6, rtp_timeout_s=20,
                                              hold_timeout_s=90)
    assert worker.deadlines.transaction_timeout_s == 3
    # the embedded LLM the stack started is known as such down to the worker's client
    from ivr.sip.worker import llm_client_for

    served, = worker_settings(settings, loaded, "http://127.0.0.1:1", "http://127.0.0.1:2/v1")
    embedded, = worker_settings(settings, loaded, "http://127.0.0.1:1", "http://127.0.0.1:2/v1",
                                llm_embedded=True)
    assert [llm_client_for(w, True).settings.embedded for w in (served, embedded)] == [False,
                                                                                      True]
    with pytest.raises(IvrError, match="--setup-timeout-s 1.0: input should be greater"):
        stack_settings(build_parser().parse_args(["serve", "--setup-timeout-s", "1"]))
