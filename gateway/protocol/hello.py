"""The ``hello`` frame as typed values: the catalogue of sensors and actuators a client (or a bridge) is shown,
and the session facts around it. One model for the catalogue, the server and the wire (docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.protocol.model import Value


@dataclass(frozen=True, slots=True)
class FieldEntry:
    """One field of a sensor: its key in readings, a human label, unit, kind, Home Assistant device class and
    what its values mean over time (``gauge``, ``counter``, ``state``)."""

    name: str
    label: str
    unit: str
    kind: str
    device_class: str | None
    series: str

    def to_wire(self) -> dict[str, Any]:
        """The field as the ``hello`` frame carries it."""
        return {
            "name": self.name,
            "label": self.label,
            "unit": self.unit,
            "kind": self.kind,
            "device_class": self.device_class,
            "series": self.series,
        }


@dataclass(frozen=True, slots=True)
class SensorEntry:
    """One sensor of the catalogue, with its current state."""

    id: str
    driver: str
    model: str
    description: str
    interval_s: float
    sim: bool
    state: str
    error: str | None
    fields: tuple[FieldEntry, ...]
    readings_per_poll: int = 1
    """Readings one poll delivers (a FIFO burst delivers many): ``rate_hz`` is the reading rate a client sees."""

    def to_wire(self) -> dict[str, Any]:
        """The sensor as the ``hello`` frame carries it (``rate_hz``: readings per second a client sees,
        ``readings_per_poll / interval_s``; None for a pushed source)."""
        return {
            "id": self.id,
            "driver": self.driver,
            "model": self.model,
            "description": self.description,
            "interval_s": self.interval_s,
            "rate_hz": (self.readings_per_poll / self.interval_s) if self.interval_s else None,
            "sim": self.sim,
            "state": self.state,
            "error": self.error,
            "fields": [f.to_wire() for f in self.fields],
        }


@dataclass(frozen=True, slots=True)
class ActuatorEntry:
    """One output of the catalogue, with the value last applied (None before the first)."""

    id: str
    driver: str
    kind: str
    min: float
    max: float
    safe_value: Value
    unit: str
    sim: bool
    safe_on_disconnect: bool
    min_interval_s: float
    value: Value

    def to_wire(self) -> dict[str, Any]:
        """The output as the ``hello`` frame carries it."""
        return {
            "id": self.id,
            "driver": self.driver,
            "kind": self.kind,
            "min": self.min,
            "max": self.max,
            "safe_value": self.safe_value,
            "unit": self.unit,
            "safe_on_disconnect": self.safe_on_disconnect,
            "min_interval_s": self.min_interval_s,
            "sim": self.sim,
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class Listing:
    """The catalogue as a client is shown it: every sensor and every output, in registration order."""

    sensors: tuple[SensorEntry, ...]
    actuators: tuple[ActuatorEntry, ...]

    def to_wire(self) -> dict[str, Any]:
        """``{"sensors": [...], "actuators": [...]}`` as the ``hello`` frame (and the bridges) read them."""
        return {
            "sensors": [s.to_wire() for s in self.sensors],
            "actuators": [a.to_wire() for a in self.actuators],
        }


@dataclass(frozen=True, slots=True)
class Hello:
    """The first frame of an authorised session."""

    v: int
    gw: str
    boot: str
    seq: int
    ts: int
    clock_synced: bool
    role: str | None
    server: str
    caps: Sequence[str]
    listing: Listing
    limits: Mapping[str, int | float]
    rules: Sequence[Mapping[str, Any]] = ()
    """The configured local rules (docs/protocol.md, "Local rules")."""
    events: Sequence[Mapping[str, Any]] = ()
    """The rule events active now, so a client connecting late sees them."""

    def to_wire(self) -> dict[str, Any]:
        """The frame's map, in the documented key order."""
        cat = self.listing.to_wire()
        return {
            "t": "hello",
            "v": self.v,
            "gw": self.gw,
            "boot": self.boot,
            "seq": self.seq,
            "ts": self.ts,
            "clock_synced": self.clock_synced,
            "role": self.role,
            "server": self.server,
            "caps": list(self.caps),
            "sensors": cat["sensors"],
            "actuators": cat["actuators"],
            "rules": [dict(r) for r in self.rules],
            "events": [dict(e) for e in self.events],
            "limits": dict(self.limits),
        }
