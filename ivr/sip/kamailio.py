"""Kamailio in front of several SIP workers: config from the template, process management.

The template lives in infra/kamailio/kamailio.cfg.tmpl; `write_config` fills in its
{{PLACEHOLDERS}} and writes it, with the dispatcher list of workers and the trunk users' digest
hashes, into a run folder.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ivr.errors import IvrError
from ivr.service_process import ServiceProcess

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "kamailio" / "kamailio.cfg.tmpl"
MODULES_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules",
                "/usr/local/lib64/kamailio/modules", "/usr/local/lib/kamailio/modules")
AUTH_REALM = "ivr-hotline"
_TRUNK_USER = re.compile(r"[A-Za-z0-9._-]+")  # goes into the config as an htable key


@dataclass(frozen=True)
class FrontSettings:
    """What the generated config says; the defaults are the `ivr serve` defaults."""

    listen_addr: str
    listen_port: int
    workers: tuple[tuple[str, int], ...]   # (address, SIP port) of each worker
    allow: tuple[str, ...]
    ping_interval_s: int = 2
    children: int = 2
    debug: int = 2
    pike_requests: int = 32                # per source and window; more and the source is banned
    pike_window_s: int = 2
    pike_ban_s: int = 60
    # (user, password): REGISTER and INVITEs must authenticate; none: no authentication
    trunk_users: tuple[tuple[str, str], ...] = field(default=(), repr=False)


def allow_condition(cidrs: tuple[str, ...]) -> str:
    """The config expression that is true for a source address in one of `cidrs`."""
    nets = [ipaddress.ip_network(c.strip(), strict=False) for c in cidrs]
    if not nets:
        return "0"
    return " || ".join(f'is_in_subnet("$si", "{net}")' for net in nets)


def read_trunk_users(path: Path) -> tuple[tuple[str, str], ...]:
    """(user, password) pairs from a file with one USER:PASSWORD a line ('#' comments)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise IvrError(f"{path}: cannot read trunk users ({exc.strerror})") from None
    users: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.strip().partition(":")
        if not sep or not password:
            raise IvrError(f"{path} line {number}: write USER:PASSWORD")
        _check_trunk_user(user, f"{path} line {number}: ")
        if user in users:
            raise IvrError(f"{path} line {number}: user {user!r} is listed twice")
        users[user] = password
    if not users:
        raise IvrError(f"{path}: no USER:PASSWORD line (leave out --trunk-auth for no "
                       "authentication)")
    return tuple(users.items())


def _check_trunk_user(user: str, where: str) -> None:
    if not _TRUNK_USER.fullmatch(user):
        raise IvrError(f"{where}user {user!r}: use only letters, digits, '.', '_' and '-'")


def ha1(user: str, password: str, realm: str = AUTH_REALM) -> str:
    """The digest HA1 the front checks credentials against: MD5(user:realm:password)."""
    return hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()


def render(settings: FrontSettings, run_dir: Path, template: Path = TEMPLATE) -> str:
    """The config text for `run_dir` (where write_config puts the lists it refers to)."""
    modules = next((d for d in MODULES_DIRS if Path(d, "dispatcher.so").exists()), MODULES_DIRS[0])
    workers = tuple(sorted({f"{addr}/32" for addr, _ in settings.workers}))
    values = {
        "DEBUG": str(settings.debug), "LOG_PREFIX": "front:", "CHILDREN": str(settings.children),
        "LISTEN_ADDR": settings.listen_addr, "LISTEN_PORT": str(settings.listen_port),
        "MODULES_DIR": modules, "DISPATCHER_LIST": str(run_dir / "dispatcher.list"),
        "PING_INTERVAL": str(settings.ping_interval_s),
        "ALLOW_CONDITION": allow_condition(settings.allow),
        "ALLOW_TEXT": ", ".join(settings.allow),
        "TRUSTED_CONDITION": allow_condition(workers),
        "PIKE_REQUESTS": str(settings.pike_requests), "PIKE_WINDOW": str(settings.pike_window_s),
        "PIKE_BAN": str(settings.pike_ban_s),
        "TRUNK_AUTH": ("#!define WITH_TRUNK_AUTH" if settings.trunk_users
                       else "# trunk authentication: off (no trunk users configured)"),
        "AUTH_REALM": AUTH_REALM, "TRUNKS_FILE": str(run_dir / "trunks.cfg"),
    }
    text = template.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{{" + name + "}}", value)
    if "{{" in text:
        left = text[text.index("{{"):].split("}}")[0] + "}}"
        raise IvrError(f"{template}: placeholder {left} has no value")
    return text


def trunks_config(users: tuple[tuple[str, str], ...]) -> str:
    """The included config that loads each trunk user's HA1 into the `trunks` table."""
    for user, _ in users:
        _check_trunk_user(user, "trunk ")
    lines = [f'\t$sht(trunks=>{user}) = "{ha1(user, password)}";' for user, password in users]
    return ("# Generated by ivr serve: the trunk users' digest HA1, MD5(user:realm:password).\n"
            "event_route[htable:mod-init] {\n" + "\n".join(lines) + "\n}\n")


def write_config(settings: FrontSettings, run_dir: Path) -> Path:
    """kamailio.cfg, dispatcher.list and, with trunk users, trunks.cfg (only the owner may read
    it) in `run_dir`; returns the config path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    dispatcher = run_dir / "dispatcher.list"
    dispatcher.write_text("".join(f"1 sip:{addr}:{port} 0 0 duid=w{i + 1}\n"
                                  for i, (addr, port) in enumerate(settings.workers)))
    trunks = run_dir / "trunks.cfg"
    trunks.unlink(missing_ok=True)
    if settings.trunk_users:
        with os.fdopen(os.open(trunks, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(trunks_config(settings.trunk_users))
    config = run_dir / "kamailio.cfg"
    config.write_text(render(settings, run_dir))
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
