"""Server -> client frames: each encoder yields exactly the documented msgpack map."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from gateway.protocol import FLAG_CLOCK_SYNCED, FLAG_SIMULATED, PROTOCOL_VERSION
from gateway.protocol.hello import ActuatorEntry, FieldEntry, Hello, Listing, SensorEntry
from gateway.protocol.model import Reading
from gateway.protocol.wire import (
    decode_frame,
    encode_ack,
    encode_agg,
    encode_data,
    encode_error,
    encode_event,
    encode_gap,
    encode_hello,
    encode_pong,
    encode_result,
    encode_status,
    readings_of,
)

R1 = Reading(
    1,
    0,
    1_700_000_000_000_000_000,
    "env",
    {"temperature_c": 21.5, "ok": True, "mode": "run", "x": None},
    FLAG_CLOCK_SYNCED | FLAG_SIMULATED,
)
R2 = Reading(2, 0, 1_700_000_000_001_000_000, "imu", {"ax": -3})
R3 = Reading(3, 1, 1_700_000_000_002_000_000, "env", {})


def unpack(data: bytes) -> Any:
    """Decode with plain msgpack, independently of decode_frame."""
    return msgpack.unpackb(data, raw=False)


def test_data_frame_carries_readings_as_arrays() -> None:
    """data: {'t': 'data', 'r': [[seq, prev, ts_ns, sensor, values, flags], ...]}, plus backfill: true."""
    rows = [
        [
            1,
            0,
            1_700_000_000_000_000_000,
            "env",
            {"temperature_c": 21.5, "ok": True, "mode": "run", "x": None},
            3,
        ],
        [2, 0, 1_700_000_000_001_000_000, "imu", {"ax": -3}, 0],
        [3, 1, 1_700_000_000_002_000_000, "env", {}, 0],
    ]
    assert unpack(encode_data([R1, R2, R3])) == {"t": "data", "r": rows}
    assert unpack(encode_data([R1, R2, R3], backfill=True)) == {"t": "data", "r": rows, "backfill": True}
    assert unpack(encode_data([])) == {"t": "data", "r": []}


def test_agg_frame() -> None:
    """agg: {'t': 'agg', 'period': ms, 'a': [[sensor, t0_ns, t1_ns, n, {field: [min, max, mean, last]}]]}."""
    entries = [["imu", 10, 20, 2, {"ax": [1.0, 3.0, 2.0, 3.0], "ok": [None, None, None, True]}]]
    assert unpack(encode_agg(1000, entries)) == {"t": "agg", "period": 1000, "a": entries}


def test_hello_frame_has_documented_fields() -> None:
    """hello: the documented keys in the documented order, the catalogue entries with their derived rate_hz."""
    field = FieldEntry("temperature_c", "Temperature", "°C", "float", "temperature", "gauge")
    env = SensorEntry("env", "bme280", "BME280", "", 2.0, True, "ok", None, (field,))
    gps = SensorEntry("gps", "nmea_gps", "NMEA 0183", "", 0.0, False, "failing", "timeout", ())
    relay = ActuatorEntry("relay1", "relay", "switch", 0.0, 1.0, False, "", True, True, 0.5, None)
    hello = Hello(
        v=PROTOCOL_VERSION,
        gw="pi-kitchen",
        boot="3f2a9c0d8e1b4a7f",
        seq=1234,
        ts=1_700_000_000_000_000_000,
        clock_synced=True,
        role=None,
        server="sensorcast/1.0",
        caps=("subscribe", "resume"),
        listing=Listing((env, gps), (relay,)),
        limits={"flush_ms": 20, "ring": 4096},
        rules=({"id": "too-hot", "sensor": "env", "field": "temperature_c", "when": "above"},),
        events=({"rule": "too-hot", "state": "active"},),
    )
    got = unpack(encode_hello(hello))
    assert list(got) == [
        "t", "v", "gw", "boot", "seq", "ts", "clock_synced", "role", "server", "caps", "sensors", "actuators",
        "rules", "events", "limits",
    ]  # fmt: skip
    assert got["caps"] == ["subscribe", "resume"] and got["limits"] == {"flush_ms": 20, "ring": 4096}
    assert got["rules"] == [{"id": "too-hot", "sensor": "env", "field": "temperature_c", "when": "above"}]
    assert got["events"] == [{"rule": "too-hot", "state": "active"}]
    assert got["sensors"] == [
        {
            "id": "env", "driver": "bme280", "model": "BME280", "description": "", "interval_s": 2.0,
            "rate_hz": 0.5, "sim": True, "state": "ok", "error": None,
            "fields": [
                {"name": "temperature_c", "label": "Temperature", "unit": "°C", "kind": "float",
                 "device_class": "temperature", "series": "gauge"}
            ],
        },
        {
            "id": "gps", "driver": "nmea_gps", "model": "NMEA 0183", "description": "", "interval_s": 0.0,
            "rate_hz": None, "sim": False, "state": "failing", "error": "timeout", "fields": [],
        },
    ]  # fmt: skip
    assert got["actuators"] == [
        {
            "id": "relay1", "driver": "relay", "kind": "switch", "min": 0.0, "max": 1.0, "safe_value": False,
            "unit": "", "safe_on_disconnect": True, "min_interval_s": 0.5, "sim": True, "value": None,
        }
    ]  # fmt: skip
    assert (got["t"], got["v"], got["seq"], PROTOCOL_VERSION) == ("hello", 1, 1234, 1)


def test_status_frame_has_only_given_parts() -> None:
    """status: only the non-empty parts among sensors, actuators, drop and role appear."""
    sensors = {"env": {"state": "failing", "error": "I2C NACK (errno 121)", "since": 5}}
    actuators = {"relay1": {"value": True}}
    drop = {"n": 152, "from": 9001, "to": 9410, "reason": "slow_client"}
    assert unpack(encode_status(sensors=sensors, actuators=actuators, drop=drop)) == {
        "t": "status",
        "sensors": sensors,
        "actuators": actuators,
        "drop": drop,
    }
    assert unpack(encode_status(drop=drop)) == {"t": "status", "drop": drop}
    assert unpack(encode_status(sensors=sensors, actuators={})) == {"t": "status", "sensors": sensors}
    assert unpack(encode_status(actuators=actuators)) == {"t": "status", "actuators": actuators}
    assert unpack(encode_status()) == {"t": "status"}
    assert unpack(encode_status(role="viewer")) == {"t": "status", "role": "viewer"}  # a reload demoted it


def test_gap_frame() -> None:
    """gap: ref, boot, from, to (nil = to the end of that boot) and reason."""
    assert unpack(encode_gap(3, "3f2a", 101, 4000, "ring")) == {
        "t": "gap",
        "ref": 3,
        "boot": "3f2a",
        "from": 101,
        "to": 4000,
        "reason": "ring",
    }
    assert unpack(encode_gap(None, "old", 43, None, "boot")) == {
        "t": "gap",
        "ref": None,
        "boot": "old",
        "from": 43,
        "to": None,
        "reason": "boot",
    }


def test_reply_frames() -> None:
    """ack, error, result (ok with value / failed with error) and pong carry exactly their documented keys."""
    assert unpack(encode_ack(1, "subscribe")) == {"t": "ack", "ref": 1, "op": "subscribe"}
    assert unpack(encode_ack(2, "resume", n=5, deferred_ms=120)) == {
        "t": "ack",
        "ref": 2,
        "op": "resume",
        "n": 5,
        "deferred_ms": 120,
    }
    assert unpack(encode_error("x", "bad_message", "resume.seq: required")) == {
        "t": "error",
        "ref": "x",
        "code": "bad_message",
        "msg": "resume.seq: required",
    }
    assert unpack(encode_result(4, "relay1", True, value=True)) == {
        "t": "result",
        "ref": 4,
        "target": "relay1",
        "ok": True,
        "value": True,
    }
    assert unpack(encode_result(4, "relay1", False, error="operator role required")) == {
        "t": "result",
        "ref": 4,
        "target": "relay1",
        "ok": False,
        "error": "operator role required",
    }
    assert unpack(encode_pong(5, 1_700_000_000_000_000_000, 1234.5)) == {
        "t": "pong",
        "ref": 5,
        "ts": 1_700_000_000_000_000_000,
        "echo": 1234.5,
    }


def test_decode_frame_returns_the_map() -> None:
    """decode_frame returns a frame's map with readings as plain lists."""
    assert decode_frame(encode_data([R2])) == {
        "t": "data",
        "r": [[2, 0, 1_700_000_000_001_000_000, "imu", {"ax": -3}, 0]],
    }


@pytest.mark.parametrize("obj", [[1, 2], {"r": []}, 5, "data", None])
def test_decode_frame_rejects_non_frames(obj: object) -> None:
    """Anything but a map with a 't' key is not a sensorcast frame."""
    with pytest.raises(ValueError, match=r"^not a sensorcast frame$"):
        decode_frame(msgpack.packb(obj))


def test_decode_frame_rejects_bytes_that_are_not_msgpack() -> None:
    """Bytes that are not one msgpack object raise ValueError."""
    with pytest.raises(ValueError):
        decode_frame(b"\xc1")
    with pytest.raises(ValueError):
        decode_frame(encode_ack(1, "x") + b"\x00")


def test_readings_of_collects_data_frames_in_order() -> None:
    """readings_of returns Reading tuples of every data frame in arrival order, skipping other frames."""
    frames = [
        decode_frame(f)
        for f in (
            encode_data([R1]),
            encode_ack(1, "subscribe"),
            encode_gap(1, "b", 1, 2, "ring"),
            encode_data([R2, R3], backfill=True),
            encode_agg(10, [["x", 1, 1, 1, {}]]),
        )
    ]
    got = readings_of(frames)
    assert got == [R1, R2, R3]
    assert all(type(r) is Reading for r in got)
    assert readings_of([]) == []


def test_a_refusal_for_changing_too_soon_carries_retry_after_ms_rounded_up() -> None:
    """0.3 s -> 300 ms, 0.0001 s -> 1 ms (never 0: retrying at once would be refused again)."""
    msgs = [
        unpack(encode_result(7, "relay1", False, error="too soon", retry_after_s=s)) for s in (0.3, 0.0001)
    ]
    assert msgs == [
        {"t": "result", "ref": 7, "target": "relay1", "ok": False, "error": "too soon", "retry_after_ms": ms}
        for ms in (300, 1)
    ]


def test_event_frame_is_the_rule_event_with_its_type() -> None:
    """An ``event`` frame is ``t: event`` followed by the rule event's fields, in order, values untouched."""
    event = {
        "rule": "hot",
        "sensor": "env",
        "field": "temperature_c",
        "state": "active",
        "value": 31.2,
        "threshold": 30.0,
        "severity": "warning",
        "ts": 1_700_000_000_000_000_000,
        "acked_by": None,
    }
    frame = unpack(encode_event(event))
    assert list(frame.items()) == [("t", "event"), *event.items()]
