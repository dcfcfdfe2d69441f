"""How many decoded readings ``replay --dump``/``--check`` hold (gateway/capture/holding.py): a budget shared
by the sensors, each sensor's batch written when its share is full."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.capture.holding import MAX_HELD_OUTCOMES, Holding


def test_each_sensor_gets_an_even_share_of_the_budget() -> None:
    """The quota is the limit split evenly (at least one line), and the default limit is the named one."""
    assert [Holding(n, 12).quota for n in (0, 1, 2, 5, 12, 13, 100)] == [12, 12, 6, 2, 1, 1, 1]
    assert Holding(4).quota == MAX_HELD_OUTCOMES // 4


def test_take_says_when_a_batch_is_full_and_written_counts_it_out() -> None:
    """A sensor's lines are held until its quota, then written; the counts follow, with the peak kept."""
    h = Holding(2, 6)
    assert [h.take("a"), h.take("b"), h.take("a"), h.take("a")] == [False, False, False, True]
    assert (h.held, h.peak, h.total) == (4, 4, 4)
    assert h.written("a") == 3
    assert (h.held, h.peak, h.total) == (1, 4, 4)
    assert [h.written("a"), h.written("b"), h.written("never")] == [0, 1, 0]
    assert (h.held, h.peak, h.total) == (0, 4, 4)


def test_a_limit_below_one_reading_is_refused() -> None:
    """A budget of no reading could never write one: a clear ValueError."""
    with pytest.raises(ValueError, match="limit must be at least 1 reading, not 0"):
        Holding(3, 0)


@given(
    sensors=st.integers(1, 8),
    limit=st.integers(1, 64),
    order=st.lists(st.integers(0, 7), max_size=400),
)
def test_what_is_held_never_exceeds_the_budget_however_the_sensors_interleave(
    sensors: int, limit: int, order: list[int]
) -> None:
    """Whatever order the sensors' readings come in, writing each batch when told keeps at most
    max(limit, sensors) lines held, and every line is counted once."""
    h = Holding(sensors, limit)
    written = 0
    for i in order:
        sid = f"s{i % sensors}"
        if h.take(sid):
            written += h.written(sid)
        assert h.held <= max(limit, sensors)
    written += sum(h.written(f"s{i}") for i in range(sensors))
    assert (h.held, h.total, written) == (0, len(order), len(order))
    assert h.peak <= max(limit, sensors)
