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


class Hub:
    """Publisher side of the data path (satisfies :class:`bridges.seam.ReadingSource`).

    Args:
        gateway_id: this gateway's id.
        boot_id: random id of this process run; with ``seq`` it identifies every reading.
        flush_interval_ms: batching window (0: flush on the next loop iteration).
        batch_size: flush early at this many pending readings.
        ring_size: readings kept for ``resume``.
        metrics: registry for counters.
        clock_synced: returns whether the wall clock is synchronised (cached by the caller; called per reading).
    """

    def __init__(self, gateway_id: str, boot_id: str, *, flush_interval_ms: int = 20, batch_size: int = 500,
                 ring_size: int = 4096, metrics: Metrics | None = None,
                 clock_synced: Callable[[], bool] = lambda: False) -> None:
        self._gateway_id = gateway_id
        self._boot_id = boot_id
        self.flush_interval_s = flush_interval_ms / 1000
        self.batch_size = batch_size
        self.ring = ReadingRing(ring_size)
        self.metrics = metrics or Metrics()
        self.clock_synced = clock_synced
        self.seq = 0
        """Last seq assigned."""
        self.flushed_seq = 0
        """Last seq handed to the sinks (every reading <= it is in the ring or gone)."""
        self._prev: dict[str, int] = {}
        self._pending: list[Reading] = []
        self._flush_handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._sinks: list[BatchSink] = []
        self._status_sinks: list[StatusSink] = []
        self.sensors: dict[str, SensorInfo] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.actuators: dict[str, ActuatorInfo] = {}
        self.actuator_values: dict[str, Any] = {}
        m = self.metrics
        m.describe("sensorcast_readings_produced_total", "counter", "Readings produced by sensors")
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
            sensors.append({
                "id": info.id, "driver": info.driver, "model": info.model, "description": info.description,
                "interval_s": info.interval_s, "rate_hz": (1 / info.interval_s) if info.interval_s else None,
                "sim": info.simulated, "state": st.get("state", "starting"), "error": st.get("error"),
                "fields": [{"name": f.name, "unit": f.unit, "kind": f.kind, "device_class": f.device_class}
                           for f in info.fields],
            })
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

    def publish(self, sensor_id: str, values: Mapping[str, Any], ts_ns: int | None = None, flags: int = 0) -> Reading:
        """Stamp and queue one reading; it goes out with the next flush."""
        self.seq += 1
        seq = self.seq
        info = self.sensors.get(sensor_id)
        if info is not None and info.simulated:
            flags |= FLAG_SIMULATED
        if self.clock_synced():
            flags |= FLAG_CLOCK_SYNCED
        reading = Reading(seq, self._prev.get(sensor_id, 0), time.time_ns() if ts_ns is None else ts_ns,
                          sensor_id, values, flags)
        self._prev[sensor_id] = seq
        self._pending.append(reading)
        self.metrics.inc("sensorcast_readings_produced_total")
        if len(self._pending) >= self.batch_size:
            self.flush()
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            if self.flush_interval_s > 0:
                self._flush_handle = loop.call_later(self.flush_interval_s, self.flush)
            else:
                self._flush_handle = loop.call_soon(self.flush)
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
