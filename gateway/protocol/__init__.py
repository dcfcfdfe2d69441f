"""The pure protocol core: wire format, the hello model, control parsing, subscriptions, aggregation, resume
ring, and the policies the I/O shells pump (slow-client backlog, control-message gate, admission, budgets); also
the seam bridges see the gateway through.

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
