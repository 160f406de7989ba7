"""Which local addresses a WebRTC peer gathers ICE candidates on (no WebRTC stack needed).

A peer facing something on loopback gathers on loopback; one facing anything else keeps
aioice's choice, the host's interfaces (``None``); ``--ice-address`` overrides both.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

LOOPBACK = ("127.0.0.1",)


def is_loopback_host(host: str) -> bool:
    """True when ``host`` (a name or an address) resolves to loopback only."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_UDP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def addresses_facing(host: str, override: Sequence[str] = ()) -> list[str] | None:
    """Where a peer facing ``host`` gathers: ``override`` if given, loopback when ``host`` is
    on loopback, else None (the host's interfaces, aioice's default)."""
    if override:
        return list(override)
    return list(LOOPBACK) if is_loopback_host(host) else None
