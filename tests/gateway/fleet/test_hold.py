"""Readings held until their gateway's boot is known (pure): arrival order, the count and time limits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.fleet.hold import MAX_HELD_READINGS, MAX_HOLD_S, BootHold


def test_defaults_are_the_documented_limits() -> None:
    """A hold built without arguments uses MAX_HELD_READINGS and MAX_HOLD_S."""
    h: BootHold[int] = BootHold()
    assert (h.max_readings, h.max_hold_s, len(h), h.let_go) == (MAX_HELD_READINGS, MAX_HOLD_S, 0, 0)


@pytest.mark.parametrize(("count", "hold_s"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_limits_below_their_minimum_are_refused(count: int, hold_s: float) -> None:
    """A count under 1 or a hold time of 0 or less is a ValueError."""
    with pytest.raises(ValueError, match="max_readings"):
        BootHold(count, hold_s)


def test_release_gives_one_gateways_readings_in_arrival_order_and_keeps_the_others() -> None:
    """Readings of two gateways interleaved: releasing ``a`` returns a's in arrival order; b's stay held; a
    second release of ``a`` returns nothing."""
    h: BootHold[str] = BootHold(10, 5.0)
    for gw, r, t in (("a", "a1", 0.0), ("b", "b1", 0.1), ("a", "a2", 0.2), ("a", "a3", 0.3)):
        assert h.hold(gw, r, t) == []
    assert h.release("a") == ["a1", "a2", "a3"]
    assert (len(h), h.release("a"), h.drain(), len(h)) == (1, [], [("b", "b1")], 0)


def test_past_the_count_the_oldest_are_let_go_and_counted() -> None:
    """With room for 2, the third and fourth readings push out the first and second (oldest first)."""
    h: BootHold[int] = BootHold(2, 5.0)
    assert [h.hold("a", 1, 0.0), h.hold("b", 2, 0.0), h.hold("a", 3, 0.0), h.hold("a", 4, 0.0)] == [
        [],
        [],
        [("a", 1)],
        [("b", 2)],
    ]
    assert (h.let_go, h.drain()) == (2, [("a", 3), ("a", 4)])


def test_readings_held_too_long_are_let_go_and_their_gateway_is_not_held_again_until_released() -> None:
    """At 5 s the readings held since 0 s go (not the one from 1 s); their gateway is no longer held, the
    other one still is; releasing the gateway holds it again."""
    h: BootHold[int] = BootHold(10, 5.0)
    h.hold("a", 1, 0.0)
    h.hold("b", 2, 0.0)
    h.hold("a", 3, 1.0)
    assert h.expire(4.9) == []
    assert (h.holds("a"), h.holds("b")) == (True, True)
    assert h.expire(5.0) == [("a", 1), ("b", 2)]
    assert (h.holds("a"), h.holds("b"), h.let_go, len(h)) == (False, False, 2, 1)
    assert h.expire(6.0) == [("a", 3)]
    assert (h.release("a"), h.holds("a"), h.holds("b")) == ([], True, False)


ops = st.lists(
    st.tuples(
        st.sampled_from(["hold", "expire", "release"]),
        st.sampled_from(["a", "b", "c"]),
        st.floats(min_value=0.0, max_value=3.0),
    ),
    max_size=60,
)


@given(ops, st.integers(min_value=1, max_value=5))
def test_every_reading_comes_out_exactly_once_and_in_arrival_order_per_gateway(
    script: list[tuple[str, str, float]], limit: int
) -> None:
    """Under any sequence of holds, expiries and releases (time only moving on), each reading comes out once,
    each gateway's readings in the order they were held, at most ``limit`` are held at once, and ``let_go``
    counts the ones let go by a limit."""
    h: BootHold[int] = BootHold(limit, 2.0)
    now = 0.0
    out: list[tuple[str, int]] = []
    let_go = 0
    for n, (op, gw, dt) in enumerate(script):
        now += dt
        if op == "hold":
            gone = h.hold(gw, n, now)
        elif op == "expire":
            gone = h.expire(now)
        else:
            gone = [(gw, r) for r in h.release(gw)]
            let_go -= len(gone)
        let_go += len(gone)
        out += gone
        assert len(h) <= limit
    assert h.let_go == let_go
    out += h.drain()
    held = [(gw, n) for n, (op, gw, _) in enumerate(script) if op == "hold"]
    assert sorted(out, key=lambda e: e[1]) == held
    for gw in "abc":
        mine = [r for g, r in out if g == gw]
        assert mine == sorted(mine)
