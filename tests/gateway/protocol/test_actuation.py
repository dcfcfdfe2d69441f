"""The per-output minimum interval between changes (gateway.protocol.actuation): examples and properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.protocol.actuation import (
    DEFAULT_MIN_INTERVAL_S,
    ChangeLimiter,
    TooSoon,
    default_min_interval_s,
)

SETTINGS = settings(max_examples=200, deadline=None)


def test_defaults_per_driver_keep_relays_slow_and_let_the_others_be_fluid() -> None:
    """relay 0.5 s, led 0.05 s, pwm_led and servo 0.02 s; an unknown driver gets the relay-safe default."""
    assert [default_min_interval_s(d) for d in ("relay", "led", "pwm_led", "servo", "third_party")] == [
        0.5,
        0.05,
        0.02,
        0.02,
        DEFAULT_MIN_INTERVAL_S,
    ]
    assert DEFAULT_MIN_INTERVAL_S == 0.5


def test_a_change_within_the_interval_is_refused_with_the_time_to_wait() -> None:
    """Changes at 10.0, 10.2 (refused, 0.3 s left), 10.5 (accepted), 10.6 (refused, 0.4 s left)."""
    lim = ChangeLimiter()
    results = [lim.try_change("relay1", 0.5, t) for t in (10.0, 10.2, 10.5, 10.6)]
    assert results[0] is None and results[2] is None
    assert results[1] == TooSoon("relay1", 0.5, pytest.approx(0.3))
    assert results[3] == TooSoon("relay1", 0.5, pytest.approx(0.4))
    assert lim.last_change_s("relay1") == 10.5
    assert results[1] is not None
    assert results[1].message == "too soon: relay1 accepts one change per 0.5 s; retry in 0.300 s"


def test_outputs_are_limited_independently_and_zero_means_no_limit() -> None:
    """relay1 being busy does not refuse led1; an interval of 0 accepts every change."""
    lim = ChangeLimiter()
    assert lim.try_change("relay1", 0.5, 1.0) is None
    assert lim.try_change("led1", 0.5, 1.0) is None
    assert [lim.try_change("fast", 0.0, 1.0) for _ in range(3)] == [None, None, None]
    assert lim.last_change_s("never") is None


def test_a_safe_value_is_never_refused_and_restarts_the_interval() -> None:
    """force() right after a change is recorded; a command 0.1 s later is refused (0.4 s left)."""
    lim = ChangeLimiter()
    assert lim.try_change("relay1", 0.5, 5.0) is None
    lim.force("relay1", 5.1)
    assert lim.last_change_s("relay1") == 5.1
    assert lim.try_change("relay1", 0.5, 5.2) == TooSoon("relay1", 0.5, pytest.approx(0.4))


@given(
    interval=st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
    steps=st.lists(st.floats(min_value=0.0, max_value=3.0, allow_nan=False), min_size=1, max_size=40),
)
@SETTINGS
def test_accepted_changes_are_never_closer_than_the_interval(interval: float, steps: list[float]) -> None:
    """Whatever the arrival times, accepted changes are >= interval apart (within 1 ns), and every refusal's
    wait is positive, at most the interval, and ends exactly when the interval since the last change does."""
    lim = ChangeLimiter()
    now, accepted = 0.0, []
    for step in steps:
        now += step
        res = lim.try_change("t", interval, now)
        if res is None:
            accepted.append(now)
        else:
            assert 0 < res.retry_after_s <= interval
            assert res.retry_after_s == pytest.approx(accepted[-1] + interval - now)
    assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(accepted))
    assert accepted[0] == steps[0]


@given(
    interval=st.floats(min_value=1e-6, max_value=10.0, allow_nan=False),
    first=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    early=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
@SETTINGS
def test_retrying_after_the_announced_wait_is_accepted(interval: float, first: float, early: float) -> None:
    """A client that waits exactly ``retry_after_s`` is never refused again (float rounding included)."""
    lim = ChangeLimiter()
    assert lim.try_change("t", interval, first) is None
    now = first + early * interval
    res = lim.try_change("t", interval, now)
    if res is not None:
        assert lim.try_change("t", interval, now + res.retry_after_s) is None
