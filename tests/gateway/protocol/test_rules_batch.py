"""The batch fast path of the rules engine: decided per rule from the batch's min/max, same states and events as
feeding the readings one by one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.rules import (
    ACTIVE,
    CLEARING,
    INACTIVE,
    PENDING,
    FieldStats,
    Rule,
    RuleEngine,
    RuleTracker,
    batch_min_readings,
)

S = 1_000_000_000  # ns per second


def batch_of(values: list[Any], ts0_s: float = 0.0, gap_s: float = 1.0, sensor: str = "s") -> list[Any]:
    """Readings of ``sensor`` with field ``t`` = each value, ``gap_s`` apart from ``ts0_s``."""
    return [(i, 0, int((ts0_s + i * gap_s) * S), sensor, {"t": v}, 0) for i, v in enumerate(values)]


def stats_of(batch: list[Any]) -> FieldStats | None:
    """The stats of field ``t`` over ``batch``."""
    return FieldStats.of(batch, [r[4] for r in batch], "t")


def snapshot(engine: RuleEngine) -> list[tuple[Any, ...]]:
    """Everything a tracker holds, for every rule."""
    return [
        (
            t.rule.id,
            t.state,
            t.since_s,
            t.last_value,
            t.last_ts_ns,
            t.last_seen_s,
            t.event,
            t.quiet_lo,
            t.quiet_hi,
            t.stale_quiet,
        )
        for t in engine.trackers.values()
    ]


def tracker_in(rule: Rule, state: str, since_s: float = 0.0) -> RuleTracker:
    """A tracker of ``rule`` put in ``state`` (its quiet band updated) since ``since_s``."""
    tracker = RuleTracker(rule, 0.0)
    tracker.state, tracker.since_s = state, since_s
    tracker._update_band()
    return tracker


ABOVE = Rule("a", "s", "t", "above", 30, hysteresis=2, for_s=3, clear_for_s=3)
BELOW = Rule("b", "s", "t", "below", 30, hysteresis=2, for_s=3, clear_for_s=3)
OUTSIDE = Rule("o", "s", "t", "outside", low=25, high=35, hysteresis=1, for_s=3, clear_for_s=3)

CASES = [
    # (rule, state, now_s, values, skip): timers started at 0
    (ABOVE, INACTIVE, 1, [20.0, 30.0], True),  # 30 does not fire (> 30 does)
    (ABOVE, INACTIVE, 1, [20.0, 30.5], False),
    (ABOVE, PENDING, 1, [30.5, 40.0], True),  # all fire, 1 s < for_s 3
    (ABOVE, PENDING, 3, [30.5, 40.0], False),  # the timer runs out at now_s
    (ABOVE, PENDING, 1, [30.0, 40.0], False),  # one does not fire: back to inactive
    (ABOVE, ACTIVE, 1, [28.5, 40.0], True),  # none at or below 28
    (ABOVE, ACTIVE, 1, [28.0, 40.0], False),
    (ABOVE, CLEARING, 1, [20.0, 28.0], True),
    (ABOVE, CLEARING, 3, [20.0, 28.0], False),
    (ABOVE, CLEARING, 1, [20.0, 28.5], False),
    (BELOW, INACTIVE, 1, [30.0, 40.0], True),
    (BELOW, INACTIVE, 1, [29.5, 40.0], False),
    (BELOW, PENDING, 1, [10.0, 29.5], True),
    (BELOW, PENDING, 1, [10.0, 30.0], False),
    (BELOW, ACTIVE, 1, [10.0, 31.5], True),
    (BELOW, ACTIVE, 1, [10.0, 32.0], False),
    (BELOW, CLEARING, 1, [32.0, 40.0], True),
    (BELOW, CLEARING, 1, [31.5, 40.0], False),
    (OUTSIDE, INACTIVE, 1, [25.0, 35.0], True),
    (OUTSIDE, INACTIVE, 1, [24.9, 30.0], False),
    (OUTSIDE, INACTIVE, 1, [30.0, 35.1], False),
    (OUTSIDE, PENDING, 1, [10.0, 24.9], True),
    (OUTSIDE, PENDING, 1, [35.1, 40.0], True),
    (OUTSIDE, PENDING, 1, [10.0, 40.0], False),  # both sides fire, but min/max cannot tell: one by one
    (OUTSIDE, PENDING, 4, [10.0, 24.9], False),
    (OUTSIDE, ACTIVE, 1, [10.0, 25.9], True),  # none inside [26, 34]
    (OUTSIDE, ACTIVE, 1, [34.1, 40.0], True),
    (OUTSIDE, ACTIVE, 1, [10.0, 26.0], False),
    (OUTSIDE, CLEARING, 1, [26.0, 34.0], True),
    (OUTSIDE, CLEARING, 1, [25.9, 34.0], False),
    (OUTSIDE, CLEARING, 1, [26.0, 34.1], False),
    (OUTSIDE, CLEARING, 5, [26.0, 34.0], False),
]


@pytest.mark.parametrize(("rule", "state", "now_s", "values", "skip"), CASES)
def test_threshold_rules_decide_from_min_and_max(
    rule: Rule, state: str, now_s: float, values: list[float], skip: bool
) -> None:
    """An inactive rule skips a batch where no value fires, an active one where none clears, a pending
    (clearing) one where every value fires (clears) and the timer has not run out; skipping leaves the state."""
    tracker = tracker_in(rule, state)
    stats = stats_of(batch_of(values))
    assert stats is not None
    assert (tracker.skip_batch(stats, now_s), tracker.state, tracker.since_s) == (skip, state, 0.0)


def test_a_batch_without_a_number_skips_every_rule_and_refreshes_no_stale_rule() -> None:
    """Absent, None, text, NaN and inf values are no reading: every rule skips, a stale rule's last sighting
    stays; one finite number refreshes an inactive stale rule, a pending or active one goes one by one."""
    stats = stats_of(batch_of([None, "x", b"y", float("nan"), float("inf")]) + batch_of([])[:0])
    assert stats is not None and stats.count == 0
    stale = tracker_in(Rule("st", "s", "t", "stale", 10), ACTIVE)
    rate = tracker_in(Rule("r", "s", "t", "rate", 1), PENDING)
    assert (stale.skip_batch(stats, 5.0), rate.skip_batch(stats, 5.0), stale.last_seen_s) == (True, True, 0.0)
    one = stats_of(batch_of([None, 3]))
    assert one is not None and (one.count, one.lo, one.hi) == (1, 3.0, 3.0)
    quiet = tracker_in(Rule("st", "s", "t", "stale", 10), INACTIVE)
    assert (quiet.skip_batch(one, 5.0), quiet.last_seen_s) == (True, 5.0)
    assert [
        tracker_in(Rule("st", "s", "t", "stale", 10), s).skip_batch(one, 5.0) for s in (PENDING, ACTIVE)
    ] == [
        False,
        False,
    ]


def test_unknown_value_types_and_huge_integers_go_one_by_one() -> None:
    """A value of a type the batch path does not know (a list) or an integer beyond the float range gives no
    stats (the readings go one by one); a sum that overflows still gives the right min/max."""
    assert stats_of(batch_of([1.0, [2.0]])) is None
    assert stats_of(batch_of([1.0, -(10**400)])) is None
    stats = stats_of(batch_of([1e308, 1e308, True]))
    assert stats is not None and (stats.count, stats.lo, stats.hi) == (3, 1.0, 1e308)


RATE = Rule("r", "s", "t", "rate", 2.0, hysteresis=0.5, for_s=3, clear_for_s=3)


@pytest.mark.parametrize(
    ("state", "prev", "values", "gap_s", "skip"),
    [
        (INACTIVE, None, [1.0, 2.0, 3.0], 1.0, True),  # 1 unit/s
        (INACTIVE, None, [1.0, 2.0, 5.0], 1.0, False),  # 3 units/s
        (INACTIVE, (0.0, -1.0), [2.0, 2.5], 1.0, True),  # 2 units/s from the previous batch's last reading
        (INACTIVE, (0.0, -1.0), [2.5, 2.5], 1.0, False),
        (INACTIVE, (0.0, 0.0), [2.5, 2.5], 1.0, True),  # same timestamp: a new baseline, no rate
        (INACTIVE, None, [1.0, 9.0], 0.0, False),  # a clock step inside the batch: one by one
        (INACTIVE, None, [1.0], 1.0, True),
        (
            INACTIVE,
            None,
            [4.0, 4.0, 4.0],
            0.0,
            True,
        ),  # one value: every rate is 0, a clock step changes nothing
        (INACTIVE, (0.0, -1.0), [4.0, 4.0], 0.0, False),  # ... but the step from the previous batch is 4/s
        (ACTIVE, None, [4.0, 4.0], -1.0, False),  # a rate of 0 clears
        (ACTIVE, None, [1.0, 3.0, 5.0], 1.0, True),  # 2 units/s, above the clear level 1.5
        (ACTIVE, None, [1.0, 3.0, 4.0], 1.0, False),
        (ACTIVE, (5.0, -1.0), [5.0, 7.0], 1.0, False),
        (PENDING, None, [1.0, 1.0], 1.0, False),
        (CLEARING, None, [1.0, 1.0], 1.0, False),
    ],
)
def test_rate_rules_decide_from_the_steps_and_gaps(
    state: str, prev: tuple[float, float] | None, values: list[float], gap_s: float, skip: bool
) -> None:
    """A rate rule bounds its rates by the batch's greatest step over its least gap (and least over greatest),
    with the step from the previous batch's last reading computed exactly; skipping takes the last reading as
    the new baseline, not skipping touches nothing."""
    tracker = tracker_in(RATE, state)
    if prev is not None:
        tracker.last_value, tracker.last_ts_ns = prev[0], int(prev[1] * S)
    before = (tracker.last_value, tracker.last_ts_ns)
    stats = stats_of(batch_of(values, gap_s=gap_s))
    assert stats is not None
    after = (values[-1], int((len(values) - 1) * gap_s * S)) if skip else before
    assert (tracker.skip_batch(stats, 1.0), tracker.last_value, tracker.last_ts_ns, tracker.state) == (
        skip,
        after[0],
        after[1],
        state,
    )


def test_quiet_batches_of_the_benchmark_rules_skip_every_rule() -> None:
    """The benchmark's five rules on one sensor, a batch of 50 steady readings: every rule skips the batch (no
    reading goes one by one), the stale rule counts the batch as a sighting, the rate rules keep the last one."""
    rules = [
        Rule("a", "s", "t", "above", 1e9, hysteresis=0.5, for_s=5),
        Rule("b", "s", "t", "below", -1e9, hysteresis=0.5, for_s=5),
        Rule("o", "s", "t", "outside", low=-1e9, high=1e9, hysteresis=0.5, for_s=5),
        Rule("r", "s", "t", "rate", 1e12, hysteresis=0.5, for_s=5),
        Rule("r2", "s", "t", "rate", 1e11, hysteresis=0.5, for_s=5),
        Rule("st", "s", "t", "stale", 3600),
    ]
    fed: list[list[str]] = []

    class Spy(RuleEngine):
        def _feed(self, readings: Any, by_sensor: Any, now_s: float) -> Any:
            fed.append([t.rule.id for ts in by_sensor.values() for t in ts])
            return super()._feed(readings, by_sensor, now_s)

    eng = Spy(rules, 0.0)
    batch = batch_of([21.5 + (i % 3) * 0.01 for i in range(50)], gap_s=0.001)
    assert eng.on_readings(batch, 2.0) == []
    assert fed == []
    assert (eng.trackers["st"].last_seen_s, eng.trackers["r"].last_value) == (2.0, batch[-1][4]["t"])
    assert eng.on_readings(batch_of([2e9] * 50, ts0_s=1), 3.0) == []  # above and outside fire: they alone go
    assert fed == [["a", "o"]]
    assert eng.trackers["r2"].last_value == 2e9


def test_small_groups_and_other_sensors_go_one_by_one_in_batch_order() -> None:
    """Fewer than ``batch_min`` readings of a sensor go one by one; events of two sensors' rules come in reading
    order whichever path decided."""
    eng = RuleEngine([Rule("a", "s", "t", "above", 30), Rule("b", "o", "t", "above", 30)], 0.0)
    eng.batch_min = 2
    batch = [
        *batch_of([31.0], sensor="o"),
        *batch_of([20.0, 31.0], sensor="s"),
        *batch_of([20.0], sensor="x"),
    ]
    batch.insert(2, batch_of([20.0], sensor="o")[0])
    assert [(e.rule, e.state) for e in eng.on_readings(batch, 1.0)] == [
        ("b", ACTIVE),
        ("b", INACTIVE),
        ("a", ACTIVE),
    ]
    assert eng.on_readings([], 2.0) == []


def test_the_batch_decision_starts_where_the_cost_model_says_it_pays() -> None:
    """A sensor with a rate rule is decided per batch from 10-11 readings, one with threshold rules only from 28
    (one rule) or 34 (three fields); below that its readings go one by one."""
    above, below = Rule("a", "s", "t", "above", 30), Rule("b", "s", "u", "below", 0)
    outside, rate = Rule("o", "s", "v", "outside", low=0, high=50), Rule("r", "s", "t", "rate", 5)
    stale = Rule("st", "s", "u", "stale", 60)
    assert [
        batch_min_readings(rules)
        for rules in ([above], [stale], [rate], [above, below, outside], [above, below, outside, rate, stale])
    ] == [28, 28, 10, 34, 11]
    fed: list[list[str]] = []

    class Spy(RuleEngine):
        def _feed(self, readings: Any, by_sensor: Any, now_s: float) -> Any:
            fed.append(sorted(f"{t.rule.id}/{len(readings)}" for ts in by_sensor.values() for t in ts))
            return super()._feed(readings, by_sensor, now_s)

    eng = Spy([above, Rule("r", "o", "t", "rate", 5)], 0.0)
    for n in (9, 10, 27, 28):
        eng.on_readings(
            batch_of([20.0] * n, ts0_s=n * 100) + batch_of([20.0] * n, ts0_s=n * 100, sensor="o"), 1.0
        )
    assert fed == [["a/18", "r/18"], ["a/20"], ["a/54"]]  # 28 readings each: neither sensor goes one by one


NUMBER = st.one_of(
    st.sampled_from([20.0, 24.0, 25.0, 26.0, 28.0, 29.5, 30.0, 30.5, 32.0, 34.0, 35.0, 36.0]),
    st.floats(15, 45),
    st.integers(15, 45),
)
VALUE = st.one_of(
    NUMBER,
    NUMBER,
    NUMBER,
    st.none(),
    st.just("text"),
    st.booleans(),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.integers(-(2**63), 2**63),
)
READING = st.tuples(
    st.sampled_from(["s", "s", "s", "o", "x"]),
    st.dictionaries(st.sampled_from(["t", "u"]), VALUE, max_size=2),
    st.integers(-S, 3 * S),  # gap to the previous reading's timestamp (a step back sometimes)
)
BATCH = st.tuples(st.sampled_from([0.0, 0.5, 1.0, 2.5, 4.0]), st.lists(READING, max_size=24), st.booleans())


@settings(max_examples=400, deadline=None)
@given(
    h=st.sampled_from([0.0, 0.5, 2.0]),
    for_s=st.sampled_from([0.0, 1.0, 3.0]),
    clear_for_s=st.sampled_from([0.0, 1.0, 3.0]),
    rate=st.sampled_from([0.5, 2.0, 10.0]),
    batch_min=st.integers(1, 4),
    batches=st.lists(BATCH, max_size=12),
)
def test_the_batch_path_gives_the_per_reading_states_and_events(
    h: float, for_s: float, clear_for_s: float, rate: float, batch_min: int, batches: list[Any]
) -> None:
    """For arbitrary batches (values near every threshold, None, text, NaN, huge integers, absent fields, time
    gaps and clock steps back, several sensors, stale ticks between batches) the batch path and the reading by
    reading path give the same events and leave every rule in the same state, after every batch."""
    timing = {"hysteresis": h, "for_s": for_s, "clear_for_s": clear_for_s}
    rules = [
        Rule("above", "s", "t", "above", 30, **timing),
        Rule("below", "s", "t", "below", 30, **timing),
        Rule("outside", "s", "t", "outside", low=25, high=35, **timing),
        Rule("rate", "s", "t", "rate", rate, **timing),
        Rule("rate-fast", "s", "t", "rate", rate * 4, **timing),
        Rule("stale", "s", "t", "stale", 2, **timing),
        Rule("above-u", "s", "u", "above", 30, **timing),
        Rule("rate-u", "s", "u", "rate", rate, **timing),
        Rule("other", "o", "t", "outside", low=25, high=35, **timing),
    ]
    fast, slow = RuleEngine(rules, 0.0), RuleEngine(rules, 0.0)
    fast.batch_min = batch_min
    now, ts, seq = 0.0, 0, 0
    for dt, readings, tick in batches:
        now += dt
        batch = []
        for sensor, values, gap in readings:
            ts += gap
            seq += 1
            batch.append((seq, 0, ts, sensor, values, 0))
        assert fast.on_readings(batch, now) == slow.per_reading(batch, now)
        assert snapshot(fast) == snapshot(slow)
        if tick:
            assert fast.on_tick(now, int(now * S)) == slow.on_tick(now, int(now * S))


def test_a_field_with_an_unknown_value_type_sends_only_its_rules_one_by_one() -> None:
    """A list among a field's values (a type the batch path does not compare) sends that field's rules one by one
    and decides the other field's rules from the batch; states and events are those of the per-reading path."""
    rules = [
        Rule("a", "s", "t", "above", 30),
        Rule("r", "s", "t", "rate", 5),
        Rule("u", "s", "u", "above", 30),
    ]
    fed: list[list[str]] = []

    class Spy(RuleEngine):
        def _feed(self, readings: Any, by_sensor: Any, now_s: float) -> Any:
            fed.append([t.rule.id for ts in by_sensor.values() for t in ts])
            return super()._feed(readings, by_sensor, now_s)

    fast, slow = Spy(rules, 0.0), RuleEngine(rules, 0.0)
    fast.batch_min = 1
    batch = [(i, 0, i * S, "s", {"t": [1.0] if i == 3 else 31.0 + i, "u": 20.0}, 0) for i in range(10)]
    events = fast.on_readings(batch, 1.0)
    assert events == slow.per_reading(batch, 1.0)
    assert ([(e.rule, e.state) for e in events], fed) == ([("a", ACTIVE)], [["a", "r"]])
    assert snapshot(fast) == snapshot(slow)


STEADY = st.tuples(
    st.sampled_from([0.0, 0.5, 1.0, 4.0]),  # seconds since the previous batch
    st.sampled_from([20.0, 29.0, 30.0, 31.0, 36.0]),  # the batch's one value
    st.lists(st.integers(-S, 2 * S), min_size=1, max_size=12),  # gaps to the previous reading (some <= 0)
    st.booleans(),  # a stale tick after the batch
)


@settings(max_examples=300, deadline=None)
@given(
    h=st.sampled_from([0.0, 0.5, 2.0]),
    for_s=st.sampled_from([0.0, 1.0, 3.0]),
    rate=st.sampled_from([0.0, 0.5, 2.0, 10.0]),
    batches=st.lists(STEADY, max_size=10),
)
def test_steady_batches_give_the_per_reading_states_and_events(
    h: float, for_s: float, rate: float, batches: list[Any]
) -> None:
    """Batches that each carry one value (rates of 0 inside the batch, whatever the gaps, clock steps back
    included; a step between batches) leave every rule, rate rules in every state, as the per-reading path."""
    timing = {"hysteresis": h, "for_s": for_s, "clear_for_s": for_s}
    rules = [
        Rule("rate", "s", "t", "rate", rate, **timing),
        Rule("rate-slow", "s", "t", "rate", rate / 4, **timing),
        Rule("above", "s", "t", "above", 30, **timing),
        Rule("stale", "s", "t", "stale", 2, **timing),
    ]
    fast, slow = RuleEngine(rules, 0.0), RuleEngine(rules, 0.0)
    fast.batch_min = 1
    now, ts = 0.0, 0
    for dt, value, gaps, tick in batches:
        now += dt
        batch = []
        for gap in gaps:
            ts += gap
            batch.append((ts, 0, ts, "s", {"t": value}, 0))
        assert fast.on_readings(batch, now) == slow.per_reading(batch, now)
        assert snapshot(fast) == snapshot(slow)
        if tick:
            assert fast.on_tick(now, int(now * S)) == slow.on_tick(now, int(now * S))
