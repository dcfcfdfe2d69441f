"""Payload encoders and command parsing."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridges.mqtt.payloads import (
    decode_reading,
    encode_json,
    encode_msgpack,
    encode_result,
    encoder,
    parse_command,
)
from gateway.protocol.model import Reading
from gateway.protocol.wire import encode_data

R = Reading(
    42, 40, 1_700_000_000_123_456_789, "env", {"temperature_c": 21.5, "ok": True, "s": "x", "n": None}, 3
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
readings = st.builds(
    Reading,
    st.integers(1, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.text(min_size=1, max_size=20),
    st.dictionaries(st.text(max_size=20), scalars, max_size=8),
    st.integers(0, 15),
)


def test_msgpack_is_exactly_the_wire_reading_array() -> None:
    """The msgpack payload is byte-identical to the reading inside a WebSocket data frame."""
    frame = encode_data([R])
    payload = encode_msgpack(R)
    assert payload in frame
    assert msgpack.unpackb(payload) == [
        42,
        40,
        1_700_000_000_123_456_789,
        "env",
        {"temperature_c": 21.5, "ok": True, "s": "x", "n": None},
        3,
    ]


def test_json_carries_identity_and_values() -> None:
    """JSON payloads carry (gw, boot, seq), prev, ts_ns, flags and values."""
    assert json.loads(encode_json(R, "gw", "b00t")) == {
        "gw": "gw",
        "boot": "b00t",
        "seq": 42,
        "prev": 40,
        "ts_ns": 1_700_000_000_123_456_789,
        "flags": 3,
        "values": {"temperature_c": 21.5, "ok": True, "s": "x", "n": None},
    }


def test_json_turns_non_finite_floats_into_null() -> None:
    """NaN and infinities become null (JSON has no such numbers)."""
    r = R._replace(values={"a": float("nan"), "b": float("inf"), "c": 1.0})
    assert json.loads(encode_json(r, "g", "b"))["values"] == {"a": None, "b": None, "c": 1.0}


def test_json_carries_the_aggregate_of_a_rate_limited_reading() -> None:
    """A rate-limited reading's JSON adds agg: first timestamp, count and [min, max, mean, last] per field."""
    agg = ["env", 5, 9, 3, {"t": [1.0, float("nan"), 2.0, 3.0], "s": [None, None, None, "x"]}]
    assert json.loads(encode_json(R, "g", "b", agg))["agg"] == {
        "t0_ns": 5,
        "n": 3,
        "fields": {"t": [1.0, None, 2.0, 3.0], "s": [None, None, None, "x"]},
    }


@given(readings)
def test_msgpack_roundtrip(r: Reading) -> None:
    """Any reading survives msgpack encoding unchanged."""
    assert decode_reading(encode_msgpack(r), "msgpack") == r


@given(readings)
def test_json_roundtrip(r: Reading) -> None:
    """Any reading with finite floats survives JSON encoding (the sensor id comes from the topic)."""
    assert decode_reading(encode_json(r, "g", "b"), "json", r.sensor) == r


def test_encoder_selects_by_config() -> None:
    """encoder() maps mqtt.payload to the right function."""
    assert encoder("msgpack", "g", "b")(R) == encode_msgpack(R)
    assert encoder("json", "g", "b")(R) == encode_json(R, "g", "b")
    with pytest.raises(ValueError, match="xml"):
        encoder("xml", "g", "b")


@pytest.mark.parametrize(
    ("payload", "value"),
    [
        (b"ON", "ON"),
        (b"OFF", "OFF"),
        (b"true", True),
        (b"0.25", 0.25),
        (b'"on"', "on"),
        (b" 1 \n", 1),
        (b'{"value": false}', False),
        (b"null", None),
    ],
)
def test_parse_command(payload: bytes, value: object) -> None:
    """Commands accept JSON scalars, {"value": ...} and bare words as Home Assistant sends them."""
    assert parse_command(payload) == value


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"", "empty"),
        (b"  ", "empty"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"v": 1}', "'value'"),
    ],
)
def test_parse_command_refuses(payload: bytes, fragment: str) -> None:
    """Empty, non-UTF-8 or value-less object payloads are refused with a reason."""
    with pytest.raises(ValueError, match=fragment):
        parse_command(payload)


def test_encode_result() -> None:
    """Results mirror the WebSocket result reply."""
    assert json.loads(encode_result("relay1", True, value=True)) == {
        "target": "relay1",
        "ok": True,
        "value": True,
    }
    assert json.loads(encode_result("relay1", False, error="unknown target")) == {
        "target": "relay1",
        "ok": False,
        "error": "unknown target",
    }
