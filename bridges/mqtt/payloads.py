"""Payload encoders and the command payload parser (pure).

* ``json``: ``{"gw", "boot", "seq", "prev", "ts_ns", "flags", "values": {...}}`` (compact, UTF-8). Home
  Assistant templates read it as ``value_json['values']['temperature_c']`` (``values`` is also a dict method
  name in Jinja, hence the bracket form).
* ``msgpack``: exactly the WebSocket wire reading array ``[seq, prev, ts_ns, sensor, values, flags]``
  (docs/protocol.md), the same bytes the dashboard path carries. The boot id travels as the MQTT 5 user
  property ``boot`` (and in the retained gateway meta).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import msgpack

from gateway.protocol.model import FLAGS, PREV, SENSOR, SEQ, TS_NS, VALUES, Reading, ReadingTuple

Encoder = Callable[[ReadingTuple], bytes]
_packer = msgpack.Packer(use_bin_type=True)


def _finite(values: Mapping[str, Any]) -> Mapping[str, Any]:
    # JSON has no NaN/Infinity; null is what consumers can parse.
    if any(isinstance(v, float) and not math.isfinite(v) for v in values.values()):
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
    return values


def _finite_value(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def encode_json(reading: ReadingTuple, gateway_id: str, boot_id: str, agg: list[Any] | None = None) -> bytes:
    """Encode one reading as compact JSON carrying its identity ``(gw, boot, seq)``.

    ``agg`` (a rate-limited reading, bridges/mqtt/throttle.py) adds ``"agg": {"t0_ns", "n", "fields": {field:
    [min, max, mean, last]}}``: the readings it stands for, from the first one's timestamp to ``ts_ns``.
    """
    doc: dict[str, Any] = {
        "gw": gateway_id,
        "boot": boot_id,
        "seq": reading[SEQ],
        "prev": reading[PREV],
        "ts_ns": reading[TS_NS],
        "flags": reading[FLAGS],
        "values": _finite(reading[VALUES]),
    }
    if agg is not None:
        fields = {name: [_finite_value(v) for v in stats] for name, stats in agg[4].items()}
        doc["agg"] = {"t0_ns": agg[1], "n": agg[3], "fields": fields}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def encode_msgpack(reading: ReadingTuple) -> bytes:
    """Encode one reading as the wire array ``[seq, prev, ts_ns, sensor, values, flags]``."""
    data: bytes = _packer.pack(
        [reading[SEQ], reading[PREV], reading[TS_NS], reading[SENSOR], dict(reading[VALUES]), reading[FLAGS]]
    )
    return data


def encoder(payload: str, gateway_id: str, boot_id: str) -> Encoder:
    """Return the encoder for config ``mqtt.payload`` (``json`` or ``msgpack``)."""
    if payload == "msgpack":
        return encode_msgpack
    if payload == "json":
        return lambda r: encode_json(r, gateway_id, boot_id)
    raise ValueError(f"unknown payload format {payload!r}")


def decode_reading(payload: bytes, fmt: str, sensor: str = "") -> Reading:
    """Decode a data message back into a :class:`Reading` (for consumers, tests and the benchmark).

    JSON payloads do not repeat the sensor id (it is in the topic): pass it as ``sensor``.
    """
    if fmt == "msgpack":
        seq, prev, ts_ns, sensor, values, flags = msgpack.unpackb(payload, raw=False)
        return Reading(seq, prev, ts_ns, sensor, values, flags)
    doc = json.loads(payload)
    return Reading(doc["seq"], doc["prev"], doc["ts_ns"], sensor, doc["values"], doc["flags"])


def parse_command(payload: bytes) -> Any:
    """Return the value a command message asks for.

    Accepted: a JSON scalar (``true``, ``0.5``, ``"on"``), a JSON object with ``value``, or a bare word as
    Home Assistant sends it (``ON``/``OFF``, ``42``). Validation against the output's kind and range is the
    gateway's job (the same allowlist as the WebSocket path).

    Raises:
        ValueError: empty, not UTF-8, or an object without ``value``.
    """
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ValueError("command payload is not UTF-8") from exc
    if not text:
        raise ValueError("empty command payload")
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, dict):
        if "value" not in value:
            raise ValueError("command object needs a 'value' key")
        return value["value"]
    return value


def encode_result(target: str, ok: bool, value: Any = None, error: str | None = None) -> bytes:
    """Encode a command result like the WebSocket ``result`` reply (JSON)."""
    doc: dict[str, Any] = {"target": target, "ok": ok}
    if ok:
        doc["value"] = value
    else:
        doc["error"] = error
    return json.dumps(doc, separators=(",", ":")).encode()
