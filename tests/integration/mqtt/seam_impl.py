"""Small but real implementations of ``gateway.protocol.seam`` for bridge tests: a reading source that stamps readings
like the hub (seq, prev, flags) and a command handler with an allowlist. Not mocks of the bridge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.protocol.model import FLAG_CLOCK_SYNCED, Reading
from gateway.protocol.seam import BatchSink, CommandResult, StatusSink

SENSORS: list[dict[str, Any]] = [
    {
        "id": "env",
        "driver": "bme280",
        "model": "BME280",
        "interval_s": 1.0,
        "sim": True,
        "state": "ok",
        "error": None,
        "fields": [
            {"name": "temperature_c", "unit": "°C", "kind": "float", "device_class": "temperature"},
            {"name": "humidity_pct", "unit": "%", "kind": "float", "device_class": "humidity"},
        ],
    },
    {
        "id": "door",
        "driver": "gpio_input",
        "model": "",
        "interval_s": 0,
        "sim": True,
        "state": "ok",
        "error": None,
        "fields": [{"name": "open", "unit": "", "kind": "bool", "device_class": "door"}],
    },
]
ACTUATORS: list[dict[str, Any]] = [
    {
        "id": "relay1",
        "driver": "gpio_output",
        "kind": "switch",
        "min": 0.0,
        "max": 1.0,
        "unit": "",
        "sim": True,
        "value": False,
    },
]


class TestSource:
    """A ReadingSource: ``emit()`` stamps readings and hands them to the sinks as one batch."""

    __test__ = False

    def __init__(
        self,
        gateway_id: str = "gw1",
        boot_id: str = "boot1",
        sensors: list[dict[str, Any]] | None = None,
        actuators: list[dict[str, Any]] | None = None,
    ) -> None:
        self._gateway_id = gateway_id
        self._boot_id = boot_id
        self.sensors = [dict(s) for s in (SENSORS if sensors is None else sensors)]
        self.actuators = ACTUATORS if actuators is None else actuators
        self.sinks: list[BatchSink] = []
        self.status_sinks: list[StatusSink] = []
        self.seq = 0
        self.prev: dict[str, int] = {}
        self.values: dict[str, Any] = {a["id"]: a.get("value") for a in self.actuators}

    @property
    def gateway_id(self) -> str:
        return self._gateway_id

    @property
    def boot_id(self) -> str:
        return self._boot_id

    def catalogue(self) -> dict[str, Any]:
        return {
            "sensors": [dict(s) for s in self.sensors],
            "actuators": [dict(a, value=self.values.get(a["id"])) for a in self.actuators],
        }

    def add_sink(self, sink: BatchSink) -> Callable[[], None]:
        self.sinks.append(sink)
        return lambda: self.sinks.remove(sink)

    def add_status_sink(self, sink: StatusSink) -> Callable[[], None]:
        self.status_sinks.append(sink)
        return lambda: self.status_sinks.remove(sink)

    def stamp(self, sensor: str, values: Mapping[str, Any]) -> Reading:
        self.seq += 1
        r = Reading(
            self.seq, self.prev.get(sensor, 0), time.time_ns(), sensor, dict(values), FLAG_CLOCK_SYNCED
        )
        self.prev[sensor] = self.seq
        return r

    def deliver(self, batch: Sequence[Reading]) -> None:
        for sink in list(self.sinks):
            sink(batch)

    def emit(self, n: int, sensors: Sequence[str] = ("env", "door")) -> list[Reading]:
        """Stamp ``n`` readings round-robin over ``sensors`` and deliver them as one batch."""
        batch = []
        for _ in range(n):
            sensor = sensors[self.seq % len(sensors)]
            values = (
                {"open": self.seq % 2 == 0}
                if sensor == "door"
                else {"temperature_c": round(20 + self.seq / 1000, 3), "humidity_pct": 40.5}
            )
            batch.append(self.stamp(sensor, values))
        self.deliver(batch)
        return batch

    def set_state(self, sensor: str, state: str, error: str | None) -> None:
        for s in self.sensors:
            if s["id"] == sensor:
                s.update(state=state, error=error)
        for sink in list(self.status_sinks):
            sink(sensor, state, error)


class TestCommands:
    """A CommandHandler with the gateway's rules: operator role, allowlisted targets, switch values."""

    __test__ = False

    def __init__(self, source: TestSource) -> None:
        self.source = source
        self.calls: list[tuple[str, Any, str, str]] = []

    async def execute(self, target: str, value: Any, *, role: str, origin: str) -> CommandResult:
        self.calls.append((target, value, role, origin))
        await asyncio.sleep(0)
        if role != "operator":
            return CommandResult(False, target, error="operator role required")
        if target not in self.source.values:
            return CommandResult(False, target, error="unknown target")
        if isinstance(value, str) and value.lower() in ("on", "off", "true", "false"):
            value = value.lower() in ("on", "true")
        if not isinstance(value, bool):
            return CommandResult(False, target, error="expected true/false (or on/off)")
        self.source.values[target] = value
        self.source.deliver([self.source.stamp(target, {"value": value})])
        return CommandResult(True, target, value=value)
