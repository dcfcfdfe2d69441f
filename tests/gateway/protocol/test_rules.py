"""The rules state machine: conditions, `for`, clearing hysteresis, stale sensors, acknowledgement."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.rules import (
    ACTIVE,
    CLEARING,
    INACTIVE,
    PENDING,
    Rule,
    RuleEngine,
    RuleEvent,
)

S = 1_000_000_000  # ns per second


def feed(
    engine: RuleEngine, sensor: str, steps: list[tuple[float, object]], field: str = "t"
) -> list[tuple[float, str, str]]:
    """Feed ``(now_s, value)`` readings; return ``(now_s, rule, state)`` of every event."""
    out = []
    for now, value in steps:
        for e in engine.on_reading(sensor, {field: value}, now, int(now * S)):
            out.append((now, e.rule, e.state))
    return out


def test_above_fires_after_for_and_clears_past_the_hysteresis() -> None:
    """above 30 (h 2, for 3 s, clear_for 2 s): pending at 31, active 3 s later; 29 is the dead band; <= 28 clears
    after 2 s; the states go inactive, pending, active, clearing, inactive."""
    eng = RuleEngine([Rule("hot", "s", "t", "above", 30, hysteresis=2, for_s=3, clear_for_s=2)], 0.0)
    states = []
    events = []
    for now, v in [(0, 25), (1, 31), (2, 32), (4, 31), (5, 29), (6, 28), (7, 29), (8, 27), (9, 27), (10, 27)]:
        events += feed(eng, "s", [(now, v)])
        states.append(eng.state("hot"))
    assert states == [
        INACTIVE,
        PENDING,
        PENDING,
        ACTIVE,
        ACTIVE,
        CLEARING,
        ACTIVE,
        CLEARING,
        CLEARING,
        INACTIVE,
    ]
    assert events == [(4, "hot", ACTIVE), (10, "hot", INACTIVE)]


def test_pending_falls_back_without_an_event() -> None:
    """A value that drops back before `for` has passed returns the rule to inactive, with no event."""
    eng = RuleEngine([Rule("hot", "s", "t", "above", 30, for_s=5)], 0.0)
    assert feed(eng, "s", [(0, 31), (4, 30), (5, 31), (9, 31), (10, 31)]) == [(10, "hot", ACTIVE)]


def test_below_outside_and_zero_durations() -> None:
    """below fires under its threshold and clears at threshold + h; outside fires beyond either bound and clears
    only inside both bounds shrunk by h; with for/clear_for 0 the first reading decides."""
    below = RuleEngine([Rule("low", "s", "t", "below", 10, hysteresis=1)], 0.0)
    assert feed(below, "s", [(0, 11), (1, 9), (2, 10.5), (3, 11), (4, 9.9)]) == [
        (1, "low", ACTIVE),
        (3, "low", INACTIVE),
        (4, "low", ACTIVE),
    ]
    out = RuleEngine([Rule("band", "s", "t", "outside", low=0, high=10, hysteresis=1)], 0.0)
    assert feed(out, "s", [(0, 5), (1, -1), (2, 0.5), (3, 1), (4, 11), (5, 9.5), (6, 9)]) == [
        (1, "band", ACTIVE),
        (3, "band", INACTIVE),
        (4, "band", ACTIVE),
        (6, "band", INACTIVE),
    ]


def test_rate_uses_reading_timestamps_and_skips_a_clock_step_back() -> None:
    """rate 2/s (h 1): +5 in 1 s fires, 1.5/s is the dead band, 0.5/s clears; a timestamp that goes back is a
    new baseline, not a rate."""
    eng = RuleEngine([Rule("fast", "s", "t", "rate", 2, hysteresis=1)], 0.0)
    got = []
    for now, ts, v in [(0, 10, 0), (1, 11, 5), (2, 12, 3.5), (3, 13, 3), (4, 12, 100), (5, 13, 100.1)]:
        got += [(e.state, e.value) for e in eng.on_reading("s", {"t": v}, now, ts * S)]
    assert got == [(ACTIVE, 5.0), (INACTIVE, 0.5)]
    assert eng.state("fast") == INACTIVE


def test_stale_fires_on_ticks_and_clears_with_a_reading() -> None:
    """stale 10 s: counted from start until the first reading; fires on the tick that sees 10 s of silence and
    reports the age; the next reading clears it; only stale rules are ticked."""
    eng = RuleEngine([Rule("off", "s", "t", "stale", 10), Rule("hot", "s", "t", "above", 30)], 0.0)
    ticks = [(e.state, e.value) for now in (5, 10) for e in eng.on_tick(now, now * S)]
    assert ticks == [(ACTIVE, 10.0)]
    got = [(e.rule, e.state, e.value) for e in eng.on_reading("s", {"t": 20}, 11, 11 * S)]
    assert got == [("off", INACTIVE, None)]
    assert [e.state for now in (15, 20.5, 21, 30) for e in eng.on_tick(now, now * S)] == [ACTIVE]
    feed(eng, "s", [(31, 20)])
    assert eng.state("off") == INACTIVE
    feed(eng, "s", [(35, float("nan")), (36, None)])  # not readings of the field: the silence goes on
    assert [e.state for e in eng.on_tick(41, 41 * S)] == [ACTIVE]


def test_values_that_are_not_numbers_are_no_reading() -> None:
    """Absent fields, text, None and NaN are skipped; bools count as 0/1."""
    eng = RuleEngine([Rule("on", "s", "t", "above", 0.5)], 0.0)
    assert feed(eng, "s", [(0, "hot"), (1, None), (2, float("nan")), (3, True)]) == [(3, "on", ACTIVE)]
    assert eng.on_reading("s", {"other": 9}, 4, 4 * S) == []


def test_event_dict_active_set_and_acknowledgement() -> None:
    """An active rule is in the active set with its firing event; acknowledging marks it once; clearing
    removes it; unknown or inactive rules cannot be acknowledged."""
    eng = RuleEngine(
        [
            Rule("band", "s", "t", "outside", low=1, high=2, severity="critical"),
            Rule("hot", "s", "t", "above", 30),
        ],
        0.0,
    )
    feed(eng, "s", [(1, 3)])
    fired = RuleEvent("band", "s", "t", ACTIVE, 3.0, [1, 2], "critical", 1 * S)
    assert eng.active() == [fired]
    assert fired.as_dict() == {
        "rule": "band",
        "sensor": "s",
        "field": "t",
        "state": "active",
        "value": 3.0,
        "threshold": [1, 2],
        "severity": "critical",
        "ts": S,
        "acked_by": None,
    }
    acked = eng.acknowledge("band", "alice")
    assert acked is not None and acked.acked_by == "alice"
    assert [
        eng.acknowledge("band", "bob"),
        eng.acknowledge("hot", "bob"),
        eng.acknowledge("nope", "bob"),
    ] == [
        None,
        None,
        None,
    ]
    assert eng.active() == [acked]
    feed(eng, "s", [(2, 1.5)])
    assert eng.active() == []


# -- properties ----------------------------------------------------------------------------------------------

THRESHOLD = 30.0


@settings(max_examples=200, deadline=None)
@given(
    h=st.floats(0.5, 5.0),
    for_s=st.floats(0, 10),
    clear_for_s=st.floats(0, 10),
    noise=st.lists(st.tuples(st.floats(0.01, 5.0), st.floats(-0.999, 0.999)), max_size=80),
)
def test_no_flapping_under_noise_inside_the_hysteresis(
    h: float, for_s: float, clear_for_s: float, noise: list[tuple[float, float]]
) -> None:
    """Noise smaller than the hysteresis around the threshold, after the rule fired, never clears it: once
    active, it stays active (at most the one firing event)."""
    eng = RuleEngine(
        [Rule("r", "s", "t", "above", THRESHOLD, hysteresis=h, for_s=for_s, clear_for_s=clear_for_s)], 0
    )
    now = 0.0
    events = feed(eng, "s", [(now, THRESHOLD + 1), (now + for_s, THRESHOLD + 1)])
    assert [e[2] for e in events] == [ACTIVE]
    for dt, x in noise:
        now += for_s + dt
        events += feed(eng, "s", [(now, THRESHOLD + x * h)])
    assert [e[2] for e in events] == [ACTIVE]
    assert eng.state("r") == ACTIVE


@settings(max_examples=300, deadline=None)
@given(
    h=st.floats(0, 3),
    for_s=st.floats(0, 8),
    clear_for_s=st.floats(0, 8),
    steps=st.lists(st.tuples(st.floats(0.0, 3.0), st.floats(20, 40)), max_size=80),
)
def test_for_and_clearing_hysteresis_are_honoured(
    h: float, for_s: float, clear_for_s: float, steps: list[tuple[float, float]]
) -> None:
    """Against an oracle: a firing event comes only when every reading for at least `for_s` was above the
    threshold; a clearing event only when every reading for at least `clear_for_s` was at or below threshold -
    hysteresis; events alternate active, inactive, active..."""
    eng = RuleEngine(
        [Rule("r", "s", "t", "above", THRESHOLD, hysteresis=h, for_s=for_s, clear_for_s=clear_for_s)], 0
    )
    now = 0.0
    hot_since: float | None = None
    cool_since: float | None = None
    states = []
    for dt, v in steps:
        now += dt
        hot_since = (now if hot_since is None else hot_since) if v > THRESHOLD else None
        cool_since = (now if cool_since is None else cool_since) if v <= THRESHOLD - h else None
        for _, _, state in feed(eng, "s", [(now, v)]):
            states.append(state)
            if state == ACTIVE:
                assert hot_since is not None and now - hot_since >= for_s
            else:
                assert cool_since is not None and now - cool_since >= clear_for_s
    assert states == [ACTIVE, INACTIVE] * (len(states) // 2) + [ACTIVE] * (len(states) % 2)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(0, 29.9), min_size=1, max_size=20),
    silence=st.lists(st.floats(0.1, 3.0), min_size=1, max_size=40),
    stale_s=st.floats(1, 20),
)
def test_a_sensor_going_offline_raises_the_stale_rule_not_the_threshold(
    values: list[float], silence: list[float], stale_s: float
) -> None:
    """Readings below the threshold, then silence with the clock ticking: the stale rule fires once the silence
    reaches its limit, the threshold rule never fires."""
    eng = RuleEngine(
        [Rule("hot", "s", "t", "above", THRESHOLD, for_s=1), Rule("off", "s", "t", "stale", stale_s)], 0.0
    )
    now = 0.0
    events = []
    for v in values:
        now += 0.5
        events += feed(eng, "s", [(now, v)])
    last = now
    for dt in silence:
        now += dt
        events += [(now, e.rule, e.state) for e in eng.on_tick(now, int(now * S))]
    expected = [("off", ACTIVE)] if now - last >= stale_s else []
    assert [(r, s) for _, r, s in events] == expected
    assert eng.state("hot") == INACTIVE


def test_a_batch_refreshes_a_stale_rule_once_and_skips_sensors_without_rules() -> None:
    """Several readings of a stale rule's sensor in one batch (one now_s) count as one sighting at that time;
    a reading of a sensor without rules in the batch changes nothing; the rule fires 10 s after the batch."""
    eng = RuleEngine([Rule("off", "s", "t", "stale", 10)], 0.0)
    batch = [
        (1, 0, 5 * S, "s", {"t": 1.0}, 0),
        (2, 0, 5 * S, "other", {"t": 1.0}, 0),
        (3, 0, 5 * S, "s", {"t": 2}, 0),
    ]
    assert eng.on_readings(batch, 5.0) == []
    assert eng.trackers["off"].last_seen_s == 5.0
    assert [(now, e.state) for now in (14.9, 15.0) for e in eng.on_tick(now, int(now * S))] == [
        (15.0, ACTIVE)
    ]
