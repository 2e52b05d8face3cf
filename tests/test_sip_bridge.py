"""A call's audio port (`AudioBridge`) ends without the media clock touching freed memory.

pjmedia calls every port in the conference each 20 ms tick, connected or not, until the port's
C++ destructor has run. A bridge whose Python half was torn down first took that callback into
freed memory, corrupted the heap, and the SIP worker died seconds later with a segfault far away
(the CI failures of the SIP attack tests). These churn bridges under a running clock in a child
process, the way calls end, and need the child to live: before the fix it crashed within seconds.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.sip.siptest import free_udp_port, rtp_base

CHURN = textwrap.dedent("""
    import sys, time
    from ivr.sip.endpoint import EndpointSettings, create_endpoint, destroy_endpoint
    from ivr.sip.media import AudioBridge

    sip_port, rtp_port, seconds, how = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    ep = create_endpoint(EndpointSettings(sip_port=sip_port, rtp_port=rtp_port, log_level=0))
    rounds, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        bridges = [AudioBridge(f"churn-{rounds}-{i}") for i in range(8)]
        for bridge in bridges:
            bridge.queue(bytes(320))
        time.sleep(0.021)             # at least one clock tick with every port in the conference
        if how == "close":
            for bridge in bridges:
                bridge.close()
        del bridges, bridge           # "drop": the last references go without close()
        rounds += 1
    leftover = AudioBridge("outlives-the-library")
    destroy_endpoint(ep)
    del leftover                      # after libDestroy: must neither crash nor assert
    print("rounds", rounds)
""")


def churn(how: str, seconds: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHURN, str(free_udp_port()), str(rtp_base()), str(seconds), how],
        capture_output=True, text=True, timeout=seconds + 60)


def test_bridges_closed_while_the_clock_runs_leave_the_process_whole():
    result = churn("close", 12)
    assert result.returncode == 0, result.stderr[-4000:]
    assert int(result.stdout.split()[-1]) > 100, result.stdout


def test_bridges_dropped_without_close_are_closed_safely_too():
    result = churn("drop", 12)
    assert result.returncode == 0, result.stderr[-4000:]
    assert int(result.stdout.split()[-1]) > 100, result.stdout
