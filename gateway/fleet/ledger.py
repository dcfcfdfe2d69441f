"""Identity and loss per gateway (pure): which upstream readings are new, which re-deliveries, which holes.

Every reading a gateway publishes carries ``(gateway, boot, seq)`` and ``prev``, the seq of the previous
reading of the same sensor (docs/protocol.md). What reaches the fleet through the broker is two interleaved
streams per gateway (bridges/mqtt/forwarder.py): live readings and, after a reconnection, the outbox's
backlog, each in seq order per sensor; a QoS 1 re-delivery repeats a reading with the same identity. So per
``(boot, sensor)`` the ledger keeps the highest seq it delivered and the *holes* of the chain: ranges
``after < seq <= upto`` in which at least the reading ``upto`` is still missing.

* ``seq`` above the last one: ``new`` when its ``prev`` is the last one, else ``gap`` (a hole opens, reported);
* ``seq`` inside a hole: ``fill`` (a late reading from the gateway's outbox; the hole shrinks or closes);
* anything else: ``duplicate`` (delivered before), and malformed identities are ``invalid``.

The first reading the fleet sees of a sensor opens no reported hole: what came before it (a backlog the
gateway is still replaying when the fleet starts) is accepted as ``fill`` but was never missed.

No clock, no I/O; every table is bounded (limits below). 100 % branch coverage: tests/gateway/fleet/.

A ledger survives a restart of the fleet as plain JSON-able data (:meth:`GatewayLedger.snapshot`,
:meth:`GatewayLedger.restore`; the file is gateway/fleet/ledger_file.py's): restored at the point of the
snapshot, it gives every later reading the verdict an uninterrupted ledger would have given it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Any

MAX_BOOTS_PER_GATEWAY = 4
"""Boots of one gateway whose chains are kept (boots): a gateway that restarted during an outage replays
readings of its previous boots from the outbox, and those must still be matched."""
MAX_SENSORS_PER_BOOT = 512
"""Chains per boot (sensors): a hostile gateway inventing sensor ids cannot grow the fleet without bound."""
MAX_HOLES_PER_SENSOR = 64
"""Open holes per chain (holes): past it the oldest is given up and counted ``lost``."""
MAX_SEQ = 2**63 - 1
"""Largest seq accepted (a uint64 in msgpack; beyond it the identity is malformed)."""
MAX_KEY_CHARS = 64
"""Longest boot or sensor id a restored snapshot may carry (characters): the source trims the MQTT boot
property to 64 and ids are shorter (gateway/fleet/messages.py); longer ones come from a hand-edited file."""

NEW = "new"
GAP = "gap"
FILL = "fill"
DUPLICATE = "duplicate"
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with one upstream reading.

    Attributes:
        kind: ``new``, ``gap``, ``fill``, ``duplicate`` or ``invalid``; deliver the first three.
        after: for ``gap``, the last seq delivered of this sensor before the hole.
        upto: for ``gap``, the seq of the last missing reading (the new reading's ``prev``).
    """

    kind: str
    after: int = 0
    upto: int = 0

    @property
    def deliver(self) -> bool:
        """Whether the reading goes on to clients."""
        return self.kind in (NEW, GAP, FILL)


@dataclass(slots=True)
class _Hole:
    after: int
    upto: int
    counted: bool
    """Reported as a gap (False: the history before the fleet's first reading, never missed)."""


@dataclass(slots=True)
class _Chain:
    last: int
    holes: list[_Hole] = field(default_factory=list)


@dataclass(slots=True)
class Counters:
    """A gateway's loss accounting (shown in the fleet's gateway list)."""

    received: int = 0
    duplicates: int = 0
    invalid: int = 0
    gaps: int = 0
    """Holes reported."""
    late: int = 0
    """Readings that arrived late into a reported hole (from the gateway's outbox)."""
    lost: int = 0
    """Reported holes given up (a table limit, or their boot was forgotten)."""
    refused: int = 0
    """Readings refused because a table was full (:data:`MAX_SENSORS_PER_BOOT`)."""


_COUNTER_NAMES = tuple(f.name for f in fields(Counters))


def _seq(value: object, low: int) -> bool:
    """Whether ``value`` is an int (not a bool) in ``low..MAX_SEQ``."""
    return type(value) is int and low <= value <= MAX_SEQ


def _key(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_KEY_CHARS


class GatewayLedger:
    """The chains of one gateway, across its recent boots."""

    def __init__(self) -> None:
        self._boots: OrderedDict[str, dict[str, _Chain]] = OrderedDict()
        self.counters = Counters()

    def snapshot(self) -> dict[str, Any]:
        """The ledger as plain JSON-able data (bounded by the ledger's own limits).

        ``{"boots": [[boot, {sensor: [last, [[after, upto, counted], ...]]}], ...], "counters": {...}}``, the
        boots least recently used first (the order in which they are forgotten).
        """
        return {
            "boots": [
                [
                    boot,
                    {s: [c.last, [[h.after, h.upto, h.counted] for h in c.holes]] for s, c in chains.items()},
                ]
                for boot, chains in self._boots.items()
            ],
            "counters": {name: getattr(self.counters, name) for name in _COUNTER_NAMES},
        }

    @classmethod
    def restore(cls, data: object) -> tuple[GatewayLedger, int]:
        """A ledger from :meth:`snapshot`'s data, which may have been hand-edited or corrupted.

        Every value is checked; what is invalid (a wrong type, a seq out of range, a hole outside its chain or
        overlapping the one before, an entry past a table limit) is skipped, never raised, and the ledger never
        grows past its limits.

        Returns:
            The ledger and the number of entries skipped (0 for a snapshot of a ledger).
        """
        led = cls()
        if not isinstance(data, dict):
            return led, 1
        skipped = 0
        counters = data.get("counters")
        if isinstance(counters, dict):
            for name, value in counters.items():
                if name in _COUNTER_NAMES and _seq(value, 0):
                    setattr(led.counters, name, value)
                else:
                    skipped += 1
        else:
            skipped += 1
        boots = data.get("boots")
        if not isinstance(boots, list):
            return led, skipped + 1
        for entry in boots:
            if not (
                isinstance(entry, list) and len(entry) == 2 and _key(entry[0]) and isinstance(entry[1], dict)
            ):
                skipped += 1
                continue
            boot, chains = entry
            if boot in led._boots:
                skipped += 1
                continue
            if len(led._boots) >= MAX_BOOTS_PER_GATEWAY:  # keep the most recent ones, as offer() would
                led._boots.popitem(last=False)
                skipped += 1
            restored = led._boots[boot] = {}
            for sensor, chain in chains.items():
                if len(restored) >= MAX_SENSORS_PER_BOOT:
                    skipped += 1
                    continue
                if not (_key(sensor) and isinstance(chain, list) and len(chain) == 2 and _seq(chain[0], 1)):
                    skipped += 1
                    continue
                last, holes = chain
                restored[sensor], bad = _restore_chain(last, holes)
                skipped += bad
        return led, skipped

    def open_gaps(self) -> int:
        """Reported holes still open (readings that may yet arrive from the gateway's outbox)."""
        return sum(h.counted for chains in self._boots.values() for c in chains.values() for h in c.holes)

    def offer(self, boot: str, sensor: str, seq: int, prev: int) -> Verdict:
        """Classify one upstream reading of ``sensor`` with identity ``(boot, seq)`` and ``prev``."""
        c = self.counters
        if not (0 < seq <= MAX_SEQ and 0 <= prev < seq):
            c.invalid += 1
            return Verdict(INVALID)
        chains = self._boot(boot)
        chain = chains.get(sensor)
        if chain is None:
            if len(chains) >= MAX_SENSORS_PER_BOOT:
                c.refused += 1
                return Verdict(INVALID)
            chain = chains[sensor] = _Chain(seq)
            if prev:
                chain.holes.append(_Hole(0, prev, counted=False))
            c.received += 1
            return Verdict(NEW)
        if seq > chain.last:
            after = chain.last
            chain.last = seq
            c.received += 1
            if prev <= after:  # prev < after: an inconsistent chain; the reading is new all the same
                return Verdict(NEW)
            self._add_hole(chain, _Hole(after, prev, counted=True))
            c.gaps += 1
            return Verdict(GAP, after, prev)
        for i, hole in enumerate(chain.holes):
            if hole.after < seq <= hole.upto:
                self._fill(chain, i, hole, seq, prev)
                c.received += 1
                return Verdict(FILL)
        c.duplicates += 1
        return Verdict(DUPLICATE)

    def _boot(self, boot: str) -> dict[str, _Chain]:
        chains = self._boots.get(boot)
        if chains is None:
            if len(self._boots) >= MAX_BOOTS_PER_GATEWAY:
                _, old = self._boots.popitem(last=False)
                self.counters.lost += sum(h.counted for ch in old.values() for h in ch.holes)
            chains = self._boots[boot] = {}
        else:
            self._boots.move_to_end(boot)
        return chains

    def _add_hole(self, chain: _Chain, hole: _Hole) -> None:
        chain.holes.append(hole)
        if len(chain.holes) > MAX_HOLES_PER_SENSOR:
            oldest = chain.holes.pop(0)
            self.counters.lost += oldest.counted

    def _fill(self, chain: _Chain, i: int, hole: _Hole, seq: int, prev: int) -> None:
        """Reading ``seq`` (with ``prev``) arrived inside ``hole``: keep what is still missing on either side."""
        parts = []
        if prev > hole.after:
            parts.append(_Hole(hole.after, prev, hole.counted))
        if seq < hole.upto:
            parts.append(_Hole(seq, hole.upto, hole.counted))
        chain.holes[i : i + 1] = parts
        self.counters.late += hole.counted


def _restore_chain(last: int, holes: object) -> tuple[_Chain, int]:
    """The chain ending at ``last`` with the valid ones of ``holes`` (in order, inside the chain, apart)."""
    chain = _Chain(last)
    if not isinstance(holes, list):
        return chain, 1
    skipped = 0
    floor = 0
    for hole in holes:
        if not (isinstance(hole, list) and len(hole) == 3 and _seq(hole[0], floor) and _seq(hole[1], 1)):
            skipped += 1
            continue
        after, upto, counted = hole
        if not (after < upto < last and isinstance(counted, bool)):
            skipped += 1
            continue
        chain.holes.append(_Hole(after, upto, counted))
        floor = upto
    excess = len(chain.holes) - MAX_HOLES_PER_SENSOR
    if excess > 0:  # the oldest go first, as in _add_hole
        del chain.holes[:excess]
        skipped += excess
    return chain, skipped
