"""The history control message: parsing with bounded errors, and paged reply frames under max_message_bytes."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.control import parse_control
from gateway.protocol.errors import ProtocolError
from gateway.protocol.history import MAX_POINTS, History, encode_history_pages


def q(**kw: Any) -> str:
    return json.dumps({"t": "history", "id": 1, "sensor": "env", "from": 10, "to": 20, **kw})


def test_parse_forms() -> None:
    """Raw, points and period queries parse; duplicate fields collapse in order."""
    assert parse_control(q()) == History("env", (), 10, 20, None, None, 1)
    assert parse_control(q(fields=["a", "b", "a"], points=500)) == History(
        "env", ("a", "b"), 10, 20, 500, None, 1
    )
    assert parse_control(q(period=60000)) == History("env", (), 10, 20, None, 60000, 1)
    # A JavaScript client's float64 nanoseconds are taken as the integer they hold.
    big = msgpack.packb({"t": "history", "sensor": "env", "from": 1.7648928e18, "to": 1.7648929e18})
    assert parse_control(big) == History("env", (), 1764892800000000000, 1764892900000000000)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"sensor": ""}, "history.sensor: expected a sensor id (1..64 characters)"),
        ({"fields": "a"}, "history.fields: expected a list of at most 64 field names"),
        ({"fields": ["x"] * 65}, "history.fields: expected a list of at most 64 field names"),
        ({"from": -1}, "history.from: expected ns since the epoch (an integer 0..2**63-1)"),
        ({"to": True}, "history.to: expected ns since the epoch (an integer 0..2**63-1)"),
        ({"to": 20.5}, "history.to: expected ns since the epoch (an integer 0..2**63-1)"),
        ({"to": 10}, "history.to: expected a time after 'from'"),
        ({"points": 0}, f"history.points: expected an integer 1..{MAX_POINTS}"),
        ({"period": 1.5}, "history.period: expected ms 1..31622400000"),
        ({"points": 5, "period": 5}, "history: give 'points' or 'period', not both"),
        ({"colour": 1}, "history: unknown key 'colour'"),
    ],
)
def test_parse_errors(kw: dict[str, Any], message: str) -> None:
    """Each mistake names its key; the id comes back as the error's ref."""
    with pytest.raises(ProtocolError) as info:
        parse_control(q(**kw))
    assert (info.value.code, info.value.msg, info.value.ref) == ("bad_message", message, 1)


@given(
    st.lists(
        st.lists(
            st.one_of(st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False), st.text(max_size=40)),
            max_size=6,
        ),
        max_size=200,
    ),
    st.integers(256, 4096),
)
def test_pages_fit_and_keep_every_row(rows: list[list[Any]], max_bytes: int) -> None:
    """No frame exceeds max_bytes; rows come back in order, parts count up, only the last is done."""
    header = {"t": "history", "id": 3, "sensor": "env", "tier": "raw", "bucket_ns": 0, "fields": ["a"]}
    frames = list(encode_history_pages(header, rows, max_bytes, 99))
    decoded = [msgpack.unpackb(f) for f in frames]
    assert all(len(f) <= max_bytes for f in frames)
    assert [d["part"] for d in decoded] == list(range(len(frames)))
    assert [d["done"] for d in decoded] == [False] * (len(frames) - 1) + [True]
    assert decoded[-1]["next"] == 99
    assert [r for d in decoded for r in d["rows"]] == rows


def test_oversized_row_is_skipped_and_counted() -> None:
    """A row that cannot fit any frame is left out and counted."""
    header = {"t": "history", "id": None}
    frames = [msgpack.unpackb(f) for f in encode_history_pages(header, [[1], ["x" * 500], [2]], 256, None)]
    assert frames == [
        {"t": "history", "id": None, "rows": [[1], [2]], "part": 0, "done": True, "next": None, "skipped": 1}
    ]
