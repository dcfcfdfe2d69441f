"""gateway.fleet.ledger: de-duplication by (boot, seq) and holes per sensor chain."""

from __future__ import annotations

import json

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


# -- snapshot and restore (a restart of the fleet) ---------------------------------------------------------------

_offer = st.tuples(
    st.sampled_from([f"b{i}" for i in range(L.MAX_BOOTS_PER_GATEWAY + 2)]),
    st.sampled_from(["s", "t"]),
    st.integers(0, 40),
    st.integers(-1, 40),
)


def _json_round_trip(led: GatewayLedger) -> GatewayLedger:
    restored, skipped = GatewayLedger.restore(json.loads(json.dumps(led.snapshot())))
    assert skipped == 0
    return restored


@settings(max_examples=300, deadline=None)
@given(offers=st.lists(_offer, max_size=80), data=st.data())
def test_a_snapshot_restored_at_any_point_gives_the_same_verdicts_as_an_uninterrupted_ledger(
    offers: list[tuple[str, str, int, int]], data: st.DataObject
) -> None:
    """Property: any offers (several boots, eviction, holes, duplicates, malformed ones), split anywhere; the
    rest offered to a ledger restored from the JSON of the first part's snapshot gets the same verdicts, and
    ends with the same counters, open gaps and snapshot as the ledger that never stopped."""
    split = data.draw(st.integers(0, len(offers)))
    whole = GatewayLedger()
    for o in offers[:split]:
        whole.offer(*o)
    resumed = _json_round_trip(whole)
    assert resumed.snapshot() == whole.snapshot()
    assert [resumed.offer(*o) for o in offers[split:]] == [whole.offer(*o) for o in offers[split:]]
    assert resumed.counters == whole.counters
    assert resumed.open_gaps() == whole.open_gaps()
    assert resumed.snapshot() == whole.snapshot()


def test_a_snapshot_lists_boots_least_recent_first_with_chains_holes_and_counters() -> None:
    """The snapshot is plain data: boots in the order they would be forgotten, each sensor's last seq and holes
    ``[after, upto, counted]`` (the fleet's first reading's uncounted backlog too), every counter."""
    led = GatewayLedger()
    for o in [("b1", "s", 5, 3), ("b2", "s", 1, 0), ("b1", "s", 9, 7), ("b1", "s", 9, 7)]:
        led.offer(*o)
    assert led.snapshot() == {
        "boots": [["b2", {"s": [1, []]}], ["b1", {"s": [9, [[0, 3, False], [5, 7, True]]]}]],
        "counters": {
            "received": 3,
            "duplicates": 1,
            "invalid": 0,
            "gaps": 1,
            "late": 0,
            "lost": 0,
            "refused": 0,
        },
    }


def test_restore_skips_and_counts_every_invalid_value_and_keeps_the_valid_ones() -> None:
    """A hand-edited snapshot: wrong types, out-of-range seqs, bools for ints, unknown counters, a duplicate
    boot, over-long keys, holes outside their chain, overlapping or malformed: each is skipped and counted, the
    rest restored as written."""
    data = {
        "counters": {"received": 7, "gaps": -1, "late": True, "nope": 1, "lost": "3"},
        "boots": [
            "not-a-pair",
            ["", {}],
            ["x" * (L.MAX_KEY_CHARS + 1), {}],
            ["b1", []],
            [
                "b2",
                {
                    "ok": [20, [[0, 3, False], [5, 7, True], [6, 9, True], [12, 20, True], [13, 15, 1]]],
                    "bad-last": [0, []],
                    "bool-last": [True, []],
                    "big-last": [L.MAX_SEQ + 1, []],
                    "not-a-list": {"last": 3},
                    "short": [3],
                    "holes-not-a-list": [4, {}],
                    "odd-holes": [
                        30,
                        ["x", [1, 2], [-1, 3, True], [2, 2, True], [3, 4.0, True], [5, 8, True]],
                    ],
                    "y" * (L.MAX_KEY_CHARS + 1): [1, []],
                },
            ],
            ["b2", {}],
        ],
    }
    led, skipped = GatewayLedger.restore(data)
    assert led.snapshot() == {
        "boots": [
            [
                "b2",
                {
                    "ok": [20, [[0, 3, False], [5, 7, True]]],
                    "holes-not-a-list": [4, []],
                    "odd-holes": [30, [[5, 8, True]]],
                },
            ]
        ],
        "counters": {
            "received": 7,
            "duplicates": 0,
            "invalid": 0,
            "gaps": 0,
            "late": 0,
            "lost": 0,
            "refused": 0,
        },
    }
    # counters 4, boots 5 (incl. the duplicate b2), chains 6, holes 3 + 1 + 5
    assert skipped == 4 + 5 + 6 + 3 + 1 + 5


@pytest.mark.parametrize(
    "data",
    [None, [], "ledger", {"boots": "x"}, {"counters": [], "boots": None}],
    ids=["none", "list", "str", "boots-not-a-list", "neither"],
)
def test_restore_of_something_else_than_a_snapshot_is_an_empty_ledger(data: object) -> None:
    """Data that is not a snapshot at all restores an empty ledger, counted as skipped, and raises nothing."""
    led, skipped = GatewayLedger.restore(data)
    assert led.snapshot() == GatewayLedger().snapshot() and skipped >= 1


def test_restore_never_grows_past_the_ledgers_limits() -> None:
    """Too many boots, sensors or holes: the most recent boots, the first sensors and the newest holes are kept,
    as the ledger's own limits would have kept them, and the rest is counted as skipped."""
    n_boots, n_sensors, n_holes = (
        L.MAX_BOOTS_PER_GATEWAY + 2,
        L.MAX_SENSORS_PER_BOOT + 3,
        L.MAX_HOLES_PER_SENSOR + 5,
    )
    holes = [[2 * i, 2 * i + 1, True] for i in range(n_holes)]
    data = {
        "counters": {},
        "boots": [[f"b{i}", {"s": [1, []]}] for i in range(n_boots - 1)]
        + [["last", {**{f"s{i}": [1, []] for i in range(n_sensors - 1)}, "s0": [10_000, holes]}]],
    }
    led, skipped = GatewayLedger.restore(data)
    snap = led.snapshot()
    assert [b for b, _ in snap["boots"]] == [
        f"b{i}" for i in range(n_boots - L.MAX_BOOTS_PER_GATEWAY, n_boots - 1)
    ] + ["last"]
    chains = snap["boots"][-1][1]
    assert len(chains) == L.MAX_SENSORS_PER_BOOT
    assert chains["s0"][1] == holes[-L.MAX_HOLES_PER_SENSOR :]
    assert skipped == (n_boots - L.MAX_BOOTS_PER_GATEWAY) + (n_sensors - 1 - L.MAX_SENSORS_PER_BOOT) + 5


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 2**64) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {},
        optional={
            "counters": _json | st.dictionaries(st.sampled_from(["received", "gaps", "x"]), _json),
            "boots": st.lists(
                st.tuples(st.text(max_size=3), st.dictionaries(st.text(max_size=2), _json, max_size=4)).map(
                    list
                )
                | _json,
                max_size=6,
            ),
        },
    )
)
def test_restore_of_any_json_never_raises_and_stays_within_the_limits(data: dict[str, object]) -> None:
    """Property: restoring arbitrary JSON-shaped data raises nothing, stays within the limits, and the restored
    ledger's own snapshot restores with nothing skipped and offers work on it."""
    led, _ = GatewayLedger.restore(data)
    snap = led.snapshot()
    assert len(snap["boots"]) <= L.MAX_BOOTS_PER_GATEWAY
    assert all(len(chains) <= L.MAX_SENSORS_PER_BOOT for _, chains in snap["boots"])
    assert _json_round_trip(led).snapshot() == snap
    assert led.offer("b", "s", 1, 0).kind in ("new", "duplicate", "fill")
