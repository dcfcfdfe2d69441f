"""gateway.fleet.messages: topics, readings, metadata, health, status and results from a hostile broker."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridges.mqtt.discovery import health_message, meta_messages
from bridges.mqtt.payloads import encode_json, encode_msgpack, encode_result, parse_command
from bridges.mqtt.topics import Topics
from gateway.fleet import messages as M
from gateway.fleet.messages import FleetInputError, Topic, parse_topic
from sensors.base import ActuatorInfo, SensorInfo


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("sc/g1/status", Topic("g1", "status")),
        ("sc/g1/meta", Topic("g1", "gateway_meta")),
        ("sc/g1/env/data", Topic("g1", "data", "env")),
        ("sc/g1/env/meta", Topic("g1", "meta", "env")),
        ("sc/g1/env/health", Topic("g1", "health", "env")),
        ("sc/g1/relay1/result", Topic("g1", "result", "relay1")),
        ("sc/g1/relay1/set", None),
        ("sc/g1/_events", None),
        ("sc/g1/a/b/data", None),
        ("sc/g.1/env/data", None),
        ("sc/g1/e.nv/data", None),
        ("sc/" + "g" * 32 + "/env/data", None),
        ("other/g1/env/data", None),
        ("sc/../status", None),
    ],
)
def test_topics(topic: str, expected: Topic | None) -> None:
    """Only the bridge's layout under the prefix, with plain short ids, is read; nothing escapes its prefix."""
    assert parse_topic(topic, "sc") == expected


READING = (7, 3, 1_700_000_000_000_000_000, "env", {"t": 21.5, "ok": True, "n": 3, "s": "x", "z": None}, 1)


def test_json_and_msgpack_readings_round_trip_from_the_bridge_encoders() -> None:
    """What the bridge publishes decodes to the same identity and values (boot from JSON or the property)."""
    j = M.decode_data(encode_json(READING, "g1", "b0"), "json", "g1", None)
    m = M.decode_data(encode_msgpack(READING), "msgpack", "g1", "b1")
    assert (j.boot, j.seq, j.prev, j.ts_ns, j.values, j.flags) == ("b0", 7, 3, READING[2], READING[4], 1)
    assert (m.boot, m.seq, m.prev, m.values) == ("b1", 7, 3, READING[4])
    nan = M.decode_data(msgpack.packb([1, 0, 5, "e", {"v": float("nan")}, 0]), "msgpack", "g", None)
    assert nan.values == {"v": None}


def _j(**over: Any) -> bytes:
    doc = {"gw": "g1", "boot": "b", "seq": 2, "prev": 1, "ts_ns": 5, "flags": 0, "values": {"a": 1.0}}
    doc.update(over)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("payload", "fmt"),
    [
        (b"x" * (M.MAX_DATA_BYTES + 1), "json"),
        (b"\xc1", "msgpack"),
        (msgpack.packb({"a": 1}), "msgpack"),
        (b"{", "json"),
        (b"[" * 100_000, "json"),
        (b"[]", "json"),
        (_j(gw="g2"), "json"),
        (_j(boot=5), "json"),
        (_j(boot=""), "json"),
        (_j(ts_ns=-1), "json"),
        (_j(ts_ns=True), "json"),
        (_j(seq="1"), "json"),
        (_j(prev=True), "json"),
        (_j(flags=2**64), "json"),
        (_j(values=[1]), "json"),
        (_j(values={f"f{i}": 1 for i in range(M.MAX_FIELDS + 1)}), "json"),
        (_j(values={"a.b": 1}), "json"),
        (_j(values={"": 1}), "json"),
        (_j(values={"a": "x" * (M.MAX_TEXT_CHARS + 1)}), "json"),
        (_j(values={"a": [1]}), "json"),
        (_j(values={"a": 2**64}), "json"),
    ],
)
def test_hostile_readings_are_refused(payload: bytes, fmt: str) -> None:
    """Oversize, undecodable, wrong shape, another gateway's id, bad types: FleetInputError, never a crash."""
    with pytest.raises(FleetInputError):
        M.decode_data(payload, fmt, "g1", "b")


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_fleet_input_error(payload: bytes) -> None:
    """Property: arbitrary bytes never raise anything but FleetInputError, in either format."""
    for fmt in ("json", "msgpack"):
        with contextlib.suppress(FleetInputError):
            M.decode_data(payload, fmt, "g1", None)


CATALOGUE = {
    "sensors": [
        {
            "id": "env",
            "driver": "bme280",
            "model": "BME280",
            "description": "d",
            "interval_s": 0.5,
            "rate_hz": 20.0,
            "sim": True,
            "state": "ok",
            "error": None,
            "fields": [
                {
                    "name": "t",
                    "unit": "°C",
                    "kind": "float",
                    "device_class": "temperature",
                    "series": "gauge",
                },
                {"name": "c", "kind": "weird", "series": "weird", "device_class": 5},
            ],
        }
    ],
    "actuators": [
        {"id": "pwm", "driver": "pwm", "kind": "number", "min": 0, "max": 100, "unit": "%", "sim": True},
        {"id": "relay1", "driver": "relay", "kind": "switch", "min": True, "max": float("inf")},
    ],
}


def test_the_bridge_meta_rebuilds_the_catalogue_under_gw_slash_id() -> None:
    """The bridge's retained gateway and item meta parse back into catalogue entries named <gw>/<id>."""
    msgs = meta_messages(CATALOGUE, Topics("sc", "g1"), "boot1", "msgpack")
    gm = M.parse_gateway_meta(msgs["sc/g1/meta"], "g1")
    assert (gm.boot, gm.payload, gm.sensors, gm.outputs) == ("boot1", "msgpack", ("env",), ("pwm", "relay1"))
    env = M.parse_item_meta(msgs["sc/g1/env/meta"], "g1", "env")
    assert isinstance(env, SensorInfo)
    assert (env.id, env.driver, env.model, env.interval_s, env.simulated, env.readings_per_poll) == (
        "g1/env",
        "bme280",
        "BME280",
        0.5,
        True,
        10,
    )
    assert [(f.name, f.unit, f.kind, f.device_class, f.series) for f in env.fields] == [
        ("t", "°C", "float", "temperature", "gauge"),
        ("c", "", "float", None, "gauge"),
    ]
    pwm = M.parse_item_meta(msgs["sc/g1/pwm/meta"], "g1", "pwm")
    relay = M.parse_item_meta(msgs["sc/g1/relay1/meta"], "g1", "relay1")
    assert pwm == ActuatorInfo("g1/pwm", "pwm", "number", 0.0, 100.0, None, "%", True)
    assert isinstance(relay, ActuatorInfo) and (relay.kind, relay.min, relay.max) == ("switch", 0.0, 1.0)
    bare = M.parse_item_meta(b'{"id": "s", "fields": [], "interval_s": 0}', "g1", "s")
    assert isinstance(bare, SensorInfo) and (bare.driver, bare.readings_per_poll) == ("remote", 1)


def _gateway_meta(payload: bytes) -> object:
    return M.parse_gateway_meta(payload, "g1")


def _item_meta(payload: bytes) -> object:
    return M.parse_item_meta(payload, "g1", "s")


@pytest.mark.parametrize(
    ("parse", "payload"),
    [
        (_gateway_meta, b"x" * (M.MAX_META_BYTES + 1)),
        (_gateway_meta, b"nope"),
        (_gateway_meta, b"[]"),
        (_gateway_meta, b'{"gw": "g2", "boot": "b", "payload": "json", "sensors": [], "outputs": []}'),
        (_gateway_meta, b'{"gw": "g1", "boot": 1, "payload": "json", "sensors": [], "outputs": []}'),
        (_gateway_meta, b'{"gw": "g1", "boot": "b", "payload": "xml", "sensors": [], "outputs": []}'),
        (_gateway_meta, b'{"gw": "g1", "boot": "b", "payload": "json", "sensors": {}, "outputs": []}'),
        (_item_meta, b'{"id": "other", "fields": []}'),
        (_item_meta, b'{"id": "s", "fields": {}}'),
        (_item_meta, b'{"id": "s", "fields": [{"unit": "V"}]}'),
        (_item_meta, b'{"id": "s", "fields": [5]}'),
    ],
)
def test_malformed_meta_is_refused(parse: Callable[[bytes], object], payload: bytes) -> None:
    """Gateway meta too big, not JSON, of another gateway or with bad fields is refused; so is item meta for
    another id or with bad fields."""
    with pytest.raises(FleetInputError):
        parse(payload)


def test_gateway_meta_drops_ids_that_are_not_plain_levels() -> None:
    """Ids that could not be topic levels are left out of the lists."""
    gm = M.parse_gateway_meta(
        b'{"gw": "g1", "boot": "b", "payload": "json", "sensors": ["ok", "../x", 5], "outputs": []}', "g1"
    )
    assert gm.sensors == ("ok",)


def test_health_status_and_results() -> None:
    """Health, the Last Will and command results decode from the bridge's encoders; anything else is refused."""
    assert M.parse_health(health_message("failing", "I2C NACK")) == ("failing", "I2C NACK")
    assert M.parse_health(health_message("ok", None)) == ("ok", None)
    with pytest.raises(FleetInputError):
        M.parse_health(b'{"state": "exploded"}')
    assert (M.parse_status(b"online"), M.parse_status(b" OFFLINE\n")) == (True, False)
    for bad in (b"maybe", b"x" * (M.MAX_SMALL_BYTES + 1)):
        with pytest.raises(FleetInputError):
            M.parse_status(bad)
    assert M.parse_result(encode_result("relay1", True, True), "relay1") == M.Result(True, True)
    assert M.parse_result(encode_result("pwm", True, 2.5), "pwm") == M.Result(True, 2.5)
    assert M.parse_result(b'{"target": "pwm", "ok": true, "value": [1]}', "pwm") == M.Result(True, None)
    assert M.parse_result(encode_result("r", False, error="too soon"), "r") == M.Result(
        False, error="too soon"
    )
    assert M.parse_result(b'{"target": "r", "ok": false}', "r") == M.Result(
        False, error="refused by the gateway"
    )
    for bad in (b'{"target": "x", "ok": true}', b'{"target": "r", "ok": 1}'):
        with pytest.raises(FleetInputError):
            M.parse_result(bad, "r")


def test_commands_encode_what_the_bridge_parses() -> None:
    """The fleet's command payload is read by the gateway's parser as the same value."""
    for v in (True, 0.5, "on", None, 3):
        assert parse_command(M.encode_command(v)) == v
    assert M.valid_id("a-b_1") and not M.valid_id("a/b") and not M.valid_id(5)
