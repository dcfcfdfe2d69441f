"""The catalogue: the sensors and actuators this gateway serves, each sensor's state and each actuator's value,
and the hello frame's lists built from them. Sensor state changes go to the status sinks.

Everything here runs on the event loop. Its data is private: others change it through the methods below.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway.metrics import Metrics
from gateway.protocol.hello import ActuatorEntry, FieldEntry, Listing, SensorEntry
from gateway.protocol.labels import human_name
from gateway.protocol.seam import StatusSink
from sensors.base import ActuatorInfo, SensorInfo

log = logging.getLogger("gateway.hub")  # the name journal filters know from before the split

InfoListener = Callable[[str], None]
"""Called with a sensor id when its catalogue entry was added or replaced (the hub re-reads its flags)."""


class Catalogue:
    """Sensors, actuators, their states and values.

    Args:
        metrics: where ``sensorcast_sensor_up`` and status-sink errors are counted.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._sensors: dict[str, SensorInfo] = {}
        self._states: dict[str, dict[str, Any]] = {}
        self._actuators: dict[str, ActuatorInfo] = {}
        self._values: dict[str, Any] = {}
        self._status_sinks: list[StatusSink] = []
        self._info_listeners: list[InfoListener] = []
        metrics.describe("sensorcast_sensor_up", "gauge", "1 when the sensor's state is ok", ("sensor",))

    # -- sensors ---------------------------------------------------------------------------------------------

    def register_sensor(self, info: SensorInfo) -> None:
        """Add ``info`` to the catalogue (state ``starting``)."""
        self._sensors[info.id] = info
        self._states[info.id] = {"state": "starting", "error": None, "since": time.time_ns()}
        self._info_changed(info.id)

    def unregister_sensor(self, sensor_id: str) -> None:
        """Forget a sensor removed by a reload: it leaves the listing, /healthz and the next hello."""
        self._sensors.pop(sensor_id, None)
        self._states.pop(sensor_id, None)

    def update_info(self, info: SensorInfo) -> None:
        """Replace a registered sensor's catalogue entry (a deferred driver was built at last), keeping its
        state and readings chain."""
        self._sensors[info.id] = info
        self._info_changed(info.id)

    def sensor(self, sensor_id: str) -> SensorInfo | None:
        """The catalogue entry of ``sensor_id``, if registered."""
        return self._sensors.get(sensor_id)

    def simulated(self, sensor_id: str) -> bool:
        """Whether ``sensor_id`` is registered as running on an emulator."""
        info = self._sensors.get(sensor_id)
        return info is not None and info.simulated

    def set_state(self, sensor_id: str, state: str, error: str | None = None) -> None:
        """Record a sensor state change and tell the status sinks."""
        self._states[sensor_id] = {"state": state, "error": error, "since": time.time_ns()}
        self.metrics.set("sensorcast_sensor_up", 1.0 if state == "ok" else 0.0, sensor=sensor_id)
        for sink in list(self._status_sinks):
            try:
                sink(sensor_id, state, error)
            except Exception:
                log.exception("status sink failed")
                self.metrics.inc("sensorcast_sink_errors_total")

    def state(self, sensor_id: str) -> tuple[str, str | None]:
        """``(state, error)`` of ``sensor_id`` (``starting`` before its first report)."""
        st = self._states.get(sensor_id, {})
        return st.get("state", "starting"), st.get("error")

    def states(self) -> dict[str, str]:
        """Every sensor's state by id (a copy)."""
        return {sid: st["state"] for sid, st in self._states.items()}

    def add_status_sink(self, sink: StatusSink) -> Callable[[], None]:
        """Register ``sink`` for sensor state changes; returns its remover."""
        self._status_sinks.append(sink)
        return lambda: self._status_sinks.remove(sink) if sink in self._status_sinks else None

    def add_info_listener(self, listener: InfoListener) -> None:
        """Call ``listener(sensor_id)`` whenever a sensor's entry is added or replaced."""
        self._info_listeners.append(listener)

    def _info_changed(self, sensor_id: str) -> None:
        for listener in self._info_listeners:
            listener(sensor_id)

    # -- actuators -------------------------------------------------------------------------------------------

    def register_actuator(self, info: ActuatorInfo) -> None:
        """Add an actuator to the catalogue; its state is published as readings of sensor ``info.id``."""
        self._actuators[info.id] = info
        self._values[info.id] = None

    def actuator_value(self, actuator_id: str) -> Any:
        """The value last applied to ``actuator_id`` (None before the first)."""
        return self._values.get(actuator_id)

    def set_actuator_value(self, actuator_id: str, value: Any) -> None:
        """Record the value just applied to ``actuator_id``."""
        self._values[actuator_id] = value

    def actuator_values(self) -> Mapping[str, Any]:
        """Every actuator's last applied value by id (a copy)."""
        return dict(self._values)

    # -- the hello frame -------------------------------------------------------------------------------------

    def listing(self) -> Listing:
        """The catalogue as the ``hello`` frame shows it (docs/protocol.md)."""
        sensors = []
        for info in self._sensors.values():
            state, error = self.state(info.id)
            fields = tuple(
                FieldEntry(f.name, human_name(f.name), f.unit, f.kind, f.device_class, f.series)
                for f in info.fields
            )
            sensors.append(
                SensorEntry(
                    info.id,
                    info.driver,
                    info.model,
                    info.description,
                    info.interval_s,
                    info.simulated,
                    state,
                    error,
                    fields,
                    info.readings_per_poll,
                )
            )
        actuators = tuple(
            ActuatorEntry(
                a.id,
                a.driver,
                a.kind,
                a.min,
                a.max,
                a.safe_value,
                a.unit,
                a.simulated,
                a.safe_on_disconnect,
                a.min_interval_s,
                self._values.get(a.id),
            )
            for a in self._actuators.values()
        )
        return Listing(tuple(sensors), actuators)

    def entries(self) -> dict[str, Any]:
        """The hello frame's ``sensors`` and ``actuators`` lists as plain maps (what the seam hands bridges)."""
        return self.listing().to_wire()
