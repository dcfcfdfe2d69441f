"""Rollup maths: min/max stay exact under any regrouping; buckets close in order (pure)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.history.rollup import (
    Rollup,
    add_value,
    downsample_cells,
    downsample_values,
    is_number,
    merge_cell,
    new_cell,
    wire_row,
)

values = st.one_of(
    st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9, allow_nan=False), st.booleans(), st.text(max_size=3)
)


def fold(vals: list[Any]) -> list[Any]:
    cell = new_cell(vals[0])
    for v in vals[1:]:
        add_value(cell, v)
    return cell


def test_cells_of_numbers_and_states() -> None:
    """Numbers get min/max/sum; bools and strings only count and last."""
    assert fold([3, 1.5, 7, 2]) == [4, 4, 1.5, 7, 13.5, 2]
    assert fold([True, "x", False]) == [3, 0, None, None, None, False]
    assert fold(["x", 5, True, 2]) == [4, 2, 2, 5, 7, 2]
    assert wire_row(9, fold([1, 3])) == [9, 2, 1, 3, 2.0, 3]
    assert wire_row(9, fold(["on"])) == [9, 1, None, None, None, "on"]
    assert [is_number(v) for v in (1, 1.0, True, "1", None)] == [True, True, False, False, False]


@given(st.lists(values, min_size=2, max_size=60), st.data())
def test_merging_any_split_equals_folding_all(vals: list[Any], data: st.DataObject) -> None:
    """Merging the cells of consecutive parts gives the cell of the whole: peaks survive every rollup level."""
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(vals) - 1), max_size=5))))
    parts = [vals[a:b] for a, b in zip([0, *cuts], [*cuts, len(vals)], strict=True)]
    merged = fold(parts[0])
    for p in parts[1:]:
        merge_cell(merged, fold(p))
    whole = fold(vals)
    assert merged[:4] == whole[:4] and merged[5] == whole[5]
    if whole[1]:
        assert abs(merged[4] - whole[4]) <= 1e-6 * (1 + sum(abs(v) for v in vals if is_number(v)))
    else:
        assert merged[4] is None


def test_merge_into_cell_without_numbers() -> None:
    """A numeric later cell fills min/max/sum of a cell that had only states."""
    cell = fold(["a"])
    merge_cell(cell, fold([4, 2]))
    assert cell == [3, 2, 2, 4, 6, 2]
    merge_cell(cell, fold(["b"]))
    assert cell == [4, 2, 2, 4, 6, "b"]


def test_rollup_closes_buckets_in_order() -> None:
    """A value for a later (or, after a clock step, earlier) bucket closes the open one; drain hands out the rest."""
    r = Rollup(10)
    out = [r.add(t, {"v": t}) for t in (0, 5, 9, 10, 25, 3)]
    assert out == [
        None,
        None,
        None,
        (0, {"v": [3, 3, 0, 9, 14, 9]}),
        (10, {"v": [1, 1, 10, 10, 10, 10]}),
        (20, {"v": [1, 1, 25, 25, 25, 25]}),
    ]
    assert r.drain() == (0, {"v": [1, 1, 3, 3, 3, 3]})
    assert r.drain() is None


def test_rollup_of_cells() -> None:
    """Finer buckets fold into coarser ones exactly."""
    r = Rollup(60)
    assert r.add_cells(0, {"v": [2, 2, 1, 5, 6, 5]}) is None
    assert r.add_cells(30, {"v": [1, 1, -4, -4, -4, -4], "w": [1, 0, None, None, None, "x"]}) is None
    assert r.add_cells(60, {"v": [1, 1, 0, 0, 0, 0]}) == (
        0,
        {"v": [3, 3, -4, 5, 2, -4], "w": [1, 0, None, None, None, "x"]},
    )


def test_downsample_values_and_cells() -> None:
    """Points and rollup rows group into buckets aligned on the range start, sorted by time."""
    assert downsample_values([(5, 1), (7, 4), (16, 2), (25, "x")], 5, 10) == [
        (5, [2, 2, 1, 4, 5, 4]),
        (15, [1, 1, 2, 2, 2, 2]),
        (25, [1, 0, None, None, None, "x"]),
    ]
    rows = [(0, [1, 1, 3, 3, 3, 3]), (60, [2, 2, 1, 9, 10, 9]), (120, [1, 1, 0, 0, 0, 0])]
    assert downsample_cells(rows, 0, 120) == [(0, [3, 3, 1, 9, 13, 9]), (120, [1, 1, 0, 0, 0, 0])]


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(-100, 100)), min_size=1, max_size=80))
def test_downsample_keeps_extremes(points: list[tuple[int, int]]) -> None:
    """Downsampling never loses the global min or max, nor a reading (counts add up)."""
    points.sort(key=lambda p: p[0])
    grouped = downsample_values(points, 0, 97)
    assert min(c[2] for _, c in grouped) == min(v for _, v in points)
    assert max(c[3] for _, c in grouped) == max(v for _, v in points)
    assert sum(c[0] for _, c in grouped) == len(points)
