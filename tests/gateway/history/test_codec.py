"""Chunk blobs round-trip; damage is reported, not crashed on (pure)."""

from __future__ import annotations

import zlib
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.history.codec import (
    PIECE_ROWS,
    concat_chunks,
    decode_chunk,
    encode_chunk,
    encode_columns,
    encode_rows,
    field_columns,
)
from gateway.history.errors import HistoryError

scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.booleans(), st.text(max_size=5)
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 2**62), st.dictionaries(st.sampled_from("abc"), scalars, max_size=3)),
        max_size=12,
    )
)
def test_round_trip(rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Every row comes back with its timestamp and values; absent fields read as None."""
    ts, cols = decode_chunk(encode_chunk(rows))
    assert ts == [t for t, _ in rows]
    for i, (_, values) in enumerate(rows):
        assert {k: c[i] for k, c in cols.items() if c[i] is not None} == {
            k: v for k, v in values.items() if v is not None
        }


def test_concat_pads_missing_fields() -> None:
    """Joining chunks keeps columns aligned with the timestamps."""
    a = decode_chunk(encode_chunk([(1, {"x": 1}), (2, {"x": 2})]))
    b = decode_chunk(encode_chunk([(3, {"y": 9})]))
    c = decode_chunk(encode_chunk([(4, {"x": 4})]))
    ts, cols = concat_chunks([a, b, c])
    assert (ts, cols) == ([1, 2, 3, 4], {"x": [1, 2, None, 4], "y": [None, None, 9, None]})
    assert decode_chunk(encode_columns(ts, cols)) == (ts, cols)


def test_damage_is_a_history_error() -> None:
    """Garbage, an unknown version and an oversized blob raise HistoryError."""
    with pytest.raises(HistoryError, match="damaged"):
        decode_chunk(b"not zlib")
    with pytest.raises(HistoryError, match="version"):
        decode_chunk(zlib.compress(msgpack.packb([99, [], [], []])))
    with pytest.raises(HistoryError, match="larger"):
        decode_chunk(zlib.compress(b"\0" * (64 * 1024 * 1024 + 10)))
    with pytest.raises(HistoryError, match="damaged chunk: ExtraData"):
        decode_chunk(zlib.compress(b"\x01\x02"))


def test_concat_of_same_fields() -> None:
    """Chunks with the same fields join without padding."""
    a = decode_chunk(encode_chunk([(1, {"x": 1})]))
    assert concat_chunks([a, a]) == ([1, 1], {"x": [1, 1]})


def test_cell_columns_round_trip_transposed() -> None:
    """Rollup cells survive the transposed storage; rows without the field stay None."""
    cells = [
        (0, {"v": [2, 2, 1.5, 3.0, 4.5, 3.0]}),
        (1, {"w": [1, 0, None, None, None, "x"]}),
        (2, {"v": [1, 1, 0, 0, 0, 0]}),
    ]
    ts, cols = decode_chunk(encode_chunk(cells))
    assert (ts, cols) == (
        [0, 1, 2],
        {
            "v": [[2, 2, 1.5, 3.0, 4.5, 3.0], None, [1, 1, 0, 0, 0, 0]],
            "w": [None, [1, 0, None, None, None, "x"], None],
        },
    )
    assert decode_chunk(encode_columns(ts, cols)) == (ts, cols)


def test_field_columns_only_for_the_same_fields_in_every_row() -> None:
    """Columns in the first row's order when every row has the same fields (in any order); None otherwise."""
    assert field_columns([{"a": 1, "b": 2}, {"b": 4, "a": 3}]) == {"a": [1, 3], "b": [2, 4]}
    assert field_columns([]) == {}
    assert field_columns([{"a": 1}, {"a": 2, "b": 3}]) is None  # another number of fields
    assert field_columns([{"a": 1, "b": 2}, {"a": 3, "c": 4}]) is None  # as many, not the same
    rows: list[tuple[int, dict[str, Any]]] = [(1, {"a": 1, "b": 2}), (2, {"a": 3, "c": 4})]
    assert decode_chunk(encode_rows([1, 2], [r[1] for r in rows])) == decode_chunk(encode_chunk(rows))
    assert decode_chunk(encode_chunk(rows)) == ([1, 2], {"a": [1, 3], "b": [2, None], "c": [None, 4]})


def test_rows_with_one_odd_row_encode_piece_by_piece() -> None:
    """Rows whose fields differ somewhere keep every value and None where a row lacks a field, across pieces."""
    n = 2 * PIECE_ROWS + 10
    values: list[dict[str, Any]] = [{"a": i, "b": -i} if i // PIECE_ROWS != 1 else {"a": i} for i in range(n)]
    values[PIECE_ROWS + 3] = {"a": 0, "c": "x"}  # the second piece: no "b", one row with a "c"
    ts, cols = decode_chunk(encode_rows(list(range(n)), values))
    assert ts == list(range(n)) and list(cols) == ["a", "b", "c"]
    assert cols["a"] == [v["a"] for v in values]
    assert cols["b"] == [v.get("b") for v in values]
    assert cols["c"] == [v.get("c") for v in values]
