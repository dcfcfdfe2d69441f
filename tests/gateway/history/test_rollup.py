"""Rollup maths: min/max stay exact under any regrouping; buckets close in order (pure)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gateway.history.rollup import (
    RUN_MAX_READINGS,
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


# -- Rollup.add_run: the writer's column-by-column path folds exactly as reading by reading ------------------

RUN_PERIOD = 100


def cell_key(cell: list[Any]) -> list[Any]:
    """A cell with NaN made comparable (NaN != NaN) and the sum rounded: ``sum()`` may compensate rounding."""

    def norm(v: Any) -> Any:
        return "nan" if isinstance(v, float) and math.isnan(v) else v

    out = [norm(v) for v in cell]
    if isinstance(cell[4], float) and math.isfinite(cell[4]):
        out[4] = round(cell[4], 3)
    return out


def closed_key(closed: list[tuple[int, dict[str, list[Any]]]]) -> list[Any]:
    return [(start, {k: cell_key(c) for k, c in cells.items()}) for start, cells in closed]


def by_reading(rollup: Rollup, times: list[int], values: list[dict[str, Any]]) -> list[Any]:
    return [c for c in (rollup.add(t, v) for t, v in zip(times, values, strict=True)) if c is not None]


numbers = st.one_of(st.floats(-1e6, 1e6), st.integers(-1000, 1000))
odd_values = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, True, False, "on", 0.0, -0.0]),
    st.integers(-(2**70), 2**70),
)


@st.composite
def reading_runs(draw: st.DrawFn) -> tuple[list[int], list[dict[str, Any]], list[int]]:
    """Times (in order, or not), values with the same fields (or not), and where the writer's commits cut them."""
    n = draw(st.integers(1, 90))
    times = sorted(draw(st.lists(st.integers(0, 3 * RUN_PERIOD), min_size=n, max_size=n)))
    if draw(st.integers(0, 5)) == 0:
        times = draw(st.permutations(times))  # a clock stepped back
    fields = draw(st.lists(st.sampled_from("xyz"), min_size=1, max_size=3, unique=True))
    value = st.one_of(numbers, odd_values) if draw(st.booleans()) else numbers
    values = []
    for _ in range(n):
        row = {f: draw(value) for f in fields}
        if draw(st.integers(0, 40)) == 0:
            row.pop(fields[0])  # a reading without one of the fields
        values.append(row)
    cuts = sorted(set(draw(st.lists(st.integers(0, n), max_size=3))))
    return times, values, cuts


@given(reading_runs())
def test_add_run_folds_as_reading_by_reading(run: tuple[list[int], list[dict[str, Any]], list[int]]) -> None:
    """Any commit split: the buckets add_run closes and the open cells equal folding every reading with add()."""
    times, values, cuts = run
    one, many = Rollup(RUN_PERIOD), Rollup(RUN_PERIOD)
    expected = by_reading(one, times, values)
    got: list[Any] = []
    for a, b in zip([0, *cuts], [*cuts, len(times)], strict=True):
        got += many.add_run(times[a:b], values[a:b])
    assert closed_key(got) == closed_key(expected)
    assert many.start_ns == one.start_ns
    assert {k: cell_key(c) for k, c in many.cells.items()} == {k: cell_key(c) for k, c in one.cells.items()}


def test_add_run_cases() -> None:
    """Each way through add_run: short runs, a clock step back, short pieces, changing fields, NaN, states."""
    steady = [{"v": float(i % 7), "s": "on"} for i in range(40)]
    r = Rollup(100)
    assert r.add_run(list(range(40)), steady) == []  # one bucket, column by column
    assert r.cells == {"v": [40, 40, 0.0, 6.0, 115.0, 4.0], "s": [40, 0, None, None, None, "on"]}
    assert r.add_run(list(range(40, 60)), steady[:20]) == []  # the same open bucket continues
    assert r.cells["v"][:4] == [60, 60, 0.0, 6.0]
    # 20 readings past the bucket edge: the open bucket closes, the next one starts with the rest
    closed = r.add_run(list(range(90, 130)), steady)
    assert [start for start, _ in closed] == [0] and closed[0][1]["v"][0] == 70
    assert r.start_ns == 100 and r.cells["v"][0] == 30
    # a clock step back: reading by reading, as add() would
    back = Rollup(100)
    assert back.add_run([150, *range(20)], [{"v": 1}] * 21) == [(100, {"v": [1, 1, 1, 1, 1.0, 1]})]
    assert back.start_ns == 0 and back.cells == {"v": [20, 20, 1, 1, 20.0, 1]}
    # fields that differ between readings, NaN in a column, a state column that turns numeric
    odd = Rollup(100)
    rows: list[dict[str, Any]] = [{"v": 1.0}] * 10 + [{"v": 2.0, "w": 1}] * 10
    odd.add_run(list(range(20)), rows)
    assert odd.cells == {"v": [20, 20, 1.0, 2.0, 30.0, 2.0], "w": [10, 10, 1, 1, 10.0, 1]}
    nan = Rollup(100)
    nan.add_run(list(range(20)), [{"v": 5.0}, {"v": math.nan}, *[{"v": 1.0}] * 18])
    assert cell_key(nan.cells["v"]) == [20, 20, 1.0, 5.0, "nan", 1.0]
    states = Rollup(100)
    states.add_run(list(range(20)), [{"v": "off"}] + [{"v": 3}] * 19)
    assert states.cells["v"] == [20, 19, 3, 3, 57.0, 3]


def test_one_odd_reading_costs_one_piece_not_the_run() -> None:
    """A reading with other fields in a long run (a driver's first reading) folds as add() would; only its piece
    goes reading by reading, the others column by column."""
    n = 3 * RUN_MAX_READINGS
    values: list[dict[str, Any]] = [{"v": float(i % 11), "w": i} for i in range(n)]
    values[RUN_MAX_READINGS + 5] = {"v": -1.0}
    times = list(range(n))
    each: list[int] = []

    class Counting(Rollup):
        __slots__ = ()

        def _add_each(self, t: Any, v: Any) -> Any:
            each.append(len(t))
            return super()._add_each(t, v)

    one, many = Rollup(10 * n), Counting(10 * n)
    by_reading(one, times, values)
    assert many.add_run(times, values) == []
    assert each == [RUN_MAX_READINGS]
    assert many.cells == one.cells and many.cells["v"][:4] == [n, n, -1.0, 10.0]
