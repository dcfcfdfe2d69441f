"""ResumeBudget: bytes of ring data per connection per second, and one resume in flight."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.budget import RESUME_BURST_BYTES, RESUME_BYTES_PER_S, ResumeBudget


def test_defaults_and_invalid_arguments() -> None:
    """The default budget is 256 KiB/s with a 1 MiB burst; a zero rate or burst is refused."""
    b = ResumeBudget(now_s=0.0)
    assert (b.rate, b.burst, b.tokens, b.in_flight) == (
        RESUME_BYTES_PER_S,
        RESUME_BURST_BYTES,
        RESUME_BURST_BYTES,
        False,
    )
    for rate, burst in ((0, 1), (1, 0)):
        with pytest.raises(ValueError, match="a resume budget needs a rate and a burst > 0"):
            ResumeBudget(rate, burst, now_s=0.0)


def test_one_resume_in_flight() -> None:
    """begin() succeeds once until end() is called."""
    b = ResumeBudget(now_s=0.0)
    assert [b.begin(), b.begin()] == [True, False]
    b.end()
    assert [b.begin(), b.begin()] == [True, False]


def test_delay_until_the_bucket_refills() -> None:
    """A full bucket reads at once; afterwards a read waits for its bytes at the rate; refill stops at the burst."""
    b = ResumeBudget(100, 1000, now_s=10.0)
    assert b.delay_s(10.0, 1000) == 0.0
    b.charge(10.0, 1000)
    assert b.delay_s(10.0, 500) == 5.0
    assert b.delay_s(12.0, 500) == 3.0
    b.charge(15.0, 500)
    assert b.tokens == 0.0
    assert b.delay_s(1000.0, 10) == 0.0 and b.tokens == 1000.0
    b.charge(999.0, 10)  # a clock that steps back does not refill
    assert b.tokens == 990.0


def test_a_read_larger_than_the_burst_waits_for_a_full_bucket_then_leaves_debt() -> None:
    """Any size can be read eventually: it waits for a full bucket and the debt delays the next read."""
    b = ResumeBudget(100, 1000, now_s=0.0)
    b.charge(0.0, 500)
    assert b.delay_s(0.0, 5000) == 5.0
    b.charge(5.0, 5000)
    assert b.tokens == -4000.0
    assert b.delay_s(5.0, 100) == 41.0


@given(
    st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=5.0), st.integers(min_value=0, max_value=5000)),
        max_size=40,
    )
)
def test_reads_never_exceed_burst_plus_rate_times_elapsed(steps: list[tuple[float, int]]) -> None:
    """A reader that waits as told reads at most max(burst, largest read) + rate * elapsed bytes in total."""
    rate, burst = 100.0, 1000
    b = ResumeBudget(rate, burst, now_s=0.0)
    now = 0.0
    total = 0
    for pause, nbytes in steps:
        now += pause
        now += b.delay_s(now, nbytes)
        assert b.delay_s(now, nbytes) < 1e-9  # waiting as told is enough (up to float rounding)
        b.charge(now, nbytes)
        total += nbytes
        largest = max(n for _, n in steps)
        assert total <= max(burst, largest) + rate * now + 1e-6
