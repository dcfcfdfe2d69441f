"""The hub: stamps readings (seq, prev, flags), batches them per flush, keeps the resume ring, and hands each
batch to its sinks (the WebSocket fan-out, the MQTT bridge). What is registered lives in the
:class:`~gateway.catalogue.Catalogue`; the hub only reads it for each sensor's flags.

Everything here runs on the event loop; threads reach it through ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from gateway.catalogue import Catalogue
from gateway.metrics import Metrics
from gateway.protocol.model import FLAG_CLOCK_SYNCED, FLAG_SIMULATED, SEQ, ReadingTuple
from gateway.protocol.ring import ReadingRing
from gateway.protocol.seam import BatchSink, EventSink, StatusSink
from gateway.protocol.wire import encode_data

log = logging.getLogger(__name__)
_time_ns = time.time_ns

TIMER_SLACK_S = 0.002
"""How late an event-loop timer fires, at worst in practice: epoll waits in whole milliseconds (asyncio rounds
the wait up) and the process must then be scheduled. Measured on a busy 2-core machine with 10 clients, a
flush timer due in 19 ms ran 0.6 ms late at the median and 2 ms late at p99 (docs/benchmarks.md). The flush
timer is armed this much early (at most a quarter of the window), so that readings do not wait longer than
``flush_interval_ms`` in the hub."""

EncodedSink = Callable[[list[ReadingTuple], bytes], None]
"""A batch sink that also takes the batch's ``data`` frame, already encoded (the WebSocket fan-out)."""

Publisher = Callable[..., ReadingTuple]
"""``publish(values, ts_ns=None, flags=0)`` for one sensor, from :meth:`Hub.publisher`."""


class Hub:
    """Publisher side of the data path (satisfies :class:`gateway.protocol.seam.ReadingSource`).

    Args:
        gateway_id: this gateway's id.
        boot_id: random id of this process run; with ``seq`` it identifies every reading.
        flush_interval_ms: batching window (0: every reading is flushed at once, one frame each).
        batch_size: flush early at this many pending readings.
        ring_size: readings kept for ``resume``.
        metrics: registry for counters.
        catalogue: what is registered (a new, empty one by default); the hub reads each sensor's flags there.
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
        catalogue: Catalogue | None = None,
        clock_synced: bool = False,
    ) -> None:
        self._gateway_id = gateway_id
        self._boot_id = boot_id
        self._ring = ReadingRing(ring_size)
        self.metrics = metrics or Metrics()
        self._catalogue = catalogue or Catalogue(self.metrics)
        self._catalogue.add_info_listener(self._info_changed)
        self._clock_flag = FLAG_CLOCK_SYNCED if clock_synced else 0
        self._next_seq = itertools.count(1).__next__
        self._seq_before_pending = 0
        """Last seq assigned before the readings now pending (see :attr:`seq`)."""
        self.flushed_seq = 0
        """Last seq handed to the sinks (every reading <= it is in the ring or gone)."""
        self._cells: dict[str, list[int]] = {}
        """Per sensor ``[seq of its last reading, its flags]``; the flags (simulated, clock synced) are
        recomputed when the clock state changes. One small list per sensor, shared with its publisher."""
        self._pending: list[ReadingTuple] = []
        """Readings waiting for the next flush (always this same list: publishers hold on to it)."""
        self._flush_handle: asyncio.TimerHandle | None = None
        self._limit = batch_size if flush_interval_ms else 1  # flush_interval_ms = 0: flush every reading
        window = flush_interval_ms / 1000
        self._timer_delay_s = window - min(TIMER_SLACK_S, window / 4)
        self._last_flush_at = float("-inf")
        """Loop time of the last flush by the timer or by size: the flush window runs from there, so a reading on
        an idle link (nothing sent for a window) goes out at once and only a busy link batches."""
        self._check_at = [1]
        """The seq at which a publisher calls :meth:`_on_pending`: the reading that fills the batch while the
        flush timer is armed, the next reading while it is not (it arms the timer). One comparison of the seq
        the publisher already holds covers both. A stale value is always too low, never too high: it costs an
        extra call, never a missed flush."""
        self._sinks: list[BatchSink] = []
        self._encoded_sinks: list[EncodedSink] = []
        self._publishers: dict[str, Publisher] = {}
        self._event_sinks: list[EventSink] = []
        self.rule_catalogue: Callable[[], list[dict[str, Any]]] = list
        """The catalogue's ``rules`` entries (set by the rules runner; none without rules)."""
        m = self.metrics
        m.describe("sensorcast_readings_produced_total", "counter", "Readings produced by sensors")
        m.add_callback(lambda: [("sensorcast_readings_produced_total", (), float(self.seq))])
        m.describe("sensorcast_sensor_errors_total", "counter", "Failed sensor polls", ("sensor",))
        m.describe(
            "sensorcast_implausible_total",
            "counter",
            "Readings refused as implausible (outside the field's min/max)",
            ("sensor",),
        )
        m.describe("sensorcast_sink_errors_total", "counter", "Exceptions raised by batch sinks (bugs)")
        m.describe(
            "sensorcast_readings_unencodable_total",
            "counter",
            "Readings dropped because a value cannot be encoded (a driver bug)",
            ("sensor",),
        )

    @property
    def seq(self) -> int:
        """Last seq assigned (0 before the first reading)."""
        pending = self._pending
        return pending[-1][SEQ] if pending else self._seq_before_pending

    def flush_due(self) -> float | None:
        """Loop time at which the armed flush timer fires, or None when none is armed."""
        handle = self._flush_handle
        return handle.when() if handle is not None else None

    @property
    def ring(self) -> ReadingRing:
        """The readings kept for ``resume`` (read it; only :meth:`flush` writes it)."""
        return self._ring

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

    def add_encoded_sink(self, sink: EncodedSink) -> Callable[[], None]:
        """Register ``sink(batch, frame)``: every future batch with its ``data`` frame already encoded
        (:func:`~gateway.protocol.wire.encode_data`), so a subscriber that takes every reading unchanged
        needs no second encoding. Returns its remover."""
        self._encoded_sinks.append(sink)
        return lambda: self._encoded_sinks.remove(sink) if sink in self._encoded_sinks else None

    def add_status_sink(self, sink: StatusSink) -> Callable[[], None]:
        """Register ``sink`` for sensor state changes (the catalogue's); returns its remover."""
        return self._catalogue.add_status_sink(sink)

    def add_event_sink(self, sink: EventSink) -> Callable[[], None]:
        """Register ``sink`` for rule events (fired, cleared, acknowledged); returns its remover."""
        self._event_sinks.append(sink)
        return lambda: self._event_sinks.remove(sink) if sink in self._event_sinks else None

    def emit_event(self, event: Mapping[str, Any]) -> None:
        """Hand a rule event (``RuleEvent.as_dict()``) to every event sink."""
        for sink in list(self._event_sinks):
            self._call_sink("event", sink, event)

    def catalogue(self) -> dict[str, Any]:
        """The hello frame's ``sensors`` and ``actuators`` lists (the catalogue's), and the configured ``rules``."""
        return {**self._catalogue.entries(), "rules": self.rule_catalogue()}

    def _info_changed(self, sensor_id: str) -> None:
        self._cell(sensor_id)[1] = self._sensor_flags(sensor_id)

    # -- the data path -------------------------------------------------------------------------------------

    def clock_synced(self) -> bool:
        """Whether readings are currently stamped as clock-synchronised."""
        return bool(self._clock_flag)

    def set_clock_synced(self, synced: bool) -> None:
        """Update the clock-sync flag applied to new readings (the app polls the kernel every few seconds)."""
        self._clock_flag = FLAG_CLOCK_SYNCED if synced else 0
        for sensor_id, cell in self._cells.items():
            cell[1] = self._sensor_flags(sensor_id)

    def _sensor_flags(self, sensor_id: str) -> int:
        return self._clock_flag | (FLAG_SIMULATED if self._catalogue.simulated(sensor_id) else 0)

    def last_seq(self, sensor_id: str) -> int:
        """Seq of ``sensor_id``'s latest reading (0 before its first)."""
        cell = self._cells.get(sensor_id)
        return cell[0] if cell is not None else 0

    def break_chain(self, sensor_id: str) -> None:
        """Make the next reading of ``sensor_id`` chain to a seq no client ever gets: readings were lost
        upstream of this hub (the fleet: a gateway's hole), and clients must see it through ``prev`` exactly as
        they see a loss here. The burnt seq is simply never sent (like an unencodable reading's)."""
        self._cell(sensor_id)[0] = self._next_seq()

    def _cell(self, sensor_id: str) -> list[int]:
        cell = self._cells.get(sensor_id)
        if cell is None:
            cell = self._cells[sensor_id] = [0, self._sensor_flags(sensor_id)]
        return cell

    def publish(
        self, sensor_id: str, values: Mapping[str, Any], ts_ns: int | None = None, flags: int = 0
    ) -> ReadingTuple:
        """Stamp and queue one reading of ``sensor_id``; it goes out with the next flush.

        Drivers' polling goes through :meth:`publisher` (the same stamping, without the per-call lookups).
        """
        publish = self._publishers.get(sensor_id) or self.publisher(sensor_id)
        return publish(values, ts_ns, flags)

    def publisher(self, sensor_id: str) -> Publisher:
        """A function ``publish(values, ts_ns=None, flags=0)`` for one sensor: stamps and queues a reading.

        This is the hot path of the gateway (hundreds of thousands of calls a second on a PC): the sensor's
        chain and flags live in a small list the function holds, the reading is a plain tuple, and the flush
        timer is armed once per flush window, not once per batch.
        """
        cell = self._cell(sensor_id)
        pending = self._pending
        append = pending.append
        next_seq = self._next_seq
        check_at = self._check_at
        on_pending = self._on_pending

        def publish(values: Mapping[str, Any], ts_ns: int | None = None, flags: int = 0) -> ReadingTuple:
            seq = next_seq()
            reading = (seq, cell[0], ts_ns or _time_ns(), sensor_id, values, flags | cell[1])
            cell[0] = seq
            append(reading)
            if seq >= check_at[0]:
                on_pending()
            return reading

        self._publishers[sensor_id] = publish
        return publish

    def _on_pending(self) -> None:
        """A full batch is flushed; the first reading with no timer armed arms it. Then the next check is set."""
        pending = self._pending
        limit = self._limit
        if len(pending) >= limit:
            self._last_flush_at = asyncio.get_running_loop().time()
            self.flush()
        elif self._flush_handle is None:
            # Due one window after the last flush: at once (this loop iteration's readings still join it) when
            # the link was idle for a window, else batched; never later than a window after this reading.
            loop = asyncio.get_running_loop()
            due = max(loop.time(), self._last_flush_at + self._timer_delay_s)
            self._flush_handle = loop.call_at(due, self._on_timer)
        if self._flush_handle is None and limit > 1:
            self._check_at[0] = self.seq + 1  # no timer (flushed by hand meanwhile): the next reading arms it
        else:
            self._check_at[0] = self.seq - len(pending) + limit  # the reading that fills the batch

    def _on_timer(self) -> None:
        self._flush_handle = None
        self._last_flush_at = asyncio.get_running_loop().time()
        self._check_at[0] = self.seq + 1  # pending is about to be empty: the next reading arms the timer
        self.flush()

    def flush(self) -> None:
        """Hand the pending batch to the ring and every sink (called by the timer, or early when full).

        The timer is armed by the first pending reading and due one flush interval after the last flush (at once
        when that is past: an idle link sends a reading without waiting), less the loop's timer slack
        (:data:`TIMER_SLACK_S`). A flush for a full batch leaves it armed: when it fires it flushes whatever
        came since, so no reading waits longer than the interval.
        """
        pending = self._pending
        if not pending:
            return
        batch = pending[:]
        pending.clear()
        self._seq_before_pending = batch[-1][SEQ]
        try:
            frame = encode_data(batch)
        except (TypeError, ValueError, OverflowError):
            batch, frame = self._encodable(batch)
            if not batch:
                return
        self._ring.extend(batch, frame)
        self.flushed_seq = batch[-1][SEQ]
        self._deliver(batch, frame)

    def _encodable(self, batch: list[ReadingTuple]) -> tuple[list[ReadingTuple], bytes]:
        """Drop the readings msgpack cannot encode (a driver returned an odd type), logging each; keep the rest.

        Their seqs are then missing for good: clients see the hole through ``prev`` like any other loss.
        """
        kept = []
        for r in batch:
            try:
                encode_data([r])
            except (TypeError, ValueError, OverflowError) as exc:
                log.error("sensor %s: reading %d dropped, a value cannot be encoded: %s", r[3], r[0], exc)
                self.metrics.inc("sensorcast_readings_unencodable_total", sensor=r[3])
            else:
                kept.append(r)
        return kept, encode_data(kept) if kept else b""

    def _deliver(self, batch: list[ReadingTuple], frame: bytes) -> None:
        for esink in list(self._encoded_sinks):
            self._call_sink("batch", esink, batch, frame)
        for sink in list(self._sinks):
            self._call_sink("batch", sink, batch)

    def _call_sink(self, kind: str, sink: Callable[..., None], *args: Any) -> None:
        """Call one sink; an exception in it (a bug) is logged and counted and does not stop the others."""
        try:
            sink(*args)
        except Exception:
            log.exception("%s sink failed", kind)
            self.metrics.inc("sensorcast_sink_errors_total")
