"""What gateways publish, decoded for the fleet (pure): topics, readings, metadata, health, command results.

The broker is as hostile as any network peer: a payload is bounded before it is decoded, every field is
type-checked, and an id that is not a plain topic level (``[A-Za-z0-9_-]``, at most :data:`MAX_ID_CHARS`)
is refused, so a gateway's sensors are always named ``<gateway>/<sensor>`` from the topic levels it
published under and cannot take another gateway's names. The topic layout is the bridge's
(bridges/mqtt/topics.py, docs/mqtt.md).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import msgpack

from gateway.protocol.model import Value
from sensors.base import ActuatorInfo, FieldSpec, SensorInfo

MAX_ID_CHARS = 31
"""Longest gateway, sensor or output id (characters): ``<gateway>/<output>`` must fit the protocol's 64-character
command target."""
MAX_DATA_BYTES = 16 * 1024
"""Largest reading payload decoded (bytes); a reading is ~100-500 bytes, a GPS fix with text ~2 KiB."""
MAX_META_BYTES = 64 * 1024
"""Largest retained meta payload decoded (bytes): a gateway's list of up to hundreds of ids."""
MAX_SMALL_BYTES = 4096
"""Largest status, health or command result payload (bytes)."""
MAX_FIELDS = 64
"""Fields per reading and per sensor entry."""
MAX_TEXT_CHARS = 256
"""Longest string value, description, unit or error text kept (characters)."""
MAX_LIST_IDS = 1024
"""Sensor or output ids listed in one gateway meta."""
FLAG_MASK = 0xFF
"""Reading flag bits passed through (the defined ones and room for more)."""

_ID = re.compile(f"[A-Za-z0-9_-]{{1,{MAX_ID_CHARS}}}")


class FleetInputError(ValueError):
    """A message from the broker that cannot be used; the text names what was wrong, never echoes it."""


def valid_id(text: object) -> bool:
    """Whether ``text`` is usable as a gateway, sensor or output id (one plain topic level)."""
    return isinstance(text, str) and _ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: ``kind`` is ``status``, ``gateway_meta``, ``data``, ``meta``, ``health`` or ``result``."""

    gateway: str
    kind: str
    item: str = ""
    """Sensor or output id (empty for the gateway's own topics)."""


def parse_topic(topic: str, prefix: str) -> Topic | None:
    """The parts of a gateway topic under ``prefix``, or None for a topic the fleet does not read."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    levels = topic[len(head) :].split("/")
    if not valid_id(levels[0]):
        return None
    if len(levels) == 2 and levels[1] in ("status", "meta"):
        return Topic(levels[0], "status" if levels[1] == "status" else "gateway_meta")
    if len(levels) == 3 and levels[2] in ("data", "meta", "health", "result") and valid_id(levels[1]):
        return Topic(levels[0], levels[2], levels[1])
    return None


@dataclass(frozen=True, slots=True)
class Upstream:
    """One reading as a gateway published it, with its identity."""

    boot: str | None
    """From the JSON payload, or the MQTT 5 user property; None when neither carried one."""
    seq: int
    prev: int
    ts_ns: int
    values: dict[str, Value]
    flags: int


def _bounded(payload: bytes, limit: int, what: str) -> None:
    if len(payload) > limit:
        raise FleetInputError(f"{what} larger than {limit} bytes")


def _uint(v: object, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 2**63 - 1:
        raise FleetInputError(f"{what}: expected an unsigned integer")
    return v


def _values(v: object) -> dict[str, Value]:
    if not isinstance(v, dict) or len(v) > MAX_FIELDS:
        raise FleetInputError(f"values: expected a map of at most {MAX_FIELDS} fields")
    out: dict[str, Value] = {}
    for k, x in v.items():
        if not isinstance(k, str) or not 0 < len(k) <= MAX_ID_CHARS or "." in k:
            raise FleetInputError("values: a field name is not a short string without '.'")
        if isinstance(x, float):
            out[k] = x if math.isfinite(x) else None
        elif _scalar(x):
            out[k] = x
        else:
            raise FleetInputError("values: a value is not a number, bool, short string or null")
    return out


def _scalar(x: object) -> bool:
    """A value kept as it is: null, a bool, a 64-bit integer or a short string."""
    if x is None or isinstance(x, bool):
        return True
    if isinstance(x, int):
        return -(2**63) <= x < 2**64
    return isinstance(x, str) and len(x) <= MAX_TEXT_CHARS


def _text(v: object, default: str = "") -> str:
    return v[:MAX_TEXT_CHARS] if isinstance(v, str) else default


def decode_data(payload: bytes, fmt: str, gateway: str, boot: str | None) -> Upstream:
    """Decode a data message of ``gateway`` in format ``fmt`` (``json`` or ``msgpack``, from its meta).

    ``boot`` is the MQTT 5 user property (msgpack payloads carry no boot of their own).

    Raises:
        FleetInputError: too large, malformed, or claiming another gateway's identity.
    """
    _bounded(payload, MAX_DATA_BYTES, "reading")
    if fmt == "msgpack":
        try:
            doc = msgpack.unpackb(payload, raw=False, max_bin_len=0, max_ext_len=0, strict_map_key=True)
        except (ValueError, msgpack.UnpackException) as exc:
            raise FleetInputError("reading: not msgpack") from exc
        if not isinstance(doc, list) or len(doc) != 6:
            raise FleetInputError("reading: expected [seq, prev, ts_ns, sensor, values, flags]")
        seq, prev, ts_ns, _sensor, values, flags = doc
    else:
        try:
            doc = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise FleetInputError("reading: not JSON") from exc
        if not isinstance(doc, dict):
            raise FleetInputError("reading: expected a JSON object")
        if doc.get("gw") != gateway:
            raise FleetInputError("reading: 'gw' is not the gateway of its topic")
        b = doc.get("boot")
        if not isinstance(b, str) or not 0 < len(b) <= MAX_ID_CHARS:
            raise FleetInputError("reading: 'boot' is not a short string")
        boot = b
        seq, prev, ts_ns, values, flags = (doc.get(k) for k in ("seq", "prev", "ts_ns", "values", "flags"))
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, int) or not 0 <= ts_ns < 2**63:
        raise FleetInputError("ts_ns: expected a timestamp in ns")
    return Upstream(
        boot,
        _uint(seq, "seq"),
        _uint(prev, "prev"),
        ts_ns,
        _values(values),
        _uint(flags, "flags") & FLAG_MASK,
    )


@dataclass(frozen=True, slots=True)
class GatewayMeta:
    """A gateway's retained meta: its boot, payload format and the ids it serves."""

    boot: str
    payload: str
    sensors: tuple[str, ...]
    outputs: tuple[str, ...]


def _json_object(payload: bytes, limit: int, what: str) -> dict[str, Any]:
    _bounded(payload, limit, what)
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise FleetInputError(f"{what}: not JSON") from exc
    if not isinstance(doc, dict):
        raise FleetInputError(f"{what}: expected a JSON object")
    return doc


def _ids(v: object, what: str) -> tuple[str, ...]:
    if not isinstance(v, list) or len(v) > MAX_LIST_IDS:
        raise FleetInputError(f"{what}: expected a list of at most {MAX_LIST_IDS} ids")
    return tuple(x for x in v if valid_id(x))


def parse_gateway_meta(payload: bytes, gateway: str) -> GatewayMeta:
    """Decode ``<prefix>/<gw>/meta``.

    Raises:
        FleetInputError: malformed, or naming another gateway.
    """
    doc = _json_object(payload, MAX_META_BYTES, "gateway meta")
    if doc.get("gw") != gateway:
        raise FleetInputError("gateway meta: 'gw' is not the gateway of its topic")
    boot = doc.get("boot")
    if not isinstance(boot, str) or not 0 < len(boot) <= MAX_ID_CHARS:
        raise FleetInputError("gateway meta: 'boot' is not a short string")
    fmt = doc.get("payload")
    if fmt not in ("json", "msgpack"):
        raise FleetInputError("gateway meta: 'payload' is neither json nor msgpack")
    return GatewayMeta(boot, fmt, _ids(doc.get("sensors"), "sensors"), _ids(doc.get("outputs"), "outputs"))


def _number(v: object, default: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return default
    return float(v)


_KINDS = ("float", "int", "bool", "str")
_SERIES = ("gauge", "counter", "state")


def _field(doc: object) -> FieldSpec:
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("name"), str)
        or not 0 < len(doc["name"]) <= MAX_ID_CHARS
    ):
        raise FleetInputError("sensor meta: a field has no short 'name'")
    kind = doc.get("kind")
    series = doc.get("series")
    dc = doc.get("device_class")
    return FieldSpec(
        doc["name"],
        unit=_text(doc.get("unit")),
        kind=kind if kind in _KINDS else "float",
        device_class=_text(dc) if isinstance(dc, str) else None,
        series=series if series in _SERIES else "gauge",
    )


def parse_item_meta(payload: bytes, gateway: str, item: str) -> SensorInfo | ActuatorInfo:
    """Decode ``<prefix>/<gw>/<item>/meta`` into the fleet's catalogue entry named ``<gw>/<item>``.

    Raises:
        FleetInputError: malformed, or naming another item than its topic.
    """
    doc = _json_object(payload, MAX_META_BYTES, "sensor meta")
    if doc.get("id") != item:
        raise FleetInputError("sensor meta: 'id' is not the item of its topic")
    name = f"{gateway}/{item}"
    sim = doc.get("sim") is True
    if doc.get("output") is True:
        return ActuatorInfo(
            name,
            _text(doc.get("driver"), "remote"),
            "number" if doc.get("kind") == "number" else "switch",
            min=_number(doc.get("min"), 0.0),
            max=_number(doc.get("max"), 1.0),
            unit=_text(doc.get("unit")),
            simulated=sim,
            min_interval_s=_number(doc.get("min_interval_s"), 0.0),
        )
    fields = doc.get("fields")
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        raise FleetInputError(f"sensor meta: 'fields' is not a list of at most {MAX_FIELDS}")
    interval_s = max(0.0, _number(doc.get("interval_s"), 0.0))
    rate = _number(doc.get("rate_hz"), 0.0)
    per_poll = round(rate * interval_s) if rate > 0 and interval_s > 0 else 1
    return SensorInfo(
        name,
        _text(doc.get("driver"), "remote"),
        tuple(_field(f) for f in fields),
        interval_s,
        simulated=sim,
        description=_text(doc.get("description")),
        model=_text(doc.get("model")),
        readings_per_poll=max(1, min(per_poll, 100_000)),
    )


def parse_health(payload: bytes) -> tuple[str, str | None]:
    """Decode ``<item>/health``: ``(state, error)``.

    Raises:
        FleetInputError: malformed.
    """
    doc = _json_object(payload, MAX_SMALL_BYTES, "health")
    state = doc.get("state")
    if state not in ("ok", "failing", "offline", "recovering", "starting", "stopped"):
        raise FleetInputError("health: unknown 'state'")
    err = doc.get("error")
    return state, _text(err) if isinstance(err, str) else None


def parse_status(payload: bytes) -> bool:
    """Decode ``<gw>/status`` (the Last Will): True for ``online``.

    Raises:
        FleetInputError: neither online nor offline.
    """
    _bounded(payload, MAX_SMALL_BYTES, "status")
    text = payload.strip().lower()
    if text not in (b"online", b"offline"):
        raise FleetInputError("status: neither online nor offline")
    return text == b"online"


@dataclass(frozen=True, slots=True)
class Result:
    """A command result a gateway published on ``<output>/result``."""

    ok: bool
    value: Value = None
    error: str | None = None


def parse_result(payload: bytes, item: str) -> Result:
    """Decode ``<output>/result`` (bridges/mqtt/payloads.py ``encode_result``).

    Raises:
        FleetInputError: malformed, or for another output.
    """
    doc = _json_object(payload, MAX_SMALL_BYTES, "result")
    if doc.get("target") != item or not isinstance(doc.get("ok"), bool):
        raise FleetInputError("result: not a result for this output")
    if doc["ok"]:
        v = doc.get("value")
        ok_value: Value = v if _scalar(v) or isinstance(v, float) else None
        return Result(True, ok_value)
    return Result(False, error=_text(doc.get("error"), "refused by the gateway") or "refused by the gateway")


def encode_command(value: Value) -> bytes:
    """The payload the fleet publishes on ``<output>/set`` (bridges/mqtt/payloads.py ``parse_command``)."""
    return json.dumps({"value": value}, separators=(",", ":"), allow_nan=False).encode()
