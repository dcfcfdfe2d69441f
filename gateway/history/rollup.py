"""Rollup maths: min/max/mean/last/count per field and period, exact under any regrouping. Pure.

A *cell* summarises the values of one field over one period: ``[n, nnum, min, max, sum, last]`` where ``n``
counts every value, ``nnum`` the numeric ones (bools and strings only update ``last``, as in live ``agg``),
and ``min``/``max``/``sum`` are None while ``nnum`` is 0. ``sum`` is a float: a sum of integer counters (bytes,
uptimes) would overflow the 64-bit integers a chunk can hold, and only the mean is derived from it. Merging
cells in time order gives the same cell as folding their values one by one, so minute and hour rollups keep
every peak exactly.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from operator import le
from typing import Any, TypeVar

from gateway.history.codec import PIECE_ROWS, field_columns

Cell = list[Any]
"""``[n, nnum, min, max, sum, last]`` (a list: folded in place on the writer's hot path)."""
Cells = dict[str, Cell]
N, NNUM, MIN, MAX, SUM, LAST = range(6)
T = TypeVar("T")
Closed = tuple[int, Cells]
"""A bucket a rollup closed: its start and its cells."""

RUN_MIN_READINGS = 16
"""Fewest readings in one bucket that :meth:`Rollup.add_run` folds column by column; fewer go reading by reading.
A piece's fixed cost (a few C passes per field and their bookkeeping, ~3 us for three fields) is ~10-15 readings'
worth of the per-reading loop (~0.25 us a reading for three fields); see docs/benchmarks.md "History writer"."""
RUN_MAX_READINGS = PIECE_ROWS
"""Most readings :meth:`Rollup.add_run` folds as one piece: a piece with a reading whose fields differ (an optional
field, a driver's first reading) goes reading by reading, so one odd reading costs at most this many readings the
fast path; big enough that a piece's fixed cost is nothing per reading."""
_NUMBER_TYPES = frozenset((int, float))


def is_number(value: object) -> bool:
    """True for int and float, not bool (a bool is a state, not a quantity to average)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def new_cell(value: object) -> Cell:
    """The cell of a single value."""
    if is_number(value):
        return [1, 1, value, value, float(value), value]  # type: ignore[arg-type]
    return [1, 0, None, None, None, value]


def add_value(cell: Cell, value: object) -> None:
    """Fold ``value`` (later than everything in ``cell``) into ``cell``."""
    cell[N] += 1
    cell[LAST] = value
    if is_number(value):
        if cell[NNUM]:
            if value < cell[MIN]:
                cell[MIN] = value
            elif value > cell[MAX]:
                cell[MAX] = value
            cell[SUM] += value
        else:
            cell[MIN] = cell[MAX] = value
            cell[SUM] = float(value)  # type: ignore[arg-type]
        cell[NNUM] += 1


def merge_cell(cell: Cell, later: Cell) -> None:
    """Fold ``later`` (covering a period after ``cell``'s) into ``cell``."""
    cell[N] += later[N]
    cell[LAST] = later[LAST]
    if later[NNUM]:
        if cell[NNUM]:
            cell[MIN] = min(cell[MIN], later[MIN])
            cell[MAX] = max(cell[MAX], later[MAX])
            cell[SUM] += later[SUM]
        else:
            cell[MIN], cell[MAX], cell[SUM] = later[MIN], later[MAX], later[SUM]
        cell[NNUM] += later[NNUM]


def wire_row(t_ns: int, cell: Cell) -> list[Any]:
    """A point as queries return it: ``[t_ns, n, min, max, mean, last]`` (mean None without numbers)."""
    nnum = cell[NNUM]
    mean = cell[SUM] / nnum if nnum else None
    return [t_ns, cell[N], cell[MIN], cell[MAX], mean, cell[LAST]]


class Rollup:
    """Accumulates one sensor's values into buckets of ``period_ns``; closed buckets come out of :meth:`add`.

    A bucket closes when a value arrives for another bucket (later, or earlier when the clock stepped back);
    :meth:`drain` hands out the open one (shutdown). Bucket start = ``ts - ts % period_ns``.
    """

    __slots__ = ("cells", "period_ns", "start_ns")

    def __init__(self, period_ns: int) -> None:
        self.period_ns = period_ns
        self.start_ns: int | None = None
        self.cells: Cells = {}

    def _roll(self, ts_ns: int) -> tuple[int, Cells] | None:
        start = ts_ns - ts_ns % self.period_ns
        if start == self.start_ns:
            return None
        closed = (self.start_ns, self.cells) if self.start_ns is not None else None
        self.start_ns = start
        self.cells = {}
        return closed

    def add(self, ts_ns: int, values: Mapping[str, object]) -> tuple[int, Cells] | None:
        """Fold one reading in; returns the bucket it closed, if any."""
        # The same bucket as the previous reading is the common case (the writer's hot path): no call for it.
        closed = None if ts_ns - ts_ns % self.period_ns == self.start_ns else self._roll(ts_ns)
        cells = self.cells
        for name, value in values.items():
            cell = cells.get(name)
            if cell is None:
                cells[name] = new_cell(value)
                continue
            kind = type(value)
            if (kind is float or kind is int) and cell[
                NNUM
            ]:  # the common case, inlined (the writer's hot loop)
                cell[N] += 1
                cell[NNUM] += 1
                cell[LAST] = value
                if value < cell[MIN]:
                    cell[MIN] = value
                elif value > cell[MAX]:
                    cell[MAX] = value
                cell[SUM] += value
            else:
                add_value(cell, value)
        return closed

    def add_run(self, times: Sequence[int], values: Sequence[Mapping[str, object]]) -> list[Closed]:
        """Fold readings in, in arrival order (``times[i]`` stamps ``values[i]``); returns the buckets they closed,
        in order. The same cells as :meth:`add` for each reading (a float ``sum`` may differ in its last bits where
        Python's ``sum`` compensates rounding, 3.12 on).

        The writer's hot path: readings in time order are cut at bucket edges (a binary search) and into pieces of
        at most :data:`RUN_MAX_READINGS`; a piece of at least :data:`RUN_MIN_READINGS` readings with the same fields
        in every reading is folded column by column
        (``min``/``max``/``sum`` in C); anything else (a clock step back, changing fields) goes reading by reading.
        """
        n = len(times)
        if n < RUN_MIN_READINGS or not all(map(le, times, islice(times, 1, None))):
            return self._add_each(times, values)
        out: list[Closed] = []
        period = self.period_ns
        i = 0
        while i < n:
            t = times[i]
            start = t - t % period
            j = bisect_left(times, start + period, i)
            for k in range(i, j, RUN_MAX_READINGS):
                e = min(j, k + RUN_MAX_READINGS)
                columns = field_columns(values[k:e]) if e - k >= RUN_MIN_READINGS else None
                if columns is None:
                    out += self._add_each(times[k:e], values[k:e])
                    continue
                if start != self.start_ns:
                    closed = self._roll(start)
                    if closed is not None:
                        out.append(closed)
                cells = self.cells
                for name, col in columns.items():
                    _fold_column(cells, name, col)
            i = j
        return out

    def _add_each(self, times: Sequence[int], values: Sequence[Mapping[str, object]]) -> list[Closed]:
        out = []
        for ts, vals in zip(times, values, strict=True):
            closed = self.add(ts, vals)
            if closed is not None:
                out.append(closed)
        return out

    def add_cells(self, ts_ns: int, more: Mapping[str, Cell]) -> tuple[int, Cells] | None:
        """Fold a finer bucket's cells in (its start ``ts_ns``); returns the bucket it closed, if any."""
        closed = self._roll(ts_ns)
        cells = self.cells
        for name, cell in more.items():
            mine = cells.get(name)
            if mine is None:
                cells[name] = list(cell)
            else:
                merge_cell(mine, cell)
        return closed

    def drain(self) -> tuple[int, Cells] | None:
        """Hand out the open bucket (None when empty) and start afresh."""
        if self.start_ns is None:
            return None
        out = (self.start_ns, self.cells)
        self.start_ns, self.cells = None, {}
        return out


def _fold_column(cells: Cells, name: str, col: list[Any]) -> None:
    """Fold one field's values (in arrival order) into its cell, as :func:`add_value` for each would."""
    cell = cells.get(name)
    if cell is None:  # the bucket's first value makes the cell; the rest are folded in
        cell = cells[name] = new_cell(col[0])
        col = col[1:]
    if cell[NNUM] and set(map(type, col)) <= _NUMBER_TYPES:
        total = sum(col, cell[SUM])
        if total == total:  # no NaN in the column (or the cell), where min()/max() would depend on its place
            lo, hi = min(col), max(col)
            if lo < cell[MIN]:
                cell[MIN] = lo
            if hi > cell[MAX]:
                cell[MAX] = hi
            cell[N] += len(col)
            cell[NNUM] += len(col)
            cell[SUM] = total
            cell[LAST] = col[-1]
            return
    for value in col:
        add_value(cell, value)


def _downsample(
    items: Iterable[tuple[int, T]],
    from_ns: int,
    bucket_ns: int,
    first: Callable[[T], Cell],
    fold: Callable[[Cell, T], None],
) -> list[tuple[int, Cell]]:
    """Group ``(ts_ns, item)`` into buckets of ``bucket_ns`` aligned on ``from_ns``: a bucket's first item becomes
    its cell through ``first``, later ones are folded in with ``fold``; sorted by time."""
    out: dict[int, Cell] = {}
    for ts, item in items:
        key = ts - (ts - from_ns) % bucket_ns
        cell = out.get(key)
        if cell is None:
            out[key] = first(item)
        else:
            fold(cell, item)
    return sorted(out.items())


def downsample_values(
    points: Iterable[tuple[int, object]], from_ns: int, bucket_ns: int
) -> list[tuple[int, Cell]]:
    """Group raw ``(ts_ns, value)`` points into buckets of ``bucket_ns`` aligned on ``from_ns``; sorted by time.

    Points must come in time order within each bucket (``last`` is the latest point folded).
    """
    return _downsample(points, from_ns, bucket_ns, new_cell, add_value)


def downsample_cells(
    rows: Iterable[tuple[int, Cell]], from_ns: int, bucket_ns: int
) -> list[tuple[int, Cell]]:
    """Group rollup ``(t_ns, cell)`` rows into buckets of ``bucket_ns`` aligned on ``from_ns``; sorted by time."""
    return _downsample(rows, from_ns, bucket_ns, list, merge_cell)
