"""Kamailio in front of several SIP workers: config from the template, process management.

The template lives in infra/kamailio/kamailio.cfg.tmpl; `write_config` fills in its
{{PLACEHOLDERS}} and writes it, with the dispatcher list of workers, into a run folder.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import IvrError
from ivr.service_process import ServiceProcess

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "kamailio" / "kamailio.cfg.tmpl"
MODULES_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules",
                "/usr/local/lib64/kamailio/modules", "/usr/local/lib/kamailio/modules")


@dataclass(frozen=True)
class FrontSettings:
    listen_addr: str
    listen_port: int
    workers: tuple[tuple[str, int], ...]   # (address, SIP port) of each worker
    allow: tuple[str, ...]
    ping_interval_s: int = 2
    children: int = 2
    debug: int = 2


def allow_condition(cidrs: tuple[str, ...]) -> str:
    """The config expression that is true for a source address on the allow-list."""
    nets = [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs]
    if not nets:
        return "0"
    return " || ".join(f'is_in_subnet("$si", "{net}")' for net in nets)


def render(settings: FrontSettings, dispatcher_list: Path, template: Path = TEMPLATE) -> str:
    modules = next((d for d in MODULES_DIRS if Path(d, "dispatcher.so").exists()), MODULES_DIRS[0])
    values = {
        "DEBUG": str(settings.debug), "LOG_PREFIX": "front:", "CHILDREN": str(settings.children),
        "LISTEN_ADDR": settings.listen_addr, "LISTEN_PORT": str(settings.listen_port),
        "MODULES_DIR": modules, "DISPATCHER_LIST": str(dispatcher_list),
        "PING_INTERVAL": str(settings.ping_interval_s),
        "ALLOW_CONDITION": allow_condition(settings.allow),
        "ALLOW_TEXT": ", ".join(settings.allow),
    }
    text = template.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        left = text[text.index("{{"):].split("}}")[0] + "}}"
        raise IvrError(f"{template}: placeholder {left} has no value")
    return text


def write_config(settings: FrontSettings, run_dir: Path) -> Path:
    """kamailio.cfg and dispatcher.list in `run_dir`; returns the config path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    dispatcher = run_dir / "dispatcher.list"
    dispatcher.write_text("".join(f"1 sip:{addr}:{port} 0 0 duid=w{i + 1}\n"
                                  for i, (addr, port) in enumerate(settings.workers)))
    config = run_dir / "kamailio.cfg"
    config.write_text(render(settings, dispatcher))
    return config


class KamailioFront(ServiceProcess):
    """`kamailio -DD -E` on a generated config; a context manager."""

    def __init__(self, settings: FrontSettings, run_dir: Path, log_path: Path | None = None) -> None:
        super().__init__("kamailio", log_path or run_dir / "kamailio.log")
        self.settings = settings
        self.run_dir = run_dir
        self._base: list[str] = []

    def start(self, ready_timeout_s: float = 10.0) -> "KamailioFront":
        """Check the generated config first, so a bad one is reported in kamailio's words."""
        binary = shutil.which("kamailio") or ("/usr/sbin/kamailio"
                                              if Path("/usr/sbin/kamailio").exists() else None)
        if binary is None:
            raise IvrError("kamailio is not installed (apt-get install kamailio); it is needed "
                           "in front of more than one worker (or run with --workers 1)")
        config = write_config(self.settings, self.run_dir)
        self._base = [binary, "-f", str(config), "-Y", str(self.run_dir), "-w", str(self.run_dir),
                      "-m", "32", "-M", "8"]
        check = subprocess.run(self._base + ["-c"], capture_output=True, text=True)
        if check.returncode != 0:
            tail = "\n".join((check.stderr or check.stdout).strip().splitlines()[-5:])
            raise IvrError(f"kamailio rejected {config}:\n{tail}")
        super().start(ready_timeout_s)
        return self

    def command(self) -> list[str]:
        return self._base + ["-DD", "-E"]

    def ready(self) -> bool:
        return udp_port_bound(self.settings.listen_port)


def udp_port_bound(port: int) -> bool:
    """Whether some socket is bound to UDP `port` (read from /proc, no packet sent)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        if any(line.split()[1].endswith(wanted) for line in lines if len(line.split()) > 1):
            return True
    return False
