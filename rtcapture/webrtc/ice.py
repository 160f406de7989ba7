"""Peer connections that gather ICE candidates only where the other side can reach them.

aioice leaves ``127.0.0.1`` out when it gathers host candidates, and aiortc's default
configuration asks a public STUN server. A peer facing something on loopback must gather
on loopback (and ask no STUN server), so each peer here is built with an explicit address
list: ``None`` keeps aioice's choice (the host's interfaces), a list pins the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection

from .addresses import LOOPBACK, addresses_facing, is_loopback_host

__all__ = ["LOOPBACK", "addresses_facing", "is_loopback_host", "new_peer", "pin_addresses"]

def new_peer() -> RTCPeerConnection:
    """A peer connection with no STUN or TURN server (nothing is contacted but the peer)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def pin_addresses(pc: RTCPeerConnection, addresses: Sequence[str] | None) -> None:
    """Make every ICE transport of ``pc`` gather host candidates on ``addresses`` only.

    Call after the transceivers and data channels exist and before ``setLocalDescription``.
    """
    if addresses is None:
        return
    wanted = list(addresses)
    for connection in _ice_connections(pc):
        original = type(connection).get_component_candidates

        async def pinned(component: int, addresses: list[str], timeout: int = 5, *,
                         _conn: Any = connection, _orig: Any = original) -> Any:
            return await _orig(_conn, component=component, addresses=wanted, timeout=timeout)

        connection.get_component_candidates = pinned


def _ice_connections(pc: RTCPeerConnection) -> list[Any]:
    dtls = [t.sender.transport for t in pc.getTransceivers() if t.sender.transport is not None]
    if pc.sctp is not None:
        dtls.append(pc.sctp.transport)
    seen: dict[int, Any] = {}
    for transport in dtls:
        connection = transport.transport.iceGatherer._connection
        seen[id(connection)] = connection
    return list(seen.values())
