"""baresip (Debian's 1.0.0) as a second real SIP client: a headless caller on 127.0.0.1 whose
microphone is a WAV file (the `aufile` source). 1.0.0's `aufile` cannot play, so what the caller
heard is kept by the `sndfile` filter, which saves the decoded audio even with no player."""

from __future__ import annotations

import random
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from sip.siptest import LOOPBACK, free_udp_port

BARESIP = "/usr/bin/baresip"
MODULES = Path("/usr/lib/baresip/modules")
CALL_CLOSED = "terminated (duration:"  # baresip's line for every call that ends

# `menu` provides /dial and hangs up when the audio source fails, which aufile does at the end
# of its file: the caller hangs up when it has said everything. Without net_interface the SDP
# would offer the host's first network address for RTP instead of 127.0.0.1.
CONFIG = """\
module_path {modules}
sip_listen {host}:{sip_port}
net_interface {host}
rtp_ports {rtp_low}-{rtp_high}
audio_source aufile,{say}
snd_path {heard}
statmode_default off
module g711.so
module aufile.so
module sndfile.so
module_tmp account.so
module_app menu.so
"""


@dataclass
class BaresipCall:
    returncode: int
    log: str
    heard: Path | None  # what the far end sent, decoded: 8 kHz 16-bit mono WAV

    def __str__(self) -> str:
        return f"baresip exit {self.returncode}\n{self.log[-3000:]}"


def write_config(folder: Path, say: Path) -> Path:
    """A throw-away baresip config folder (`-f`): loopback only, random free ports, G.711 mu-law
    only, no registration, `say` as the microphone, received audio saved under folder/heard."""
    heard = folder / "heard"
    heard.mkdir(parents=True, exist_ok=True)
    rtp_low = random.randrange(30000, 32700, 100)  # below Linux's ephemeral ports and the workers'
    (folder / "config").write_text(CONFIG.format(
        modules=MODULES, host=LOOPBACK, sip_port=free_udp_port(), rtp_low=rtp_low,
        rtp_high=rtp_low + 99, say=say.resolve(), heard=heard))
    (folder / "accounts").write_text(f"<sip:caller@{LOOPBACK}>;regint=0;audio_codecs=PCMU/8000/1\n")
    return folder


def call(uri: str, say: Path, folder: Path, timeout_s: int = 60) -> BaresipCall:
    """Dial `uri` with baresip saying `say` (8 kHz 16-bit mono WAV) and return when the call has
    ended (baresip hangs up when the WAV ends) or baresip has quit after `timeout_s`."""
    write_config(folder, say)
    process = subprocess.Popen([BARESIP, "-f", str(folder), "-e", f"/dial {uri}",
                                "-t", str(timeout_s)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace")
    watchdog = threading.Timer(timeout_s + 10, process.kill)  # in case -t does not stop it
    watchdog.start()
    lines = []
    try:
        for line in process.stdout:  # ends at the latest when -t makes baresip quit
            lines.append(line)
            if CALL_CLOSED in line:
                break
    finally:
        watchdog.cancel()
        process.terminate()  # baresip ends its calls and exits on SIGTERM
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        lines.append(process.stdout.read())
        process.stdout.close()
    heard = sorted((folder / "heard").glob("*-dec.wav"))
    return BaresipCall(process.returncode, "".join(lines), heard[-1] if heard else None)
