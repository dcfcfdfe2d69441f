"""PreAuthPool (unauthenticated connection budget) and FailureThrottle (wrong tokens per address)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.admission import FailureThrottle, PreAuthPool, address_key

# -- address_key ---------------------------------------------------------------------------------------------


def test_address_key_groups_ipv6_by_64_and_unmaps_ipv4() -> None:
    """IPv4 stays as it is, IPv6 is keyed by its /64 (zone ids dropped), IPv4-mapped IPv6 by the IPv4."""
    assert [
        address_key(h)
        for h in (
            "127.0.0.1",
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff::9",
            "fe80::1%eth0",
            "::ffff:10.0.0.7",
            "?",
        )
    ] == ["127.0.0.1", "2001:db8:1:2::/64", "2001:db8:1:2::/64", "fe80::/64", "10.0.0.7", "?"]


# -- PreAuthPool -----------------------------------------------------------------------------------------------


def test_pool_rejects_nonsense_limits_and_double_admission() -> None:
    """Limits below 1 and admitting the same connection twice are programming errors."""
    with pytest.raises(ValueError):
        PreAuthPool[int](0, 1)
    with pytest.raises(ValueError):
        PreAuthPool[int](1, 0)
    pool = PreAuthPool[int](2, 2)
    pool.admit("a", 1)
    with pytest.raises(ValueError):
        pool.admit("a", 1)


def test_pool_evicts_the_oldest_of_an_address_at_its_cap() -> None:
    """An address at its cap pushes out its own oldest connection, never another address's."""
    pool = PreAuthPool[int](10, 3)
    assert [pool.admit("b", 0)] + [pool.admit("a", k) for k in range(1, 7)] == [
        None,
        None,
        None,
        None,
        1,
        2,
        3,
    ]
    assert (len(pool), pool.count("a"), pool.count("b"), 0 in pool, 3 in pool) == (4, 3, 1, True, False)


def test_pool_when_full_evicts_from_the_busiest_address() -> None:
    """A full pool makes room by evicting the oldest connection of the address holding the most."""
    pool = PreAuthPool[str](4, 4)
    for k in ("a1", "a2", "a3", "b1"):
        assert pool.admit(k[0], k) is None
    assert pool.admit("c", "c1") == "a1"  # a holds 3 of 4
    assert pool.admit("b", "b2") == "a2"  # a 2, b 2 with the newcomer: a's oldest is older
    assert pool.admit("d", "d1") == "b1"  # a 1, b 2, c 1
    assert [k for k in ("a1", "a2", "a3", "b1", "b2", "c1", "d1") if k in pool] == ["a3", "b2", "c1", "d1"]


def test_pool_release_is_idempotent() -> None:
    """Releasing twice (evicted, then the handler's own cleanup) is harmless."""
    pool = PreAuthPool[int](2, 2)
    pool.admit("a", 1)
    assert (pool.release(1), pool.release(1), len(pool), pool.count("a")) == (True, False, 0, 0)


ops = st.lists(
    st.tuples(st.booleans(), st.sampled_from("abcd"), st.integers(0, 30)),
    max_size=200,
)


@given(st.integers(1, 8), st.integers(1, 8), ops)
def test_pool_bounds_hold_and_only_the_busiest_lose(total: int, per_address: int, script: list) -> None:
    """Any admit/release sequence: bounds hold, a newcomer is always in, and a victim's address held at least
    as many connections as any other (its own cap reached, or the pool full)."""
    pool = PreAuthPool[int](total, per_address)
    live: dict[int, str] = {}
    for is_admit, address, key in script:
        if not is_admit or key in live:
            assert pool.release(key) == (key in live)
            live.pop(key, None)
            continue
        counts = {a: sum(1 for v in live.values() if v == a) for a in set(live.values())}
        counts[address] = counts.get(address, 0) + 1
        victim = pool.admit(address, key)
        if victim is None:
            assert len(live) < total and counts[address] <= per_address
        else:
            victim_address = live.pop(victim)
            if counts[address] <= per_address:
                assert len(live) + 1 == total
                assert counts[victim_address] == max(counts.values())
            else:
                assert victim_address == address
        live[key] = address
        assert key in pool and len(pool) == len(live) <= total
        assert all(pool.count(a) == sum(1 for v in live.values() if v == a) <= per_address for a in "abcd")


# -- FailureThrottle ---------------------------------------------------------------------------------------


def test_throttle_rejects_nonsense_limits() -> None:
    """burst and table size below 1, or a rate that never refills, are programming errors."""
    for args in ((0, 1.0, 1), (1, 0.0, 1), (1, 1.0, 0)):
        with pytest.raises(ValueError):
            FailureThrottle(*args)


def test_throttle_allows_a_burst_then_one_per_refill() -> None:
    """After ``burst`` failures an address is refused until its bucket refills; other addresses are not."""
    t = FailureThrottle(burst=3, rate_per_s=0.5)
    assert [t.fail("a", 0.0) for _ in range(3)] == [True, False, False]
    assert [t.allow("a", 0.0), t.allow("b", 0.0), t.retry_after_s("a", 1.0), t.retry_after_s("b", 0.0)] == [
        False,
        True,
        1.0,
        0.0,
    ]
    assert [t.allow("a", 1.9), t.allow("a", 2.0), t.retry_after_s("a", 2.0)] == [False, True, 0.0]
    t.fail("a", 2.0)
    assert t.allow("a", 2.0) is False
    assert t.summary() == [("a", 3, 3)]
    assert t.summary() == []
    assert t.fail("a", 100.0) is True  # first failure after a summary is reported again


def test_throttle_clock_going_back_does_not_refill() -> None:
    """A ``now`` earlier than the last one adds nothing."""
    t = FailureThrottle(burst=1, rate_per_s=1.0)
    t.fail("a", 10.0)
    assert (t.allow("a", 5.0), t.allow("a", 10.5), t.allow("a", 11.0)) == (False, False, True)


def test_throttle_table_forgets_recovered_addresses_first_then_the_oldest() -> None:
    """A full table drops addresses that recovered and were reported, else the least recently added."""
    t = FailureThrottle(burst=1, rate_per_s=1.0, max_addresses=2)
    t.fail("a", 0.0)
    t.fail("b", 0.0)
    t.summary()
    t.fail("c", 0.5)  # neither recovered yet: a (oldest) goes
    assert (len(t), t.allow("a", 0.5), t.allow("b", 0.5)) == (2, True, False)
    t.summary()
    t.fail("d", 5.0)  # b and c recovered and reported: both go
    assert (len(t), t.allow("b", 5.0), t.allow("c", 5.0), t.allow("d", 5.0)) == (1, True, True, False)


@given(
    st.integers(1, 5),
    st.floats(0.1, 10.0),
    st.lists(st.tuples(st.sampled_from("abc"), st.floats(0.0, 5.0)), max_size=60),
)
def test_throttle_never_checks_more_than_burst_plus_rate_times_elapsed(
    burst: int, rate: float, steps: list[tuple[str, float]]
) -> None:
    """An attacker failing as fast as it is allowed gets at most burst + rate x elapsed tokens checked."""
    t = FailureThrottle(burst=burst, rate_per_s=rate)
    now = 0.0
    checked = 0
    for address, dt in steps:
        now += dt
        if address == "a" and t.allow("a", now):
            t.fail("a", now)
            checked += 1
    assert checked <= burst + rate * now + 1e-9
