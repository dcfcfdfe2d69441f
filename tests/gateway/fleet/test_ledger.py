"""gateway.fleet.ledger: de-duplication by (boot, seq) and holes per sensor chain."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fleet import ledger as L
from gateway.fleet.ledger import GatewayLedger


def kinds(led: GatewayLedger, offers: list[tuple[str, str, int, int]]) -> list[str]:
    return [led.offer(*o).kind for o in offers]


@pytest.mark.parametrize(
    ("offers", "expected", "counters"),
    [
        pytest.param(
            [(1, 0), (3, 1), (3, 1), (1, 0)],
            ["new", "new", "duplicate", "duplicate"],
            {"received": 2, "duplicates": 2, "gaps": 0},
            id="seq-after-seq-is-new-the-same-boot-seq-again-a-counted-duplicate",
        ),
        pytest.param(
            [(9, 5), (5, 2), (2, 0), (2, 0)],
            ["new", "fill", "fill", "duplicate"],
            {"gaps": 0, "late": 0},
            id="older-readings-the-first-one-chains-to-a-backlog-fill-silently",
        ),
        pytest.param(
            [(10, 0), (12, 3)],
            ["new", "new"],
            {"gaps": 0},
            id="a-prev-below-the-last-seq-a-restarted-chain-is-new-not-a-gap",
        ),
    ],
)
def test_a_chain_without_holes(
    offers: list[tuple[int, int]], expected: list[str], counters: dict[str, int]
) -> None:
    """A chain without holes: each (seq, prev) offer gets its verdict, the counters match, no hole is open."""
    led = GatewayLedger()
    assert kinds(led, [("b", "s", seq, prev) for seq, prev in offers]) == expected
    assert {k: getattr(led.counters, k) for k in counters} == counters
    assert led.open_gaps() == 0


def test_a_hole_is_reported_then_filled_by_late_readings_from_both_ends() -> None:
    """prev beyond the last seq opens a hole (reported with its bounds); late readings inside it are fill, in any
    order; a re-delivery of a fill is a duplicate; once every missing reading came, no gap is open."""
    led = GatewayLedger()
    led.offer("b", "s", 10, 0)
    v = led.offer("b", "s", 50, 40)
    assert (v.kind, v.after, v.upto, v.deliver) == ("gap", 10, 40, True)
    assert led.open_gaps() == 1
    assert kinds(led, [("b", "s", 30, 20), ("b", "s", 30, 20), ("b", "s", 20, 10), ("b", "s", 40, 30)]) == [
        "fill",
        "duplicate",
        "fill",
        "fill",
    ]
    assert led.open_gaps() == 0
    assert (led.counters.gaps, led.counters.late, led.counters.lost) == (1, 3, 0)


def test_malformed_identities_are_invalid() -> None:
    """seq 0, prev >= seq, negative prev and a seq beyond 2**63-1 are refused and counted."""
    led = GatewayLedger()
    assert (
        kinds(led, [("b", "s", 0, 0), ("b", "s", 5, 5), ("b", "s", 5, -1), ("b", "s", L.MAX_SEQ + 1, 0)])
        == ["invalid"] * 4
    )
    assert led.counters.invalid == 4 and not L.Verdict("invalid").deliver


def test_boots_and_sensors_are_separate_chains_and_bounded() -> None:
    """The same seq in another boot or sensor is new; past MAX_BOOTS_PER_GATEWAY the least recent boot is
    forgotten (its open holes counted lost); past MAX_SENSORS_PER_BOOT a new sensor is refused."""
    led = GatewayLedger()
    led.offer("b0", "s", 5, 0)
    led.offer("b0", "s", 9, 7)  # a hole in boot b0
    assert kinds(led, [("b1", "s", 5, 0), ("b0", "t", 5, 0)]) == ["new", "new"]
    for i in range(2, L.MAX_BOOTS_PER_GATEWAY + 1):
        led.offer(f"b{i}", "s", 1, 0)
    assert led.counters.lost == 0  # b1 was the least recent (b0 was touched again)
    led.offer("bx", "s", 1, 0)
    assert led.counters.lost == 1  # b0 went, with its hole
    for i in range(L.MAX_SENSORS_PER_BOOT - 1):
        led.offer("bx", f"x{i}", 1, 0)
    assert led.offer("bx", "one-too-many", 1, 0).kind == "invalid"
    assert led.counters.refused == 1


def test_holes_beyond_the_cap_are_given_up_oldest_first() -> None:
    """Past MAX_HOLES_PER_SENSOR open holes the oldest is counted lost; a reading in it is then a duplicate."""
    led = GatewayLedger()
    led.offer("b", "s", 1, 0)
    seq = 1
    for _ in range(L.MAX_HOLES_PER_SENSOR + 1):
        led.offer("b", "s", seq + 2, seq + 1)
        seq += 2
    assert (led.open_gaps(), led.counters.lost) == (L.MAX_HOLES_PER_SENSOR, 1)
    assert led.offer("b", "s", 2, 1).kind == "duplicate"
    assert led.offer("b", "s", 4, 3).kind == "fill"


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 60),
    data=st.data(),
)
def test_any_interleaving_with_redeliveries_delivers_each_reading_exactly_once(
    n: int, data: st.DataObject
) -> None:
    """Property: one sensor's chain, split into a live and a backlog stream (each in seq order), interleaved
    arbitrarily with arbitrary re-deliveries: every reading is delivered exactly once and no gap stays open."""
    seqs = sorted(data.draw(st.sets(st.integers(1, 500), min_size=n, max_size=n)))
    chain = [(s, p) for s, p in zip(seqs, [0, *seqs[:-1]], strict=True)]
    cut = data.draw(st.integers(0, n))
    backlog, live = chain[:cut], chain[cut:]
    first_seen = data.draw(st.booleans())
    led = GatewayLedger()
    if first_seen and backlog:
        led.offer("b", "s", *backlog[0])  # the fleet saw the first reading before the outage
    order: list[tuple[int, int]] = []
    while backlog or live:
        src = backlog if backlog and (not live or data.draw(st.booleans())) else live
        item = src.pop(0)
        order.append(item)
        if data.draw(st.booleans()):
            order.append(item)  # QoS 1 re-delivery
    delivered = [o for o in order if led.offer("b", "s", *o).deliver]
    if first_seen and chain[:cut]:
        delivered.insert(0, chain[0])
    assert sorted(set(delivered)) == sorted(delivered) == chain
    assert led.open_gaps() == 0 and led.counters.lost == 0
