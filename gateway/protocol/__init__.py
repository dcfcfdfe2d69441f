"""The pure protocol core: wire format, control parsing, subscriptions, aggregation, resume ring.

Nothing in this package imports asyncio, websockets, sockets or reads a clock: time is always an argument.
"""

from gateway.protocol.model import FLAG_CLOCK_SYNCED, FLAG_COALESCED, FLAG_RESENT, FLAG_SIMULATED, Reading

PROTOCOL_VERSION = 1

__all__ = [
    "FLAG_CLOCK_SYNCED",
    "FLAG_COALESCED",
    "FLAG_RESENT",
    "FLAG_SIMULATED",
    "PROTOCOL_VERSION",
    "Reading",
]
