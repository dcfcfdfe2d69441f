"""gateway.protocol.ratelimit: the token bucket and a connection's control-message verdicts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.ratelimit import RATE_WARNINGS, ControlGate, TokenBucket, Verdict

T0 = 100.0

# -- TokenBucket --------------------------------------------------------------------------------------------


def test_bucket_starts_full_and_allows_a_burst() -> None:
    """A new bucket takes ``burst`` messages at once, then refuses."""
    bucket = TokenBucket(1.0, 3, T0)
    assert [bucket.take(T0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_its_rate() -> None:
    """Tokens come back at ``rate_per_s``; a fraction of a token is kept, not lost."""
    bucket = TokenBucket(2.0, 2, T0)
    assert [bucket.take(T0), bucket.take(T0), bucket.take(T0)] == [True, True, False]
    assert bucket.take(T0 + 0.25) is False  # half a token
    assert [bucket.take(T0 + 0.5), bucket.take(T0 + 0.5)] == [True, False]  # the half token was kept
    assert [bucket.take(T0 + 1.5) for _ in range(3)] == [True, True, False]


def test_bucket_refill_is_capped_at_the_burst() -> None:
    """A long silence refills to ``burst``, no more."""
    bucket = TokenBucket(10.0, 3, T0)
    assert [bucket.take(T0) for _ in range(3)] == [True] * 3
    assert [bucket.take(T0 + 3600.0) for _ in range(4)] == [True, True, True, False]


def test_refused_takes_do_not_consume() -> None:
    """Refusals do not push the client into debt."""
    bucket = TokenBucket(1.0, 1, T0)
    assert [bucket.take(T0) for _ in range(11)] == [True] + [False] * 10
    assert bucket.take(T0 + 1.0) is True


def test_sustained_rate_matches_the_configured_rate() -> None:
    """10 s of messages every 10 ms at 5/s: 50 accepted (51 with the start-up token)."""
    bucket = TokenBucket(5.0, 1, T0)
    accepted = sum(bucket.take(T0 + 0.01 * (i + 1)) for i in range(1000))
    assert accepted in (50, 51)


def test_zero_rate_never_refills_and_zero_burst_refuses_everything() -> None:
    """rate 0: the burst and nothing more; burst 0: nothing at all."""
    bucket = TokenBucket(0.0, 2, T0)
    assert [bucket.take(T0), bucket.take(T0), bucket.take(T0 + 1e6)] == [True, True, False]
    assert TokenBucket(100.0, 0, T0).take(T0 + 10) is False


@given(
    rate=st.floats(0.0, 1000.0),
    burst=st.integers(0, 50),
    gaps=st.lists(st.floats(0.0, 5.0), max_size=200),
)
def test_accepted_never_exceed_burst_plus_rate_times_elapsed(
    rate: float, burst: int, gaps: list[float]
) -> None:
    """Over any run, accepted messages <= burst + rate * elapsed, and the bucket stays within [0, burst]."""
    bucket = TokenBucket(rate, burst, T0)
    now, accepted = T0, 0
    for gap in gaps:
        now += gap
        accepted += bucket.take(now)
        assert 0.0 <= bucket.tokens <= burst
    assert accepted <= burst + rate * (now - T0) + 1e-6


# -- ControlGate --------------------------------------------------------------------------------------------


def test_a_flood_gets_warnings_then_a_close() -> None:
    """Over the rate: RATE_WARNINGS warnings, then CLOSE."""
    gate = ControlGate(1.0, 2, 5, T0)
    got = [gate.message(T0) for _ in range(3 + RATE_WARNINGS)]
    assert got == [Verdict.PASS, Verdict.PASS] + [Verdict.WARN] * RATE_WARNINGS + [Verdict.CLOSE]


def test_malformed_messages_are_answered_until_the_limit() -> None:
    """max_bad_messages malformed messages are answered (WARN); the next one closes."""
    gate = ControlGate(100.0, 100, 2, T0)
    assert [gate.malformed() for _ in range(3)] == [Verdict.WARN, Verdict.WARN, Verdict.CLOSE]


@given(
    events=st.lists(st.tuples(st.booleans(), st.floats(0.0, 2.0)), max_size=100),
    warnings=st.integers(0, 5),
    max_bad=st.integers(0, 5),
)
def test_verdicts_follow_the_counts(events: list[tuple[bool, float]], warnings: int, max_bad: int) -> None:
    """CLOSE comes exactly when the warnings or the malformed messages pass their limit, never earlier."""
    gate = ControlGate(2.0, 3, max_bad, T0, rate_warnings=warnings)
    bucket = TokenBucket(2.0, 3, T0)  # the same bucket, followed alongside
    now, warned, bad = T0, 0, 0
    for is_malformed, gap in events:
        now += gap
        verdict = gate.message(now)
        if not bucket.take(now):
            warned += 1
            assert verdict is (Verdict.CLOSE if warned > warnings else Verdict.WARN)
            if verdict is Verdict.CLOSE:
                return
            continue
        assert verdict is Verdict.PASS
        if is_malformed:
            bad += 1
            got = gate.malformed()
            assert got is (Verdict.CLOSE if bad > max_bad else Verdict.WARN)
            if got is Verdict.CLOSE:
                return
