"""Bucket: per-period min/max/mean/last that keeps peaks; non-numeric values only carry last."""

from __future__ import annotations

from gateway.protocol.aggregate import Bucket
from gateway.protocol.model import Reading

Value = float | int | bool | str | None

ALL = ("min", "max", "mean", "last")


def test_empty_bucket_has_no_fields() -> None:
    """A fresh bucket yields an entry with n 0 and no fields."""
    assert Bucket().entry("env", ALL) == ["env", 0, 0, 0, {}]


def test_numbers_keep_peaks_and_mean_while_other_kinds_carry_last() -> None:
    """Ints and floats get min/max/mean; bools, strings and None only update last; t0/t1 span the readings."""
    bucket = Bucket()
    rows: list[tuple[int, dict[str, Value]]] = [
        (100, {"t": 20, "ok": True, "state": "ok", "x": None}),
        (200, {"t": 25.5, "ok": False, "x": 3}),
        (300, {"t": -4, "state": "failing", "x": None, "late": 1.5}),
        (400, {"t": 10}),
    ]
    for ts_ns, values in rows:
        bucket.add(Reading(ts_ns // 100, 0, ts_ns, "env", values))
    assert bucket.entry("env", ALL) == [
        "env",
        100,
        400,
        4,
        {
            "t": [-4, 25.5, 12.875, 10],
            "ok": [None, None, None, False],
            "state": [None, None, None, "failing"],
            "x": [3, 3, 3.0, None],
            "late": [1.5, 1.5, 1.5, 1.5],
        },
    ]


def test_unrequested_aggregates_are_nil() -> None:
    """Only the requested aggregates are filled in; the others are nil."""
    bucket = Bucket()
    bucket.add(Reading(1, 0, 5, "imu", {"ax": 2.0}))
    bucket.add(Reading(2, 1, 6, "imu", {"ax": 4.0}))
    assert [bucket.entry("imu", (w,))[4]["ax"] for w in ALL] == [
        [2.0, None, None, None],
        [None, 4.0, None, None],
        [None, None, 3.0, None],
        [None, None, None, 4.0],
    ]
    assert bucket.entry("imu", ())[4] == {"ax": [None, None, None, None]}
