"""The pure debounce/hold filter and the pulse-rate window."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.gpio.edges import Edge, EdgeFilter, PulseRate

MS = 1_000_000


def test_without_debounce_every_change_is_an_edge() -> None:
    """With bounce 0 each raw change is reported with its own time and activations count up."""
    f = EdgeFilter(False)
    out = [
        *f.on_raw(True, 1 * MS),
        *f.on_raw(False, 2 * MS),
        *f.on_raw(True, 3 * MS),
        *f.on_raw(True, 4 * MS),
    ]
    assert out == [Edge(True, 1 * MS, False, 1), Edge(False, 2 * MS, False, 1), Edge(True, 3 * MS, False, 2)]
    assert f.deadline_ns() is None


def test_bounces_inside_the_window_are_ignored() -> None:
    """A press that chatters for 3 ms is one edge at the first contact; nothing is left to reconcile."""
    f = EdgeFilter(False, bounce_ns=20 * MS)
    out = []
    for i, level in enumerate([True, False, True, False, True]):
        out += f.on_raw(level, 100 * MS + i * 700_000)
    assert out == [Edge(True, 100 * MS, False, 1)]
    assert f.deadline_ns() is None  # settled where reported: no timer needed
    assert f.on_raw(False, 110 * MS) == []
    assert f.deadline_ns() == 120 * MS  # now it must be reconciled at the window's end


def test_a_glitch_shorter_than_the_window_is_reconciled_at_its_end() -> None:
    """If the input settles back within the window, the release is reported when the window ends."""
    f = EdgeFilter(False, bounce_ns=20 * MS)
    assert f.on_raw(True, 100 * MS) == [Edge(True, 100 * MS, False, 1)]
    assert f.on_raw(False, 105 * MS) == []
    assert f.on_time(119 * MS) == []
    assert f.on_time(121 * MS) == [Edge(False, 120 * MS, False, 1)]
    assert (f.active, f.deadline_ns()) == (False, None)


def test_a_late_raw_change_after_the_window_reports_its_own_time() -> None:
    """A change seen after the window (timer not yet run) is reported at once, with the change's time."""
    f = EdgeFilter(True, bounce_ns=10 * MS)
    assert f.on_raw(False, 50 * MS) == [Edge(False, 50 * MS, False, 0)]
    assert f.on_raw(True, 75 * MS) == [Edge(True, 75 * MS, False, 1)]


def test_a_late_timer_does_not_swallow_the_release() -> None:
    """Window over but on_time not yet run when the next press arrives: release and press both come out."""
    f = EdgeFilter(False, bounce_ns=5 * MS)
    assert f.on_raw(True, 0) == [Edge(True, 0, False, 1)]
    assert f.on_raw(False, 1 * MS) == []
    assert f.on_raw(True, 20 * MS) == [Edge(False, 5 * MS, False, 1), Edge(True, 20 * MS, False, 2)]


def test_hold_fires_once_at_the_hold_deadline_and_resets_on_release() -> None:
    """Active for hold_ns gives one held event stamped at the deadline; a release clears held."""
    f = EdgeFilter(False, bounce_ns=0, hold_ns=500 * MS)
    assert f.on_raw(True, 1000 * MS) == [Edge(True, 1000 * MS, False, 1)]
    assert f.deadline_ns() == 1500 * MS
    assert f.on_time(1499 * MS) == []
    assert f.on_time(2000 * MS) == [Edge(True, 1500 * MS, True, 1)]
    assert f.on_time(9000 * MS) == []
    assert f.held is True
    assert f.on_raw(False, 9100 * MS) == [Edge(False, 9100 * MS, False, 1)]
    assert (f.held, f.deadline_ns()) == (False, None)


def test_a_short_press_never_holds() -> None:
    """Released before the hold time: no held event."""
    f = EdgeFilter(False, hold_ns=500 * MS)
    assert f.on_raw(True, 0) + f.on_raw(False, 200 * MS) + f.on_time(2000 * MS) == [
        Edge(True, 0, False, 1),
        Edge(False, 200 * MS, False, 1),
    ]


def test_events_due_together_come_out_in_time_order() -> None:
    """A hold due inside the window fires first; a release reconciled before the hold cancels it."""
    f = EdgeFilter(False, bounce_ns=20 * MS, hold_ns=5 * MS)
    f.on_raw(True, 0)
    assert f.on_raw(False, 8 * MS) == [Edge(True, 5 * MS, True, 1)]
    assert f.on_time(30 * MS) == [Edge(False, 20 * MS, False, 1)]
    g = EdgeFilter(False, bounce_ns=20 * MS, hold_ns=25 * MS)
    g.on_raw(True, 0)
    g.on_raw(False, 8 * MS)
    assert g.on_time(30 * MS) == [Edge(False, 20 * MS, False, 1)]
    assert g.held is False


def test_negative_times_are_rejected() -> None:
    """Negative windows are a programming error."""
    with pytest.raises(ValueError, match="must be >= 0"):
        EdgeFilter(False, bounce_ns=-1)


@given(
    st.lists(st.tuples(st.integers(1, 40 * MS), st.booleans()), max_size=60),
    st.integers(0, 20 * MS),
    st.booleans(),
)
def test_reported_state_always_settles_on_the_input(
    steps: list[tuple[int, bool]], bounce_ns: int, start: bool
) -> None:
    """Any raw sequence: edges alternate, are time-ordered, respect the window, and end on the raw level."""
    f = EdgeFilter(start, bounce_ns=bounce_ns)
    t, out, level = 0, [], start
    for dt, level in steps:
        t += dt
        out += f.on_raw(level, t)
    out += f.on_time(t + bounce_ns + 1)
    assert f.active == level
    states = [start] + [e.active for e in out]
    assert all(a != b for a, b in itertools.pairwise(states))
    times = [e.mono_ns for e in out]
    assert all(b - a >= bounce_ns for a, b in itertools.pairwise(times))


def test_pulse_rate_is_averaged_over_the_window_and_since_start() -> None:
    """10 pulses in the first second of a 2 s window: 10 Hz after 1 s, 5 Hz after 2 s, 0 after 3.1 s."""
    r = PulseRate(2000 * MS)
    r.start(0)
    for i in range(10):
        r.pulse(i * 100 * MS + 1)
    assert [r.rate_hz(1000 * MS), r.rate_hz(2000 * MS), r.rate_hz(3100 * MS)] == [10.0, 5.0, 0.0]
    assert r.total == 10
    assert r.rate_hz(3100 * MS) == 0.0


def test_pulse_rate_without_start_and_at_time_zero() -> None:
    """Before start() the full window is used; at the start instant the rate is 0, not a division error."""
    r = PulseRate(1000 * MS)
    r.pulse(500 * MS)
    assert r.rate_hz(900 * MS) == 1.0
    r.start(1000 * MS)
    assert (r.rate_hz(1000 * MS), r.total) == (0.0, 1)
    with pytest.raises(ValueError, match="window_ns"):
        PulseRate(0)


def test_pulse_rate_memory_is_bounded() -> None:
    """Beyond max_pulses the oldest times are forgotten (the rate saturates, the total does not)."""
    r = PulseRate(1000 * MS, max_pulses=4)
    r.start(0)
    for i in range(10):
        r.pulse(i * MS)
    assert (r.total, r.rate_hz(1000 * MS)) == (10, 4.0)
