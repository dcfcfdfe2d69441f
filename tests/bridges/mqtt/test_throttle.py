"""bridges/mqtt/throttle.py: at most one publish per sensor and period, the rest aggregated, nothing lost."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridges.mqtt.throttle import Outgoing, PublishThrottle
from gateway.protocol.model import FLAG_CLOCK_SYNCED, FLAG_COALESCED, ReadingTuple


def r(seq: int, prev: int, ts_ns: int, sensor: str = "imu", flags: int = 0, **values: Any) -> ReadingTuple:
    return (seq, prev, ts_ns, sensor, values, flags)


def test_period_zero_publishes_every_reading_unchanged() -> None:
    """A sensor with period 0 (the default here) goes out reading by reading, as it came."""
    t = PublishThrottle(0.0, {"imu": 1.0})
    readings = [r(1, 0, 10, "door", open=True), r(2, 1, 20, "door", open=False)]
    assert [o for x in readings for o in t.offer(x, 0.0)] == [Outgoing(x) for x in readings]
    assert (t.period_s("door"), t.period_s("imu"), t.next_due_s()) == (0.0, 1.0, None)


def test_a_slow_sensor_is_published_reading_by_reading() -> None:
    """Readings further apart than the period are published unchanged, immediately."""
    t = PublishThrottle(1.0)
    readings = [r(i, i - 1, i * 10, x=i) for i in range(1, 4)]
    assert [t.offer(x, 1.5 * i) for i, x in enumerate(readings)] == [[Outgoing(x)] for x in readings]


def test_a_fast_sensor_publishes_once_per_period_with_min_max_mean_last() -> None:
    """The first reading goes out at once; the next ones are one aggregate when the period ends: means for
    numbers, the last value otherwise, the last seq/timestamp/flags plus coalesced, prev chained."""
    t = PublishThrottle(1.0)
    assert t.offer(r(1, 0, 100, x=5, mode="a"), 0.0) == [Outgoing(r(1, 0, 100, x=5, mode="a"))]
    assert t.offer(r(2, 1, 200, x=1, mode="b"), 0.1) == []
    assert t.offer(r(3, 2, 300, flags=FLAG_CLOCK_SYNCED, x=6, mode="c", ok=True), 0.2) == []
    assert (t.next_due_s(), t.due(0.99)) == (1.0, [])
    [out] = t.due(1.0)
    assert out.reading == (
        3,
        1,
        300,
        "imu",
        {"x": 3.5, "mode": "c", "ok": True},
        FLAG_CLOCK_SYNCED | FLAG_COALESCED,
    )
    assert out.agg == [
        "imu",
        200,
        300,
        2,
        {"x": [1, 6, 3.5, 6], "mode": [None, None, None, "c"], "ok": [None, None, None, True]},
    ]
    assert (t.next_due_s(), t.coalesced_total) == (None, 1)
    # one more reading inside the new period: alone in its bucket, so it goes out as it is (prev chained)
    assert t.offer(r(4, 3, 400, x=0), 1.5) == []
    assert t.due(2.0) == [Outgoing(r(4, 3, 400, x=0))]


def test_a_late_timer_is_caught_up_by_the_next_reading() -> None:
    """A reading arriving after its bucket's period ended publishes the bucket with it."""
    t = PublishThrottle(1.0)
    t.offer(r(1, 0, 1, x=1), 0.0)
    assert t.offer(r(2, 1, 2, x=2), 0.5) == []
    [out] = t.offer(r(3, 2, 3, x=4), 1.2)
    assert (out.reading[0], out.reading[1], out.reading[4], out.agg is not None) == (3, 1, {"x": 3.0}, True)


def test_flush_publishes_every_pending_bucket_at_a_stop() -> None:
    """flush() empties every bucket at once, whatever their periods."""
    t = PublishThrottle(10.0)
    for sensor in ("a", "b"):
        t.offer(r(1, 0, 1, sensor, x=1), 0.0)
        t.offer(r(2, 1, 2, sensor, x=3), 0.1)
    assert [(o.reading[3], o.reading[4]) for o in t.flush()] == [("a", {"x": 3}), ("b", {"x": 3})]
    assert (t.flush(), t.next_due_s()) == ([], None)


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[str, float]]:
    gaps = draw(st.lists(st.floats(0.0, 0.7), min_size=1, max_size=120))
    sensors = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=len(gaps), max_size=len(gaps)))
    now, out = 0.0, []
    for gap, sensor in zip(gaps, sensors, strict=True):
        now += gap
        out.append((sensor, now))
    return out


@given(streams(), st.sampled_from([0.0, 0.25, 1.0]), st.lists(st.booleans(), min_size=120, max_size=120))
def test_nothing_is_lost_the_chain_holds_and_the_rate_is_kept(
    stream: list[tuple[str, float]], period: float, ticks: list[bool]
) -> None:
    """Over any stream: every reading is published or counted in exactly one aggregate, each sensor's published
    prev/seq form an unbroken chain of increasing seqs, and two publishes of a sensor (before the final flush)
    are at least one period apart."""
    t = PublishThrottle(period, {"c": 0.0})
    last_seq: dict[str, int] = {}
    published: list[tuple[float, Outgoing]] = []
    for i, (sensor, now) in enumerate(stream, start=1):
        reading = r(i, last_seq.get(sensor, 0), i, sensor, v=float(i))
        last_seq[sensor] = i
        published += [(now, o) for o in t.offer(reading, now)]
        if ticks[i - 1]:
            published += [(now, o) for o in t.due(now)]
    end = stream[-1][1]
    published += [(end + 100, o) for o in t.flush()]
    counted = sum(o.agg[3] if o.agg else 1 for _, o in published)
    assert counted == len(stream)
    assert t.coalesced_total == len(stream) - len(published)
    by_sensor: dict[str, list[tuple[float, Outgoing]]] = {}
    for when, o in published:
        by_sensor.setdefault(o.reading[3], []).append((when, o))
    for sensor, outs in by_sensor.items():
        seqs = [o.reading[0] for _, o in outs]
        prevs = [o.reading[1] for _, o in outs]
        assert prevs == [0, *seqs[:-1]]
        assert seqs == sorted(seqs) and seqs[-1] == last_seq[sensor]
        gap = t.period_s(sensor)
        times = [when for when, _ in outs if when <= end]
        assert all(b - a >= gap - 1e-9 for a, b in itertools.pairwise(times))
