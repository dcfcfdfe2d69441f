"""Control-message parsing: JSON text and msgpack binary frames, and every rejection text."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from gateway.protocol.control import (
    MAX_ENTRIES,
    AckEvent,
    Auth,
    Command,
    Ping,
    Resume,
    Subscribe,
    SubscribeEntry,
    Unsubscribe,
    decode_control,
    parse_control,
)
from gateway.protocol.errors import ProtocolError


def as_json(obj: Any) -> str:
    """Encode a message as a JSON text frame."""
    return json.dumps(obj)


def as_msgpack(obj: Any) -> bytes:
    """Encode a message as a msgpack binary frame."""
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


ENCODINGS = pytest.mark.parametrize("encode", [as_json, as_msgpack], ids=["json", "msgpack"])
Encoder = Callable[[Any], str | bytes]

DOC_SUBSCRIBE = {
    "t": "subscribe",
    "id": 1,
    "replace": True,
    "subscribe": [
        {"path": "env.*", "policy": "instant", "minPeriod": 100},
        {"path": "*.temperature_c", "policy": "fixed", "period": 1000},
        {"path": "imu", "period": 1000, "agg": ["min", "max", "mean", "last"]},
    ],
}


def rejection(data: str | bytes) -> ProtocolError:
    """Parse ``data`` expecting a rejection, and return it."""
    with pytest.raises(ProtocolError) as info:
        parse_control(data)
    assert info.value.code == "bad_message"
    return info.value


@ENCODINGS
def test_subscribe_doc_example_parses_to_typed_entries(encode: Encoder) -> None:
    """The subscribe example of docs/protocol.md parses to three entries, replace set, id kept as ref."""
    assert parse_control(encode(DOC_SUBSCRIBE)) == Subscribe(
        entries=(
            SubscribeEntry("env.*", "instant", None, 100, ()),
            SubscribeEntry("*.temperature_c", "fixed", 1000, 0, ()),
            SubscribeEntry("imu", "instant", 1000, 0, ("min", "max", "mean", "last")),
        ),
        replace=True,
        ref=1,
    )


@ENCODINGS
def test_subscribe_defaults_and_normalised_agg(encode: Encoder) -> None:
    """Defaults are instant/no period/no minPeriod/add; agg is deduplicated into canonical order."""
    msg = {
        "t": "subscribe",
        "subscribe": [
            {"path": "env"},
            {"path": "gps.*", "policy": "ideal", "period": 10, "format": "delta"},
            {"path": "imu.ax", "period": 86_400_000, "agg": ["last", "min", "last"]},
            {"path": "x", "agg": []},
        ],
    }
    assert parse_control(encode(msg)) == Subscribe(
        entries=(
            SubscribeEntry("env"),
            SubscribeEntry("gps.*", "ideal", 10, 0, ()),
            SubscribeEntry("imu.ax", "instant", 86_400_000, 0, ("min", "last")),
            SubscribeEntry("x"),
        ),
        replace=False,
        ref=None,
    )


@ENCODINGS
def test_unsubscribe_parses_paths(encode: Encoder) -> None:
    """unsubscribe yields the exact paths in order."""
    msg = {"t": "unsubscribe", "id": 2, "unsubscribe": [{"path": "env.*"}, {"path": "*"}]}
    assert parse_control(encode(msg)) == Unsubscribe(("env.*", "*"), 2)


@ENCODINGS
def test_resume_parses_boot_and_seq(encode: Encoder) -> None:
    """resume yields boot and seq; seq 0 and the largest int64 are accepted."""
    assert parse_control(encode({"t": "resume", "id": 3, "boot": "3f2a9c0d8e1b4a7f", "seq": 1200})) == Resume(
        "3f2a9c0d8e1b4a7f", 1200, 3
    )
    assert parse_control(encode({"t": "resume", "boot": "b", "seq": 0})) == Resume("b", 0, None)
    assert parse_control(encode({"t": "resume", "boot": "b", "seq": 2**63 - 1})) == Resume("b", 2**63 - 1)


@ENCODINGS
def test_auth_parses_token(encode: Encoder) -> None:
    """auth yields the token."""
    assert parse_control(encode({"t": "auth", "token": "s3cret", "id": "a"})) == Auth("s3cret", "a")


@ENCODINGS
def test_command_parses_target_and_any_value(encode: Encoder) -> None:
    """command yields target and value, including an explicit null value."""
    assert parse_control(encode({"t": "command", "id": 4, "target": "relay1", "value": True})) == Command(
        "relay1", True, 4
    )
    assert parse_control(encode({"t": "command", "target": "pwm", "value": None})) == Command("pwm", None)
    assert parse_control(encode({"t": "command", "target": "pwm", "value": 0.25})) == Command("pwm", 0.25)


@ENCODINGS
def test_ack_event_parses_the_rule_id(encode: Encoder) -> None:
    """ack_event yields the rule id and ref; a missing or non-string rule is refused naming the key."""
    assert parse_control(encode({"t": "ack_event", "id": 6, "rule": "too-hot"})) == AckEvent("too-hot", 6)
    assert rejection(encode({"t": "ack_event", "id": 7})).ref == 7
    assert rejection(encode({"t": "ack_event", "rule": 3})).msg == (
        "ack_event.rule: expected a non-empty string of at most 64 characters"
    )


@ENCODINGS
def test_ping_parses_with_and_without_ts(encode: Encoder) -> None:
    """ping yields the client's timestamp (None when absent)."""
    assert parse_control(encode({"t": "ping", "id": 5, "ts": 1_700_000_000_123})) == Ping(
        1_700_000_000_123, 5
    )
    assert parse_control(encode({"t": "ping"})) == Ping(None, None)


@ENCODINGS
@pytest.mark.parametrize("ref", ["abc", 7, 2.5, None, True])
def test_any_scalar_id_is_kept_as_ref(encode: Encoder, ref: object) -> None:
    """Any scalar id comes back as the message's ref."""
    assert parse_control(encode({"t": "ping", "id": ref})) == Ping(None, ref)


def test_decode_control_returns_the_map_for_both_frame_kinds() -> None:
    """decode_control returns the same map for a text and a binary frame."""
    msg = {"t": "ping", "id": 1, "ts": [1, "x"]}
    assert decode_control(as_json(msg)) == msg
    assert decode_control(as_msgpack(msg)) == msg


@pytest.mark.parametrize(
    "data",
    ["{not json", "", '{"t": "ping"} trailing'],
    ids=["broken", "empty", "trailing"],
)
def test_text_that_is_not_json_is_rejected(data: str) -> None:
    """Text frames that are not JSON are bad_message."""
    err = rejection(data)
    assert (err.msg, err.ref) == ('text frames must be a JSON object, e.g. {"t": "ping"}', None)


@pytest.mark.parametrize(
    "data",
    [b"\xc1", b"", as_msgpack({"t": "ping"}) + b"\x00", msgpack.packb({1: "int key"}), b"\x91" * 5000],
    ids=["reserved-byte", "empty", "extra-data", "int-key", "deep"],
)
def test_binary_that_is_not_one_msgpack_map_is_rejected(data: bytes) -> None:
    """Binary frames that are not exactly one msgpack object with string keys are bad_message."""
    assert rejection(data).msg == "binary frames must be one msgpack map"


@pytest.mark.parametrize("data", ["[1, 2]", '"ping"', "null", as_msgpack([1]), as_msgpack("ping")])
def test_non_map_is_rejected(data: str | bytes) -> None:
    """A JSON or msgpack value that is not a map is rejected."""
    assert rejection(data).msg == "a control message must be a map with a 't' key"


@ENCODINGS
def test_unknown_or_missing_type_is_rejected_with_ref(encode: Encoder) -> None:
    """An unknown t names the accepted types and what was sent, and keeps the id as ref."""
    expected = (
        "t: expected one of subscribe, unsubscribe, resume, auth, command, ping, ack_event, history; got "
    )
    err = rejection(encode({"t": "subscribe_all", "id": 9}))
    assert (err.msg, err.ref) == (expected + "'subscribe_all'", 9)
    assert rejection(encode({"id": 9})).msg == expected + "None"


@ENCODINGS
@pytest.mark.parametrize("ref", [{"a": 1}, [1]], ids=["map", "list"])
def test_id_that_is_not_a_scalar_is_rejected(encode: Encoder, ref: object) -> None:
    """An id that is a map or a list is rejected (and not echoed back as ref)."""
    err = rejection(encode({"t": "ping", "id": ref}))
    assert (err.msg, err.ref) == ("id: expected a scalar", None)


def sub_error(*entries: Any, encode: Encoder = as_json, **extra: Any) -> str:
    """Return the rejection text of a subscribe message with ``entries``."""
    err = rejection(encode({"t": "subscribe", "id": 11, "subscribe": list(entries), **extra}))
    assert err.ref == 11
    return err.msg


PATH_TEXT = "expected a non-empty string of at most 256 characters"


@ENCODINGS
@pytest.mark.parametrize(
    ("entries", "msg"),
    [
        ([{"policy": "fixed", "period": 100}], f"subscribe[0].path: {PATH_TEXT}"),
        ([{"path": ""}], f"subscribe[0].path: {PATH_TEXT}"),
        ([{"path": 5}], f"subscribe[0].path: {PATH_TEXT}"),
        ([{"path": "x" * 257}], f"subscribe[0].path: {PATH_TEXT}"),
        (["env"], "subscribe[0]: expected a map with a 'path'"),
        (
            [{"path": "a"}, {"path": "b", "policy": "sometimes"}],
            "subscribe[1].policy: expected one of instant, ideal, fixed; got 'sometimes'",
        ),
        ([{"path": "a", "policy": "fixed"}], "subscribe[0].period: required (ms) with policy 'fixed'"),
        ([{"path": "a", "policy": "ideal"}], "subscribe[0].period: required (ms) with policy 'ideal'"),
        ([{"path": "a", "agg": ["max"]}], "subscribe[0].period: required (ms) with policy 'instant' and agg"),
        (
            [{"path": "a", "policy": "fixed", "agg": ["max"]}],
            "subscribe[0].period: required (ms) with policy 'fixed' and agg",
        ),
        ([{"path": "a", "period": 9}], "subscribe[0].period: expected an integer 10..86400000, got 9"),
        ([{"path": "a", "period": 0}], "subscribe[0].period: expected an integer 10..86400000, got 0"),
        (
            [{"path": "a", "period": 86_400_001}],
            "subscribe[0].period: expected an integer 10..86400000, got 86400001",
        ),
        (
            [{"path": "a", "period": 100.0}],
            "subscribe[0].period: expected an integer 10..86400000, got 100.0",
        ),
        ([{"path": "a", "period": True}], "subscribe[0].period: expected an integer 10..86400000, got True"),
        (
            [{"path": "a", "period": "100"}],
            "subscribe[0].period: expected an integer 10..86400000, got '100'",
        ),
        ([{"path": "a", "minPeriod": -1}], "subscribe[0].minPeriod: expected an integer 0..86400000, got -1"),
        (
            [{"path": "a", "period": 100, "agg": ["median"]}],
            "subscribe[0].agg: expected a list of min, max, mean, last",
        ),
        (
            [{"path": "a", "period": 100, "agg": "min"}],
            "subscribe[0].agg: expected a list of min, max, mean, last",
        ),
        ([{"path": "a", "perod": 100}], "subscribe[0]: unknown key 'perod'"),
        ([{"path": "a", "zz": 1, "min_period": 1}], "subscribe[0]: unknown key 'min_period'"),
    ],
    ids=[
        "path-missing",
        "path-empty",
        "path-not-str",
        "path-too-long",
        "entry-not-map",
        "bad-policy",
        "fixed-no-period",
        "ideal-no-period",
        "agg-no-period",
        "fixed-agg-no-period",
        "period-9",
        "period-0",
        "period-too-big",
        "period-float",
        "period-bool",
        "period-str",
        "minperiod-negative",
        "agg-unknown",
        "agg-not-list",
        "unknown-key",
        "first-unknown-key",
    ],
)
def test_subscribe_entry_rejections_name_the_key(encode: Encoder, entries: list[Any], msg: str) -> None:
    """Every bad subscribe entry is rejected with a text naming the entry index and the key."""
    assert sub_error(*entries, encode=encode) == msg


def test_unknown_keys_of_mixed_str_and_bin_type_are_reported_not_crashed() -> None:
    """A msgpack entry with a str and a bin unknown key is rejected naming one of them (no TypeError)."""
    assert sub_error({"path": "a", b"zz": 1, "aa": 2}, encode=as_msgpack) == "subscribe[0]: unknown key 'aa'"


@ENCODINGS
def test_subscribe_list_size_and_replace_are_checked(encode: Encoder) -> None:
    """subscribe must be a list of 1..256 entries and replace a boolean."""
    too_many = "subscribe: expected a list of 1..256 entries"
    assert sub_error(encode=encode) == too_many
    assert sub_error(*([{"path": "a"}] * (MAX_ENTRIES + 1)), encode=encode) == too_many
    assert rejection(encode({"t": "subscribe", "subscribe": {"path": "a"}})).msg == too_many
    assert rejection(encode({"t": "subscribe"})).msg == too_many
    assert sub_error({"path": "a"}, encode=encode, replace=1) == "replace: expected true or false"
    msg = parse_control(encode({"t": "subscribe", "subscribe": [{"path": "a"}] * MAX_ENTRIES}))
    assert isinstance(msg, Subscribe)
    assert msg.entries == (SubscribeEntry("a"),) * MAX_ENTRIES


@ENCODINGS
@pytest.mark.parametrize(
    ("msg", "text"),
    [
        ({"t": "unsubscribe"}, "unsubscribe: expected a list of 1..256 entries"),
        ({"t": "unsubscribe", "unsubscribe": []}, "unsubscribe: expected a list of 1..256 entries"),
        ({"t": "unsubscribe", "unsubscribe": ["env"]}, "unsubscribe[0]: expected a map with a 'path'"),
        ({"t": "unsubscribe", "unsubscribe": [{"path": "a"}, {}]}, f"unsubscribe[1].path: {PATH_TEXT}"),
        ({"t": "resume", "seq": 1}, "resume.boot: expected a non-empty string of at most 64 characters"),
        (
            {"t": "resume", "boot": "b" * 65, "seq": 1},
            "resume.boot: expected a non-empty string of at most 64 characters",
        ),
        ({"t": "resume", "boot": "b"}, "resume.seq: required (the last seq you received)"),
        (
            {"t": "resume", "boot": "b", "seq": -1},
            "resume.seq: expected an integer 0..9223372036854775807, got -1",
        ),
        (
            {"t": "resume", "boot": "b", "seq": "5"},
            "resume.seq: expected an integer 0..9223372036854775807, got '5'",
        ),
        ({"t": "auth"}, "auth.token: expected a non-empty string of at most 512 characters"),
        (
            {"t": "auth", "token": "x" * 513},
            "auth.token: expected a non-empty string of at most 512 characters",
        ),
        ({"t": "command", "target": "relay1"}, "command.value: required"),
        (
            {"t": "command", "value": 1},
            "command.target: expected a non-empty string of at most 64 characters",
        ),
        (
            {"t": "command", "target": 3, "value": 1},
            "command.target: expected a non-empty string of at most 64 characters",
        ),
    ],
    ids=[
        "unsub-missing",
        "unsub-empty",
        "unsub-entry-not-map",
        "unsub-path-missing",
        "resume-no-boot",
        "resume-long-boot",
        "resume-no-seq",
        "resume-negative-seq",
        "resume-str-seq",
        "auth-no-token",
        "auth-long-token",
        "command-no-value",
        "command-no-target",
        "command-target-not-str",
    ],
)
def test_other_rejections_name_the_key(encode: Encoder, msg: dict[str, Any], text: str) -> None:
    """unsubscribe/resume/auth/command rejections name the offending key and keep the id as ref."""
    err = rejection(encode({**msg, "id": "r1"}))
    assert (err.msg, err.ref) == (text, "r1")


def test_error_text_truncates_the_peers_value() -> None:
    """An error echoes at most 40 characters of the offending value, so replies stay small."""
    with pytest.raises(ProtocolError) as info:
        parse_control(json.dumps({"t": "x" * 1000}))
    assert info.value.msg == (
        "t: expected one of subscribe, unsubscribe, resume, auth, command, ping, ack_event, history; got '"
        + "x" * 36
        + "..."
    )
