"""The hub: stamps readings (seq, prev, flags), batches them per flush, keeps the resume ring, and hands each
batch to its sinks (the WebSocket fan-out, the MQTT bridge). It also holds the catalogue and sensor states.

Everything here runs on the event loop; threads reach it through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from bridges.seam import BatchSink, StatusSink
from gateway.metrics import Metrics
from gateway.protocol.model import FLAG_CLOCK_SYNCED, FLAG_SIMULATED, Reading
from gateway.protocol.ring import ReadingRing
from sensors.base import ActuatorInfo, SensorInfo

log = logging.getLogger(__name__)
_tuple_new = tuple.__new__
_time_ns = time.time_ns


class Hub:
    """Publisher side of the data path (satisfies :class:`bridges.seam.ReadingSource`).

    Args:
        gateway_id: this gateway's id.
        boot_id: random id of this process run; with ``seq`` it identifies every reading.
        flush_interval_ms: batching window (0: every reading is flushed at once, one frame each).
        batch_size: flush early at this many pending readings.
        ring_size: readings kept for ``resume``.
        metrics: registry for counters.
        clock_synced: whether the wall clock is synchronised now (update with :meth:`set_clock_synced`).
    """

    def __init__(
        self,
        gateway_id: str,
        boot_id: str,
        *,
        flush_interval_ms: int = 20,
        batch_size: int = 500,
        ring_size: int = 4096,
        metrics: Metrics | None = None,
        clock_synced: bool = False,
    ) -> None:
        self._gateway_id = gateway_id
        self._boot_id = boot_id
        self.flush_interval_s = flush_interval_ms / 1000
        self.batch_size = batch_size
        self.ring = ReadingRing(ring_size)
        self.metrics = metrics or Metrics()
        self._clock_flag = FLAG_CLOCK_SYNCED if clock_synced else 0
        self.seq = 0
        """Last seq assigned."""
        self.flushed_seq = 0
        """Last seq handed to the sinks (every reading <= it is in the ring or gone)."""
        self._prev: dict[str, int] = {}
        self._flags: dict[str, int] = {}
        """Per-sensor flags (simulated, clock synced), recomputed when the clock state changes."""
        self._pending: list[Reading] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._sinks: list[BatchSink] = []
        self._status_sinks: list[StatusSink] = []
        self.sensors: dict[str, SensorInfo] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.actuators: dict[str, ActuatorInfo] = {}
        self.actuator_values: dict[str, Any] = {}
        m = self.metrics
        m.describe("sensorcast_readings_produced_total", "counter", "Readings produced by sensors")
        m.add_callback(lambda: [("sensorcast_readings_produced_total", (), float(self.seq))])
        m.describe("sensorcast_sensor_errors_total", "counter", "Failed sensor polls")
        m.describe("sensorcast_sensor_up", "gauge", "1 when the sensor's state is ok")
        m.describe("sensorcast_sink_errors_total", "counter", "Exceptions raised by batch sinks (bugs)")

    # -- ReadingSource -------------------------------------------------------------------------------------

    @property
    def gateway_id(self) -> str:
        """This gateway's id."""
        return self._gateway_id

    @property
    def boot_id(self) -> str:
        """This run's boot id."""
        return self._boot_id

    def add_sink(self, sink: BatchSink) -> Callable[[], None]:
        """Register ``sink`` for every future batch; returns its remover."""
        self._sinks.append(sink)
        return lambda: self._sinks.remove(sink) if sink in self._sinks else None

    def add_status_sink(self, sink: StatusSink) -> Callable[[], None]:
        """Register ``sink`` for sensor state changes; returns its remover."""
        self._status_sinks.append(sink)
        return lambda: self._status_sinks.remove(sink) if sink in self._status_sinks else None

    def catalogue(self) -> dict[str, Any]:
        """The hello frame's ``sensors`` and ``actuators`` lists."""
        sensors = []
        for info in self.sensors.values():
            st = self.states.get(info.id, {})
            sensors.append(
                {
                    "id": info.id,
                    "driver": info.driver,
                    "model": info.model,
                    "description": info.description,
                    "interval_s": info.interval_s,
                    "rate_hz": (1 / info.interval_s) if info.interval_s else None,
                    "sim": info.simulated,
                    "state": st.get("state", "starting"),
                    "error": st.get("error"),
                    "fields": [
                        {"name": f.name, "unit": f.unit, "kind": f.kind, "device_class": f.device_class}
                        for f in info.fields
                    ],
                }
            )
        actuators = []
        for a in self.actuators.values():
            d = asdict(a)
            d["sim"] = d.pop("simulated")
            d["value"] = self.actuator_values.get(a.id)
            actuators.append(d)
        return {"sensors": sensors, "actuators": actuators}

    # -- registration and states ----------------------------------------------------------------------------

    def register_sensor(self, info: SensorInfo) -> None:
        """Add ``info`` to the catalogue (state ``starting``)."""
        self.sensors[info.id] = info
        self._flags[info.id] = self._sensor_flags(info.id)
        self.states[info.id] = {"state": "starting", "error": None, "since": time.time_ns()}

    def register_actuator(self, info: ActuatorInfo) -> None:
        """Add an actuator to the catalogue; its state is published as readings of sensor ``info.id``."""
        self.actuators[info.id] = info
        self.actuator_values[info.id] = None

    def set_state(self, sensor_id: str, state: str, error: str | None = None) -> None:
        """Record a sensor state change and tell the status sinks."""
        self.states[sensor_id] = {"state": state, "error": error, "since": time.time_ns()}
        self.metrics.set("sensorcast_sensor_up", 1.0 if state == "ok" else 0.0, sensor=sensor_id)
        for sink in list(self._status_sinks):
            try:
                sink(sensor_id, state, error)
            except Exception:
                log.exception("status sink failed")
                self.metrics.inc("sensorcast_sink_errors_total")

    # -- the data path -------------------------------------------------------------------------------------

    def clock_synced(self) -> bool:
        """Whether readings are currently stamped as clock-synchronised."""
        return bool(self._clock_flag)

    def set_clock_synced(self, synced: bool) -> None:
        """Update the clock-sync flag applied to new readings (the app polls the kernel every few seconds)."""
        self._clock_flag = FLAG_CLOCK_SYNCED if synced else 0
        self._flags = {sid: self._sensor_flags(sid) for sid in self.sensors}

    def _sensor_flags(self, sensor_id: str) -> int:
        info = self.sensors.get(sensor_id)
        return self._clock_flag | (FLAG_SIMULATED if info is not None and info.simulated else 0)

    def publish(
        self, sensor_id: str, values: Mapping[str, Any], ts_ns: int | None = None, flags: int = 0
    ) -> Reading:
        """Stamp and queue one reading; it goes out with the next flush.

        The hot path of the gateway (a million calls a second on a PC): one dict lookup per map, no
        NamedTuple ``__new__`` (``tuple.__new__`` directly), flags precomputed per sensor.
        """
        seq = self.seq = self.seq + 1
        last = self._prev
        reading: Reading = _tuple_new(
            Reading,
            (
                seq,
                last.get(sensor_id, 0),
                ts_ns or _time_ns(),
                sensor_id,
                values,
                flags | self._flags.get(sensor_id, self._clock_flag),
            ),
        )
        last[sensor_id] = seq
        pending = self._pending
        pending.append(reading)
        if len(pending) >= self.batch_size or not self.flush_interval_s:
            self.flush()  # full batch, or flush_interval_ms = 0: every reading goes out at once
        elif self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self.flush_interval_s, self.flush)
        return reading

    def flush(self) -> None:
        """Hand the pending batch to the ring and every sink (called by the timer, or early when full)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self.ring.extend(batch)
        self.flushed_seq = batch[-1].seq
        self._deliver(batch)

    def _deliver(self, batch: Sequence[Reading]) -> None:
        for sink in list(self._sinks):
            try:
                sink(batch)
            except Exception:  # one broken sink must not stop the others
                log.exception("batch sink failed")
                self.metrics.inc("sensorcast_sink_errors_total")
