"""A synthetic source: smooth, deterministic waveforms on any number of fields.

Used by benchmarks (20 sensors at 50 Hz for the dashboard, 1000 readings/s for fan-out) and as a load source
for soak tests. It is not an emulator of a chip; chips are emulated at the bus level in sensors.sim.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.spec import DeviceSpec


class SyntheticSensor(Sensor):
    """Produces ``sin`` waves of different periods per field, plus a reading counter.

    Args:
        info: catalogue entry.
        clock: seconds clock used for the waveform (injected for tests).
        period_s: period of the first field's wave; field ``i`` uses ``period_s * (i + 1)``.
        amplitude: wave amplitude.
    """

    bus_id = "synthetic"
    never_blocks = True  # pure computation: read on the event loop, no thread handoff per reading

    def __init__(
        self,
        info: SensorInfo,
        clock: Callable[[], float] = time.monotonic,
        period_s: float = 10.0,
        amplitude: float = 1.0,
    ) -> None:
        super().__init__(info)
        self._clock = clock
        self._period_s = period_s
        self._amplitude = amplitude
        self._names = [f.name for f in info.fields if f.name != "n"]
        self._count = 0

    def read(self) -> Values:
        """Return the waves at the current clock value and the running reading count ``n``."""
        t = self._clock()
        self._count += 1
        values: dict[str, float | int] = {
            name: round(self._amplitude * math.sin(2 * math.pi * t / (self._period_s * (i + 1))), 6)
            for i, name in enumerate(self._names)
        }
        values["n"] = self._count
        return values


def build(spec: DeviceSpec, ctx: BuildContext) -> SyntheticSensor:
    """Build a synthetic sensor. Options: ``fields`` (list of names), ``period_s``, ``amplitude``, ``unit``."""
    spec.check_unknown(["fields", "period_s", "amplitude", "unit"])
    names = spec.opt_list("fields", ["value"])
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name or name == "n":
            raise spec.error(f"fields[{i}]", f"expected a field name other than 'n', got {name!r}")
    unit = spec.opt_str("unit", "")
    fields = (*(FieldSpec(n, unit) for n in names), FieldSpec("n", "", "int"))
    info = SensorInfo(spec.id, spec.driver, fields, spec.interval_s, simulated=True, model="synthetic")
    return SyntheticSensor(
        info, period_s=spec.opt_float("period_s", 10.0, min=0.001), amplitude=spec.opt_float("amplitude", 1.0)
    )
