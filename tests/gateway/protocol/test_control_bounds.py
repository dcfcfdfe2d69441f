"""Decode-time bounds of control messages: integer range, finiteness, string and container size, nesting depth."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.protocol.control import (
    MAX_CONTAINER_ITEMS,
    MAX_DEPTH,
    MAX_STR_CHARS,
    Command,
    Ping,
    _show,
    check_bounds,
    decode_control,
    json_too_deep,
    parse_control,
)
from gateway.protocol.errors import ProtocolError
from gateway.protocol.wire import encode_error, encode_pong

BIG = 100000000000000000000000


def rejection(data: str | bytes) -> str:
    """Parse ``data`` expecting a bad_message rejection without a ref; return its text."""
    with pytest.raises(ProtocolError) as info:
        parse_control(data)
    assert (info.value.code, info.value.ref) == ("bad_message", None)
    return info.value.msg


def nested(depth: int, leaf: Any = None) -> Any:
    """``leaf`` inside ``depth`` nested lists."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ('{"t":"ping","id":100000000000000000000000}', "id: integers must lie in -2**63..2**64-1"),
        ('{"t":"ping","ts":100000000000000000000000}', "ts: integers must lie in -2**63..2**64-1"),
        ('{"t":"nope","id":100000000000000000000000}', "id: integers must lie in -2**63..2**64-1"),
        ('{"t":"ping","id":-9223372036854775809}', "id: integers must lie in -2**63..2**64-1"),
        ('{"t":"ping","ts":[1,{"x":18446744073709551616}]}', "ts: integers must lie in -2**63..2**64-1"),
        ('{"t":"command","target":"r","value":1e999}', "value: numbers must be finite"),
        ('{"t":"ping","ts":NaN}', "ts: numbers must be finite"),
        ('{"t":"ping","ts":-Infinity}', "ts: numbers must be finite"),
    ],
    ids=["id", "ts", "unknown-type-id", "below-int64", "inside-ts", "inf", "nan", "minus-inf"],
)
def test_json_numbers_outside_the_protocol_range_are_bad_messages(text: str, msg: str) -> None:
    """Integers beyond int64/uint64 and non-finite numbers are refused at decode time, naming the key."""
    assert rejection(text) == msg


def test_integers_at_the_range_ends_parse_and_encode_in_replies() -> None:
    """-2**63 and 2**64-1 are accepted as id/ts and their replies encode (what msgpack can carry)."""
    lo = parse_control(json.dumps({"t": "ping", "id": -(2**63), "ts": 2**64 - 1}))
    assert lo == Ping(2**64 - 1, -(2**63))
    assert isinstance(lo, Ping)
    assert msgpack.unpackb(encode_pong(lo.ref, 1, lo.ts)) == {
        "t": "pong",
        "ref": -(2**63),
        "ts": 1,
        "echo": 2**64 - 1,
    }
    assert msgpack.unpackb(encode_error(lo.ref, "x", "y"))["ref"] == -(2**63)


def test_msgpack_nan_and_extension_types_are_refused() -> None:
    """A msgpack float NaN and an extension value (not used by the protocol) are bad_message."""
    assert rejection(msgpack.packb({"t": "ping", "ts": float("nan")})) == "ts: numbers must be finite"
    assert rejection(msgpack.packb({"t": "ping", "ts": msgpack.ExtType(5, b"")})) == (
        "ts: msgpack extension types are not used by the protocol"
    )
    assert rejection(msgpack.packb({"t": "ping", "ts": msgpack.ExtType(5, b"abc")})) == (
        "binary frames must be one msgpack map"
    )


def test_the_issue_s_deep_msgpack_message_is_refused_without_recursion() -> None:
    """``81 a1 74`` + ``91`` x 1000 + ``c0`` (t nested 1000 deep) is bad_message naming t, as is deep policy."""
    data = bytes.fromhex("81a174") + b"\x91" * 1000 + b"\xc0"
    assert rejection(data) == f"t: nested deeper than {MAX_DEPTH} levels"
    sub = {"t": "subscribe", "subscribe": [{"path": "x", "policy": nested(1000)}]}
    assert rejection(msgpack.packb(sub)) == f"subscribe: nested deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000,
        '{"t": ' * 5000,
        '{"t":' + "[" * 9 + "]" * 9 + "}",
        '{"t":"ping","ts":' + "[" * 20 + "]" * 20 + "}",
    ],
    ids=["deep-array", "deep-map", "just-over", "deep-ts"],
)
def test_deep_json_is_refused_before_parsing(text: str) -> None:
    """JSON nested deeper than MAX_DEPTH is refused by the bracket pre-scan, whatever else is wrong with it."""
    assert rejection(text) == f"message: nested deeper than {MAX_DEPTH} levels"


def test_nesting_up_to_the_limit_is_accepted() -> None:
    """A message nested exactly MAX_DEPTH deep (the message map counts as one) is accepted, JSON and msgpack."""
    msg = {"t": "ping", "ts": nested(MAX_DEPTH - 1, 1)}
    assert decode_control(json.dumps(msg)) == msg
    assert decode_control(msgpack.packb(msg)) == msg
    deeper = {"t": "ping", "ts": nested(MAX_DEPTH, 1)}
    assert rejection(msgpack.packb(deeper)) == f"ts: nested deeper than {MAX_DEPTH} levels"


def test_long_strings_and_large_containers_are_refused() -> None:
    """Strings over MAX_STR_CHARS characters and containers over MAX_CONTAINER_ITEMS items are bad_message."""
    ok = "é" * MAX_STR_CHARS  # 2 bytes a character in UTF-8: the limit counts characters
    assert parse_control(msgpack.packb({"t": "command", "target": "r", "value": ok})) == Command("r", ok)
    long = {"t": "command", "target": "r", "value": "x" * (MAX_STR_CHARS + 1)}
    assert rejection(json.dumps(long)) == f"value: strings are at most {MAX_STR_CHARS} characters"
    assert rejection(msgpack.packb(long)) == f"value: strings are at most {MAX_STR_CHARS} characters"
    blob = {"t": "ping", "ts": b"x" * (MAX_STR_CHARS + 1)}
    assert rejection(msgpack.packb(blob, use_bin_type=True)) == "binary frames must be one msgpack map"
    big_list = {"t": "ping", "ts": [0] * (MAX_CONTAINER_ITEMS + 1)}
    assert rejection(json.dumps(big_list)) == f"ts: more than {MAX_CONTAINER_ITEMS} items"
    assert rejection(msgpack.packb(big_list)) == "binary frames must be one msgpack map"
    long_key = {"t": "ping", "k" * (MAX_STR_CHARS + 1): 1}
    assert rejection(json.dumps(long_key)) == "k" * 40 + f": strings are at most {MAX_STR_CHARS} characters"


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("", False),
        ('{"a": [1, {"b": [[[[[]]]]]}]}', False),
        ('{"a": [1, {"b": [[[[[[]]]]]]}]}', True),
        ('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', False),
        ('{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [[]]}', False),
        ('"unterminated [[[[[[[[[[[[[[[[[[[[[[', False),
        ("[" * 8, False),
        ("[" * 9, True),
        ("]]]]]]]]]]" + "[[[[[[[[[]]]]]]]]]", True),
        ("[][][][][][][][][][][][][][][][][][][][][]", False),
    ],
    ids=[
        "empty",
        "8",
        "9",
        "in-string",
        "escaped-quote",
        "unterminated-string",
        "8-open",
        "9-open",
        "after-closers",
        "flat",
    ],
)
def test_json_too_deep_counts_structural_brackets_only(text: str, deep: bool) -> None:
    """Brackets inside strings (also after escaped quotes) do not count; unclosed openers and stray closers do."""
    assert json_too_deep(text) is deep


def depth(v: Any) -> int:
    """Nesting depth of a decoded value (a scalar is 0)."""
    if isinstance(v, list):
        return 1 + max(map(depth, v), default=0)
    if isinstance(v, dict):
        return 1 + max(map(depth, v.values()), default=0)
    return 0


JSON_VALUES = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=5),
    lambda c: (
        st.lists(c, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\', max_size=3), c, max_size=3)
    ),
    max_leaves=40,
)


@given(JSON_VALUES, st.integers(min_value=1, max_value=12))
def test_json_too_deep_agrees_with_the_parsed_depth(value: Any, limit: int) -> None:
    """For any JSON value (strings full of brackets and escapes), the pre-scan says "too deep" iff it is."""
    assert json_too_deep(json.dumps(value), limit) is (depth(value) > limit)


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.binary(max_size=3),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=3), c, max_size=4),
    max_leaves=30,
)


def within(value: Any, depth: int) -> bool:
    """The documented limits, written out independently of check_bounds."""
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value <= 2**64 - 1
    if isinstance(value, list):
        return depth <= MAX_DEPTH and all(within(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return depth <= MAX_DEPTH and all(within(v, depth + 1) for v in value.values())
    return True


@given(VALUES)
def test_check_bounds_accepts_exactly_the_values_within_the_limits(value: Any) -> None:
    """check_bounds accepts a value iff it is within every limit; what it accepts always encodes as msgpack."""
    try:
        check_bounds({"ts": value})
        accepted = True
    except ProtocolError:
        accepted = False
    assert accepted == within(value, 2)
    if accepted:
        msgpack.packb(value)


def test_show_never_walks_containers() -> None:
    """Error texts render a container by its kind, and cut scalars to 40 characters."""
    assert (_show(nested(5)), _show({"a": 1}), _show("x" * 50)) == ("a list", "a map", "'" + "x" * 36 + "...")
