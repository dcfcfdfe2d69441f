"""Chunk blobs: many rows of one sensor and tier in one compressed, columnar value. Pure.

A chunk is ``zlib(msgpack([VERSION, ts_deltas, names, columns]))``: the timestamps as the first one then
differences (small integers, which compress well), then one column per field with a value (raw) or a cell
(rollup, see :mod:`gateway.history.rollup`) per row, None where the row lacks the field. A column of cells is
stored transposed, one list per statistic (``{"cells": [ns, nnums, mins, maxs, sums, lasts]}``): counts repeat
and compress to almost nothing, which a row of mixed numbers does not. One row per reading
would cost an index entry and a page write per reading; one chunk per sensor per commit costs one row.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter, sub
from typing import Any

import msgpack

from gateway.history.errors import HistoryError

VERSION = 1
ZLIB_LEVEL = 6
"""zlib level of compacted chunks: written once, kept for months; level 6 is zlib's default trade-off."""
JOURNAL_ZLIB_LEVEL = 0
"""zlib level of a commit's chunks: stored, not deflated - the recent log deflates each frame as part of one
stream (gateway/history/frames.py), which compresses a few seconds of readings far better than each chunk on its
own; the fold re-encodes them at :data:`ZLIB_LEVEL`."""
_FIRST, _SECOND = itemgetter(0), itemgetter(1)
PIECE_ROWS = 1024
"""Rows taken as one piece where rows' fields differ (an optional field, a driver's first reading): a piece whose
rows all have the same fields is still split into columns in C, so one odd row costs at most this many rows the fast
path (the history writer's rollups cut their runs the same way)."""
MAX_CHUNK_BYTES = 64 * 1024 * 1024
"""Largest decompressed chunk accepted when reading back (a damaged blob must not exhaust memory)."""


def encode_chunk(rows: Sequence[tuple[int, Mapping[str, Any]]], level: int = ZLIB_LEVEL) -> bytes:
    """Encode ``rows`` of ``(ts_ns, {field: value_or_cell})``, in time order, as one blob."""
    return encode_rows(list(map(_FIRST, rows)), list(map(_SECOND, rows)), level)


def encode_rows(times: Sequence[int], values: Sequence[Mapping[str, Any]], level: int = ZLIB_LEVEL) -> bytes:
    """Encode rows given as their times and their ``{field: value_or_cell}`` (``values[i]`` at ``times[i]``)."""
    columns = field_columns(values)
    if columns is None:  # fields differ somewhere: piece by piece, None where a row lacks a field
        parts = []
        for k in range(0, len(values), PIECE_ROWS):
            piece = values[k : k + PIECE_ROWS]
            parts.append((list(times[k : k + PIECE_ROWS]), field_columns(piece) or _sparse_columns(piece)))
        columns = concat_chunks(parts)[1]
    return encode_columns(times, columns, level)


def _sparse_columns(values: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """One list per field (in the order fields first appear), None where a row lacks the field."""
    columns: dict[str, list[Any]] = {}
    for i, row in enumerate(values):
        for name, value in row.items():
            col = columns.get(name)
            if col is None:
                col = columns[name] = [None] * len(values)
            col[i] = value
    return columns


def field_columns(values: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]] | None:
    """One list per field (in the first row's order) when every row has the same fields, else None.

    The common case - one sensor's readings, the same fields every time - in a few passes in C: the same number of
    fields in every row, and every field of the first row in each (so the same set of fields)."""
    if len(set(map(len, values))) > 1:
        return None
    try:
        return {name: list(map(itemgetter(name), values)) for name in (values[0] if values else ())}
    except KeyError:
        return None


def _pack_column(col: Sequence[Any]) -> Any:
    """A column as stored: cells transposed into one list per statistic (absent rows: n = 0), values as is."""
    first = next((v for v in col if v is not None), None)
    if not isinstance(first, list):
        return col
    empty = [0, 0, None, None, None, None]
    return {"cells": [list(stat) for stat in zip(*(c if c is not None else empty for c in col), strict=True)]}


def _unpack_column(col: Any) -> list[Any]:
    if isinstance(col, dict):
        return [list(c) if c[0] else None for c in zip(*col["cells"], strict=True)]
    return list(col)


def decode_chunk(blob: bytes) -> tuple[list[int], dict[str, list[Any]]]:
    """Decode a blob into ``(timestamps, {field: column})``.

    Raises:
        HistoryError: the blob is damaged or of an unknown version.
    """
    inflater = zlib.decompressobj()
    try:
        packed = inflater.decompress(blob, MAX_CHUNK_BYTES)
    except zlib.error as exc:
        raise HistoryError(f"damaged chunk: {exc}") from exc
    if inflater.unconsumed_tail:
        raise HistoryError("chunk larger than MAX_CHUNK_BYTES")
    try:
        version, deltas, names, columns = msgpack.unpackb(packed, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise HistoryError(f"damaged chunk: {type(exc).__name__}") from exc
    if version != VERSION or len(names) != len(columns):
        raise HistoryError(f"unknown chunk version {version!r}")
    ts = []
    acc = 0
    for d in deltas:
        acc += d
        ts.append(acc)
    return ts, {name: _unpack_column(col) for name, col in zip(names, columns, strict=True)}


def concat_chunks(
    parts: Sequence[tuple[list[int], dict[str, list[Any]]]],
) -> tuple[list[int], dict[str, list[Any]]]:
    """Join decoded chunks (in time order) column by column; fields missing from a part get None there."""
    ts: list[int] = []
    columns: dict[str, list[Any]] = {}
    for part_ts, part_cols in parts:
        offset = len(ts)
        ts.extend(part_ts)
        for name, col in part_cols.items():
            mine = columns.get(name)
            if mine is None:
                mine = columns[name] = [None] * offset
            elif len(mine) < offset:
                mine.extend([None] * (offset - len(mine)))
            mine.extend(col)
    for col in columns.values():
        if len(col) < len(ts):
            col.extend([None] * (len(ts) - len(col)))
    return ts, columns


def encode_columns(ts: Sequence[int], columns: Mapping[str, Sequence[Any]], level: int = ZLIB_LEVEL) -> bytes:
    """Encode already columnar rows (see :func:`concat_chunks`) as one blob."""
    deltas = list(map(sub, ts, chain((0,), ts)))  # the first time, then differences
    packed: bytes = msgpack.packb(
        [VERSION, deltas, list(columns), [_pack_column(c) for c in columns.values()]], use_bin_type=True
    )
    return zlib.compress(packed, level)
