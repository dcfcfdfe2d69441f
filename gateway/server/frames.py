"""The WebSocket frame fast path: one binary frame serialized once and written to every open socket that keeps
up, bypassing websockets' per-connection send path where the internals it relies on are present.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.protocol import OPEN
from websockets.version import version as websockets_version

log = logging.getLogger("gateway.fanout")  # the name journal filters know from before the move


_HEAD_SHORT = struct.Struct("!BB")
_HEAD_16 = struct.Struct("!BBH")
_HEAD_64 = struct.Struct("!BBQ")


def binary_frame(payload: bytes) -> bytes:
    """A final, unmasked binary WebSocket frame (RFC 6455 section 5.2) carrying ``payload``: what a server sends
    without extensions. The same bytes as websockets' ``Frame(Opcode.BINARY, payload).serialize(mask=False)``,
    with one copy of the payload instead of three."""
    n = len(payload)
    if n < 126:
        head = _HEAD_SHORT.pack(0x82, n)
    elif n < 65536:
        head = _HEAD_16.pack(0x82, 126, n)
    else:
        head = _HEAD_64.pack(0x82, 127, n)
    return head + payload


class FastPath:
    """Whether :func:`write_to_all` may bypass websockets' send path, decided once per process.

    The fast path relies on websockets internals that are not public API (``conn.transport``,
    ``conn.send_in_progress``, ``conn.protocol.state``, ``conn.protocol.extensions``). They are checked on the
    first connection; when any is missing (a websockets release outside the pinned range), every frame goes
    through ``websockets.broadcast`` instead, and one log line says so.
    """

    REQUIRED = ("transport", "send_in_progress", "protocol", "protocol.state", "protocol.extensions")

    def __init__(self) -> None:
        self.usable: bool | None = None
        """None until the first connection was checked."""

    def check(self, conn: object) -> bool:
        """Return True when ``conn`` (and so every connection of this websockets) has what the fast path uses."""
        if self.usable is None:
            missing = [name for name in self.REQUIRED if not _has_path(conn, name)]
            self.usable = not missing
            if missing:
                log.warning(
                    "websockets %s lacks %s: the fan-out sends through websockets.broadcast (slower)",
                    websockets_version,
                    ", ".join(missing),
                )
        return self.usable


def _has_path(obj: object, dotted: str) -> bool:
    for name in dotted.split("."):
        if not hasattr(obj, name):
            return False
        obj = getattr(obj, name)
    return True


FAST_PATH = FastPath()


def write_to_all(conns: Sequence[ServerConnection], message: bytes) -> None:
    """Send ``message`` as one binary WebSocket frame to every connection, without waiting on any of them.

    What ``websockets.broadcast`` does, except that the frame is serialized once for all of them (a server
    frame is not masked, so every connection without an extension sends the same bytes) instead of once per
    connection. Connections that are not open are skipped; one with an extension (permessage-deflate) goes
    through ``broadcast``, which encodes for it. Without the internals this relies on (:class:`FastPath`),
    everything goes through ``broadcast``.
    """
    if not conns:
        return
    if not FAST_PATH.check(conns[0]):
        broadcast(conns, message)
        return
    wire: bytes | None = None
    for conn in conns:
        protocol = conn.protocol
        if protocol.state is not OPEN or conn.send_in_progress is not None:
            continue  # closing, or (never here) a fragmented send under way: as broadcast() does
        if protocol.extensions:
            broadcast((conn,), message)
            continue
        if wire is None:
            wire = binary_frame(message)
        try:
            conn.transport.write(wire)
        except Exception as exc:  # as broadcast(): one failed write must not stop the others
            log.warning("skipped a frame for %s: %s", conn.remote_address, exc)
