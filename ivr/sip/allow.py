"""Which peers may place calls: INVITEs from anywhere else are answered 403."""

from __future__ import annotations

import ipaddress
from typing import Iterable

from ivr.errors import IvrError


class AllowList:
    """Addresses and networks (CIDR) allowed to send INVITEs."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = []
        for cidr in cidrs:
            try:
                self.networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                raise IvrError(f"--allow {cidr!r}: not an address or CIDR like 10.0.0.0/8") from None

    def allows(self, source: str) -> bool:
        """`source` as pjsip gives it: '1.2.3.4:5060', '[::1]:5060' or a bare address."""
        host = source
        if host.startswith("["):
            host = host[1:host.find("]")]
        elif host.count(":") == 1:
            host = host.split(":")[0]
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def __str__(self) -> str:
        return ", ".join(str(n) for n in self.networks)
