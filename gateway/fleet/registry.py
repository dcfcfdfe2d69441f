"""The fleet's gateway list (pure): who is online (Last Will), last seen, boot, reading rate, clock sync, and
each gateway's loss accounting. ``now`` is passed in; the ``fleet`` frame is built from :meth:`Registry.listing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from gateway.fleet.ledger import GatewayLedger
from gateway.protocol.model import FLAG_CLOCK_SYNCED

MAX_GATEWAYS = 1024
"""Gateways tracked (gateways): a broker full of invented gateway ids cannot grow the fleet without bound."""
RATE_WINDOW_S = 5.0
"""Readings are counted over windows this long (seconds) for the rate shown in the list."""


@dataclass(slots=True)
class Gateway:
    """What the fleet knows of one gateway."""

    id: str
    online: bool = False
    """From ``<gw>/status`` (retained ``online``, Last Will ``offline``)."""
    boot: str = ""
    """From its retained meta (the current run)."""
    payload: str = "json"
    sensors: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    last_seen_ns: int = 0
    """Wall time of the last message from it (0: none yet)."""
    clock_synced: bool | None = None
    """Bit 0 of its latest reading's flags (None: no reading yet)."""
    rate_hz: float = 0.0
    ledger: GatewayLedger = field(default_factory=GatewayLedger)
    _window_start_s: float | None = None
    _window_count: int = 0

    def seen(self, wall_ns: int) -> None:
        """A message from this gateway arrived."""
        self.last_seen_ns = wall_ns

    def reading(self, now_s: float, flags: int) -> None:
        """A reading was delivered: count it for the rate, note its clock flag."""
        self.clock_synced = bool(flags & FLAG_CLOCK_SYNCED)
        self._window_count += 1
        self.tick(now_s)

    def tick(self, now_s: float) -> None:
        """Close the rate window when it is over (also called with no reading, so a silent gateway drops to 0)."""
        if self._window_start_s is None:  # the first window starts here; what opened it is not in it
            self._window_start_s = now_s
            self._window_count = 0
            return
        elapsed = now_s - self._window_start_s
        if elapsed >= RATE_WINDOW_S:
            self.rate_hz = round(self._window_count / elapsed, 3)
            self._window_start_s = now_s
            self._window_count = 0

    def entry(self) -> dict[str, Any]:
        """This gateway as the ``fleet`` frame lists it (docs/protocol.md)."""
        c = self.ledger.counters
        return {
            "id": self.id,
            "online": self.online,
            "boot": self.boot,
            "last_seen": self.last_seen_ns,
            "rate_hz": self.rate_hz,
            "clock_synced": self.clock_synced,
            "sensors": len(self.sensors),
            "outputs": len(self.outputs),
            "readings": c.received,
            "duplicates": c.duplicates,
            "gaps": c.gaps,
            "gaps_open": self.ledger.open_gaps(),
            "late": c.late,
            "lost": c.lost,
            "invalid": c.invalid + c.refused,
        }


class Registry:
    """Every gateway seen under the prefix, at most :data:`MAX_GATEWAYS`."""

    def __init__(self) -> None:
        self.gateways: dict[str, Gateway] = {}
        self.refused = 0
        """Messages of gateways beyond :data:`MAX_GATEWAYS` (ignored)."""
        self.restored: dict[str, GatewayLedger] = {}
        """Ledgers of the previous run (gateway/fleet/ledger_store.py) of gateways not seen yet in this one: a
        gateway is listed when it is heard from, not because a file names it."""

    def restore(self, ledgers: dict[str, GatewayLedger]) -> None:
        """Take the previous run's ledgers (at most :data:`MAX_GATEWAYS`, as the file decoder returns them)."""
        self.restored = dict(list(ledgers.items())[:MAX_GATEWAYS])

    def get(self, gateway_id: str) -> Gateway | None:
        """The gateway, created on first sight (with its restored ledger); None when the table is full."""
        gw = self.gateways.get(gateway_id)
        if gw is None:
            if len(self.gateways) >= MAX_GATEWAYS:
                self.refused += 1
                return None
            led = self.restored.pop(gateway_id, None) or GatewayLedger()
            gw = self.gateways[gateway_id] = Gateway(gateway_id, ledger=led)
        return gw

    def ledgers(self) -> dict[str, GatewayLedger]:
        """Every ledger to keep across a restart: the gateways seen, then the restored ones not seen in this run
        (a gateway that stayed away keeps its ledger), at most :data:`MAX_GATEWAYS`."""
        out = {gw_id: gw.ledger for gw_id, gw in self.gateways.items()}
        for gw_id, led in self.restored.items():
            if len(out) >= MAX_GATEWAYS:
                break
            out.setdefault(gw_id, led)
        return out

    def tick(self, now_s: float) -> None:
        """Close every gateway's rate window that is over."""
        for gw in self.gateways.values():
            gw.tick(now_s)

    def listing(self) -> list[dict[str, Any]]:
        """Every gateway's entry, sorted by id."""
        return [self.gateways[k].entry() for k in sorted(self.gateways)]


def encode_fleet(gateways: list[dict[str, Any]], catalogue: dict[str, Any] | None = None) -> bytes:
    """The ``fleet`` frame (docs/protocol.md): the gateway list and, when the catalogue changed since the client's
    ``hello`` (a gateway came, went or was reloaded), the new ``sensors`` and ``actuators`` lists."""
    msg: dict[str, Any] = {"t": "fleet", "gateways": gateways}
    if catalogue is not None:
        msg["sensors"] = catalogue["sensors"]
        msg["actuators"] = catalogue["actuators"]
    data: bytes = msgpack.packb(msg, use_bin_type=True)
    return data
