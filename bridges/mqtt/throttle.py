"""Per-sensor MQTT publish rate limit with aggregation (pure: ``now`` is passed in).

A 100 Hz IMU would otherwise publish 100 messages/s to Home Assistant, whose recorder writes every state change
to the SD card. Each sensor publishes at most once per period (``1 / mqtt.max_rate_hz``, or its own
``mqtt.publish_period_s``); readings in between are folded into a :class:`gateway.protocol.aggregate.Bucket`
(min/max/mean/last per field, as the WebSocket aggregation does) and go out as one reading when the period
ends. That reading carries each numeric field's mean and any other field's last value, the last reading's
seq, timestamp and flags plus ``coalesced`` (older readings were folded into it), and a ``prev`` that chains to
the previous *published* reading, so a consumer sees no gap. The JSON payload also carries the whole bucket
(``agg``). A sensor slower than its period is published reading by reading, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.protocol.aggregate import Bucket
from gateway.protocol.model import FLAG_COALESCED, FLAGS, PREV, SENSOR, SEQ, TS_NS, VALUES, ReadingTuple

AGGREGATES = ("min", "max", "mean", "last")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One reading to publish and, when it stands for several, their aggregate."""

    reading: ReadingTuple
    agg: list[Any] | None = None
    """The bucket as ``[sensor, t0_ns, t1_ns, n, {field: [min, max, mean, last]}]`` (None: a single reading)."""


@dataclass(slots=True)
class _State:
    next_s: float = float("-inf")
    """When this sensor may publish again."""
    prev_seq: int | None = None
    """Seq of its last published reading (the ``prev`` of the next one)."""
    bucket: Bucket = field(default_factory=Bucket)
    last: ReadingTuple | None = None


class PublishThrottle:
    """Limits each sensor to one publish per period, aggregating what comes in between.

    Args:
        default_period_s: period of every sensor not in ``periods``; 0 publishes every reading.
        periods: per-sensor periods (seconds; 0: every reading).
    """

    def __init__(self, default_period_s: float, periods: Mapping[str, float] | None = None) -> None:
        self.default_period_s = default_period_s
        self.periods = dict(periods or {})
        self._states: dict[str, _State] = {}
        self.coalesced_total = 0
        """Readings folded into another one instead of being published (counted for /metrics)."""

    def period_s(self, sensor: str) -> float:
        """The publish period of ``sensor``."""
        return self.periods.get(sensor, self.default_period_s)

    def offer(self, reading: ReadingTuple, now_s: float) -> list[Outgoing]:
        """Take one reading; return what to publish now (the reading itself, an aggregate, or nothing)."""
        sensor = reading[SENSOR]
        period = self.period_s(sensor)
        if period <= 0:
            return [Outgoing(reading)]
        st = self._states.get(sensor)
        if st is None:
            st = self._states[sensor] = _State()
        if st.last is None and now_s >= st.next_s:
            st.next_s = now_s + period
            return [Outgoing(self._chain(st, reading))]
        st.bucket.add(reading)
        if st.last is not None:
            self.coalesced_total += 1
        st.last = reading
        return self.due(now_s) if now_s >= st.next_s else []

    def due(self, now_s: float) -> list[Outgoing]:
        """Publish every bucket whose period has ended (call it at :meth:`next_due_s`)."""
        out: list[Outgoing] = []
        for sensor, st in self._states.items():
            if st.last is not None and now_s >= st.next_s:
                st.next_s = now_s + self.period_s(sensor)
                out.append(self._emit(sensor, st))
        return out

    def flush(self) -> list[Outgoing]:
        """Publish every pending bucket now (a clean stop: nothing waits for a period that will not end)."""
        return [self._emit(sensor, st) for sensor, st in self._states.items() if st.last is not None]

    def next_due_s(self) -> float | None:
        """When the earliest pending bucket is due (None: nothing pending)."""
        pending = [st.next_s for st in self._states.values() if st.last is not None]
        return min(pending) if pending else None

    def _chain(self, st: _State, reading: ReadingTuple) -> ReadingTuple:
        prev = reading[PREV] if st.prev_seq is None else st.prev_seq
        st.prev_seq = reading[SEQ]
        if prev == reading[PREV]:
            return reading
        return (reading[SEQ], prev, reading[TS_NS], reading[SENSOR], reading[VALUES], reading[FLAGS])

    def _emit(self, sensor: str, st: _State) -> Outgoing:
        last, bucket = st.last, st.bucket
        assert last is not None
        st.last, st.bucket = None, Bucket()
        if bucket.n == 1:
            return Outgoing(self._chain(st, last))
        entry = bucket.entry(sensor, AGGREGATES)
        values = {name: (agg[2] if agg[2] is not None else agg[3]) for name, agg in entry[4].items()}
        reading = self._chain(st, last)
        merged: ReadingTuple = (
            reading[SEQ],
            reading[PREV],
            last[TS_NS],
            sensor,
            values,
            last[FLAGS] | FLAG_COALESCED,
        )
        return Outgoing(merged, entry)
