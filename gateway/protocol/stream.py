"""Delivery state of one subscription set over time: applies ``instant``/``ideal``/``fixed`` and aggregation.

Pure: the caller passes ``now_ns`` (a monotonic clock) with every batch and every tick. One :class:`Stream`
serves every client that shares the same subscription set, so its output is encoded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.protocol.aggregate import Bucket
from gateway.protocol.model import FLAG_COALESCED, FLAG_RESENT, SENSOR, ReadingTuple, with_flags
from gateway.protocol.subscription import Route, SubscriptionSet


@dataclass(slots=True)
class Output:
    """What a batch or a tick produced: readings for a ``data`` frame and entries per ``agg`` period."""

    readings: list[ReadingTuple] = field(default_factory=list)
    agg: dict[int, list[list[Any]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.readings or self.agg)


class _SensorState:
    __slots__ = ("bucket", "due_ns", "last", "last_sent_ns", "pending", "pending_n", "sent_last")

    def __init__(self) -> None:
        self.last: ReadingTuple | None = None  # latest projected reading seen
        self.sent_last = False  # whether `last` was already delivered
        self.pending: ReadingTuple | None = None  # held back by minPeriod
        self.pending_n = 0  # readings held back since the last delivery
        self.last_sent_ns: int | None = None
        self.due_ns: int | None = None  # next period boundary (fixed / ideal / agg)
        self.bucket = Bucket()


class Stream:
    """Applies a :class:`SubscriptionSet`'s policies to the reading flow."""

    def __init__(self, subs: SubscriptionSet) -> None:
        self.subs = subs
        self._state: dict[str, _SensorState] = {}
        self.passthrough_only = all(
            e.policy == "instant" and e.min_period_ms == 0 and not e.agg for e in subs.entries
        )
        """True when no entry needs timing: ticks can be skipped."""
        first = subs.entries[0] if subs.entries else None
        self.everything = (
            first is not None
            and first.path in ("*", "*.*")
            and first.policy == "instant"
            and first.min_period_ms == 0
            and not first.agg
        )
        """True when the first entry passes every field of every sensor at once: batches go out untouched."""

    def _st(self, sensor: str) -> _SensorState:
        st = self._state.get(sensor)
        if st is None:
            st = self._state[sensor] = _SensorState()
        return st

    def on_readings(self, readings: Sequence[ReadingTuple], now_ns: int) -> Output:
        """Feed a batch (in seq order); return what is due immediately."""
        if self.everything:
            return Output(list(readings))
        out = Output()
        for r in readings:
            route = self.subs.route(r[SENSOR])
            if route is None:
                continue
            p = route.project(r)
            if route.passthrough:
                out.readings.append(p)
            else:
                self._timed(route, p, now_ns, out)
        return out

    def _timed(self, route: Route, r: ReadingTuple, now_ns: int, out: Output) -> None:
        st = self._st(r[SENSOR])
        if route.agg:
            if st.due_ns is None:
                st.due_ns = now_ns + (route.period_ns or 0)
            st.bucket.add(r)
            return
        st.last, st.sent_last = r, False
        if route.policy == "fixed":
            st.pending_n += 1
            if st.due_ns is None:
                st.due_ns = now_ns + (route.period_ns or 0)
            return
        # instant / ideal, with minPeriod
        if st.last_sent_ns is None or now_ns - st.last_sent_ns >= route.min_period_ns:
            # Readings still held back by minPeriod are superseded by this one: the client misses them.
            self._send(st, r, FLAG_COALESCED if st.pending_n else 0, now_ns, out)
        else:
            st.pending = r
            st.pending_n += 1

    @staticmethod
    def _send(st: _SensorState, r: ReadingTuple, flags: int, now_ns: int, out: Output) -> None:
        out.readings.append(with_flags(r, flags) if flags else r)
        st.last_sent_ns = now_ns
        st.sent_last = True
        st.pending = None
        st.pending_n = 0

    def on_tick(self, now_ns: int) -> Output:
        """Emit whatever the policies make due at ``now_ns`` (call at least every ~10-20 ms)."""
        out = Output()
        if self.passthrough_only:
            return out
        for sensor, st in self._state.items():
            route = self.subs.route(sensor)
            if route is None:  # pragma: no cover - a state only exists for routed sensors
                continue
            period = route.period_ns or 0
            if route.agg:
                if st.due_ns is not None and now_ns >= st.due_ns:
                    if st.bucket.n:
                        out.agg.setdefault(period // 1_000_000, []).append(st.bucket.entry(sensor, route.agg))
                        st.bucket = Bucket()
                    st.due_ns = _next_due(st.due_ns, period, now_ns)
            elif route.policy == "fixed":
                if st.due_ns is not None and now_ns >= st.due_ns and st.last is not None:
                    flags = FLAG_RESENT if st.sent_last else (FLAG_COALESCED if st.pending_n > 1 else 0)
                    self._send(st, st.last, flags, now_ns, out)
                    st.due_ns = _next_due(st.due_ns, period, now_ns)
            elif st.pending is not None:
                if st.last_sent_ns is None or now_ns - st.last_sent_ns >= route.min_period_ns:
                    self._send(st, st.pending, FLAG_COALESCED if st.pending_n > 1 else 0, now_ns, out)
            elif (
                route.policy == "ideal"
                and st.last is not None
                and st.last_sent_ns is not None
                and now_ns - st.last_sent_ns >= period
            ):
                self._send(st, st.last, FLAG_RESENT, now_ns, out)
        return out


def _next_due(due_ns: int, period_ns: int, now_ns: int) -> int:
    """Advance a period boundary past ``now_ns``, skipping boundaries missed while the loop was busy."""
    if period_ns <= 0:
        return now_ns
    missed = (now_ns - due_ns) // period_ns + 1
    return due_ns + missed * period_ns
