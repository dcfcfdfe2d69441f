"""Hypothesis properties of the wire format, delivery, the prev chain, flags and resume."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.control import Policy, SubscribeEntry
from gateway.protocol.model import FLAG_COALESCED, FLAG_RESENT, SEQ, Reading, ReadingTuple
from gateway.protocol.ring import ReadingRing
from gateway.protocol.stream import Stream
from gateway.protocol.subscription import SubscriptionSet
from gateway.protocol.wire import (
    decode_data_readings,
    decode_frame,
    encode_data,
    readings_of,
)

MS = 1_000_000
SETTINGS = settings(max_examples=150, deadline=None)

Value = float | int | bool | str | None
Event = tuple[str, dict[str, Value]]

# Sensor ids follow the config rule (lowercase, digits, _ and -); a tiny alphabet makes wildcard hits likely.
SENSOR_IDS = st.text(alphabet="ab1_-", min_size=1, max_size=4)
FIELD_NAMES = st.text(alphabet="xy", min_size=1, max_size=2)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)


def stamp(events: Iterable[Event], ts0_ns: int = 1_700_000_000_000_000_000) -> list[Reading]:
    """Stamp events like the hub: gateway-wide seq from 1, prev = that sensor's previous seq (0 first)."""
    last: dict[str, int] = {}
    out = []
    for seq, (sensor, values) in enumerate(events, start=1):
        out.append(Reading(seq, last.get(sensor, 0), ts0_ns + seq, sensor, values))
        last[sensor] = seq
    return out


def as_reading(r: ReadingTuple) -> Reading:
    """A plain reading tuple from the data path as a :class:`Reading`, to read its fields by name."""
    return Reading(*r)


def canonical(readings: Iterable[Reading]) -> list[tuple[Any, ...]]:
    """Readings with every value as (type name, repr): tells 1 from True and 1.0, and NaN equals NaN."""
    return [
        (*r[:4], [(k, type(v).__name__, repr(v)) for k, v in r.values.items()], r.flags) for r in readings
    ]


def wildcard(pattern: str) -> re.Pattern[str]:
    """The documented path semantics, written independently of fnmatch: ``*`` any run, ``?`` one char."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL
    )


def split(batches: Sequence[Reading], cuts: Iterable[int]) -> list[list[Reading]]:
    """Split ``batches`` at the (sorted, deduplicated) cut positions."""
    points = sorted({c % (len(batches) + 1) for c in cuts} | {0, len(batches)})
    return [list(batches[a:b]) for a, b in itertools.pairwise(points)]


def chain_breaks(delivered: Iterable[Reading]) -> list[tuple[Reading, int]]:
    """(reading, last seq seen of its sensor) for every new reading whose prev does not continue its chain."""
    last: dict[str, int] = {}
    breaks = []
    for r in delivered:
        if r.flags & FLAG_RESENT:
            assert r.seq == last[r.sensor], "a re-send repeats the last delivered reading"
            continue
        if r.prev != last.get(r.sensor, 0):
            breaks.append((r, last.get(r.sensor, 0)))
        last[r.sensor] = r.seq
    return breaks


events_st = st.lists(st.tuples(SENSOR_IDS, st.dictionaries(FIELD_NAMES, VALUES, max_size=4)), max_size=40)


@SETTINGS
@given(
    readings=st.lists(
        st.builds(
            Reading,
            seq=st.integers(min_value=0, max_value=2**64 - 1),
            prev=st.integers(min_value=0, max_value=2**64 - 1),
            ts_ns=st.integers(min_value=-(2**63), max_value=2**63 - 1),
            sensor=st.text(max_size=10),
            values=st.dictionaries(st.text(max_size=6), VALUES, max_size=5),
            flags=st.integers(min_value=0, max_value=15),
        ),
        max_size=20,
    ),
    backfill=st.booleans(),
)
def test_data_frame_round_trips_any_readings(readings: list[Reading], backfill: bool) -> None:
    """encode_data -> decode_frame -> readings_of returns the readings with identical value types and bits."""
    frame = decode_frame(encode_data(readings, backfill=backfill))
    assert frame.get("backfill", False) is backfill
    assert canonical(readings_of([frame])) == canonical(readings)
    # The resume ring's path: the frame as kept, decoded back into plain tuples.
    kept = decode_data_readings(encode_data(readings, backfill=backfill))
    assert canonical(map(as_reading, kept)) == canonical(readings)


@st.composite
def pattern_paths(draw: st.DrawFn, known: list[str]) -> str:
    """A subscription path: a sensor pattern (often derived from a real id) and maybe a field pattern."""
    use_known: bool = bool(known) and draw(st.integers(min_value=0, max_value=3)) > 0
    base: str = draw(st.sampled_from(known)) if use_known else draw(SENSOR_IDS)
    chars = [draw(st.sampled_from([c, c, "?", "*"])) for c in base]
    sensor = draw(st.sampled_from(["".join(chars), base, "*", base[:1] + "*"]))
    # Mostly with a field pattern: a bare sensor keeps every field and would hide the union of the others.
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        return sensor
    return f"{sensor}.{draw(st.text(alphabet='xy*?', max_size=2))}"


@SETTINGS
@given(data=st.data(), events=events_st, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_every_reading_reaches_a_matching_subscriber_exactly_once_in_order(
    data: st.DataObject, events: list[Event], cuts: list[int]
) -> None:
    """instant subscriptions deliver exactly the matching readings, once, in order, with the field union."""
    readings = stamp(events)
    known = sorted({s for s, _ in events})
    paths = data.draw(st.lists(pattern_paths(known), min_size=0, max_size=5), label="paths")
    periods = data.draw(st.lists(st.sampled_from([None, 100]), min_size=len(paths), max_size=len(paths)))
    entries = [SubscribeEntry(p, "instant", period) for p, period in zip(paths, periods, strict=True)]
    stream = Stream(SubscriptionSet(entries))
    assert stream.passthrough_only

    frames = []
    for i, batch in enumerate(split(readings, cuts)):
        out = stream.on_readings(batch, now_ns=i * 7 * MS)
        assert out.agg == {}
        assert not stream.on_tick(now_ns=i * 7 * MS + 3 * MS)
        frames.append(decode_frame(encode_data(out.readings)))

    expected = []
    for r in readings:
        matching = [p.partition(".") for p in paths if wildcard(p.partition(".")[0]).fullmatch(r.sensor)]
        if not matching:
            continue
        field_pats = [wildcard(field if dot else "*") for _, dot, field in matching]
        kept = {k: v for k, v in r.values.items() if any(p.fullmatch(k) for p in field_pats)}
        expected.append(r._replace(values=kept))
    got = readings_of(frames)
    assert canonical(got) == canonical(expected)
    assert len({r.seq for r in got}) == len(got)


@SETTINGS
@given(
    events=events_st,
    followed=st.sets(SENSOR_IDS, max_size=4),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
)
def test_prev_chain_of_every_followed_sensor_is_intact(
    events: list[Event], followed: set[str], cuts: list[int]
) -> None:
    """Stamped like the hub, delivered at full rate: each sensor's prev is the seq of its previous reading."""
    readings = stamp(events)
    for sensor in {s for s, _ in events}:
        own = [r for r in readings if r.sensor == sensor]
        assert [r.prev for r in own] == [0] + [r.seq for r in own[:-1]]
        assert all(a.seq < b.seq for a, b in itertools.pairwise(own))

    stream = Stream(SubscriptionSet(SubscribeEntry(f"{s}.x") for s in sorted(followed)))
    frames = [decode_frame(encode_data(stream.on_readings(b, 0).readings)) for b in split(readings, cuts)]
    got = readings_of(frames)
    assert [r.seq for r in got] == [r.seq for r in readings if r.sensor in followed]
    assert chain_breaks(got) == []


@SETTINGS
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.fixed_dictionaries({"x": VALUES})), max_size=40
    ),
    policy=st.sampled_from(["instant", "ideal", "fixed"]),
    min_period_ms=st.sampled_from([0, 10, 50, 200]),
    steps_ms=st.lists(st.integers(min_value=0, max_value=120), min_size=40, max_size=40),
    ticks=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_every_break_in_the_prev_chain_is_flagged_coalesced(
    events: list[Event], policy: Policy, min_period_ms: int, steps_ms: list[int], ticks: list[bool]
) -> None:
    """Under minPeriod/ideal/fixed, a delivered reading that skips some of its sensor's is FLAG_COALESCED."""
    entry = SubscribeEntry("*", policy, None if policy == "instant" else 100, min_period_ms)
    stream = Stream(SubscriptionSet([entry]))
    now_ns = 0
    delivered: list[Reading] = []
    for reading, step_ms, tick in zip(stamp(events), steps_ms, ticks, strict=False):
        now_ns += step_ms * MS
        delivered += map(as_reading, stream.on_readings([reading], now_ns).readings)
        if tick:
            delivered += map(as_reading, stream.on_tick(now_ns + 5 * MS).readings)
    delivered += map(as_reading, stream.on_tick(now_ns + 10_000 * MS).readings)

    for r, _ in chain_breaks(delivered):
        assert r.flags & FLAG_COALESCED, r
    # Nothing is invented and the latest reading of every sensor is eventually delivered.
    stamped = {r.seq: r for r in stamp(events)}
    assert all(stamped[r.seq] == r._replace(flags=0) for r in delivered)
    latest = {s: r.seq for s, r in ((r.sensor, r) for r in stamp(events))}
    assert {r.sensor: r.seq for r in delivered if not r.flags & FLAG_RESENT} == latest


@SETTINGS
@given(
    n=st.integers(min_value=0, max_value=60),
    capacity=st.integers(min_value=1, max_value=40),
    seen=st.integers(min_value=0, max_value=60),
    same_boot=st.booleans(),
    sensors=st.lists(st.sampled_from(["a", "b", "c"]), min_size=60, max_size=60),
)
def test_resume_plan_plus_live_covers_every_reading_except_announced_gaps(
    n: int, capacity: int, seen: int, same_boot: bool, sensors: list[str]
) -> None:
    """After resume, gap ranges + backfill + later live readings account for every seq exactly once."""
    readings = stamp((s, {"x": i}) for i, s in enumerate(sensors[:n]))
    upto = n // 2
    ring = ReadingRing(capacity)
    ring.extend(readings[:upto])
    req_seq = min(seen, upto) if same_boot else seen
    plan = ring.plan_resume("NEW", "NEW" if same_boot else "OLD", req_seq, upto)
    live = readings[upto:]

    start = req_seq if same_boot else 0
    lost = set()
    for gap in plan.gaps:
        if gap.boot == "OLD":
            assert (gap.first, gap.last, gap.reason, same_boot) == (seen + 1, None, "boot", False)
            continue
        assert gap.reason == "ring"
        assert gap.last is not None
        lost |= set(range(gap.first, gap.last + 1))
    backfill = [r[SEQ] for r in plan.readings]
    assert sorted(lost) + backfill + [r.seq for r in live] == list(range(start + 1, n + 1))
    assert all(r[SEQ] <= upto for r in plan.readings)
