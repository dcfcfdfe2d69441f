"""gateway.fleet.ledger: de-duplication by (boot, seq) and holes per sensor chain."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.fleet import ledger as L
from gateway.fleet.ledger import GatewayLedger


def kinds(led: GatewayLedger, offers: list[tuple[str, str, int, int]]) -> list[str]:
    return [led.offer(*o).kind for o in offers]


def test_a_continuous_chain_is_new_and_a_redelivery_is_a_duplicate() -> None:
    """seq after seq with matching prev: new; the same (boot, seq) again: duplicate, counted."""
    led = GatewayLedger()
    assert kinds(led, [("b", "s", 1, 0), ("b", "s", 3, 1), ("b", "s", 3, 1), ("b", "s", 1, 0)]) == [
        "new",
        "new",
        "duplicate",
        "duplicate",
    ]
    assert (led.counters.received, led.counters.duplicates, led.counters.gaps) == (2, 2, 0)


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


def test_history_before_the_first_reading_is_accepted_but_never_a_gap() -> None:
    """The first reading seen may chain to older ones (a backlog still replaying): those fill silently."""
    led = GatewayLedger()
    assert kinds(led, [("b", "s", 9, 5), ("b", "s", 5, 2), ("b", "s", 2, 0), ("b", "s", 2, 0)]) == [
        "new",
        "fill",
        "fill",
        "duplicate",
    ]
    assert (led.counters.gaps, led.counters.late, led.open_gaps()) == (0, 0, 0)


def test_malformed_identities_are_invalid() -> None:
    """seq 0, prev >= seq, negative prev and a seq beyond 2**63-1 are refused and counted."""
    led = GatewayLedger()
    assert (
        kinds(led, [("b", "s", 0, 0), ("b", "s", 5, 5), ("b", "s", 5, -1), ("b", "s", L.MAX_SEQ + 1, 0)])
        == ["invalid"] * 4
    )
    assert led.counters.invalid == 4 and not L.Verdict("invalid").deliver


def test_an_inconsistent_prev_below_the_last_seq_is_new_not_a_gap() -> None:
    """prev older than the last delivered seq (a chain the gateway restarted): delivered, no hole."""
    led = GatewayLedger()
    assert kinds(led, [("b", "s", 10, 0), ("b", "s", 12, 3)]) == ["new", "new"]
    assert led.open_gaps() == 0


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
