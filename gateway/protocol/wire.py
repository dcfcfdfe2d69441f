"""Server -> client frame encoding (msgpack maps keyed by ``t``). See docs/protocol.md."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack

from gateway.protocol.hello import Hello
from gateway.protocol.model import Reading, ReadingTuple

_packer = msgpack.Packer(use_bin_type=True)


def _pack(obj: Mapping[str, Any]) -> bytes:
    data: bytes = _packer.pack(obj)
    return data


def encode_data(readings: Sequence[ReadingTuple], *, backfill: bool = False) -> bytes:
    """Encode a ``data`` frame; readings travel as ``[seq, prev, ts_ns, sensor, values, flags]`` arrays.

    Raises:
        TypeError, ValueError, OverflowError: a value msgpack cannot encode.
    """
    if backfill:
        return _pack({"t": "data", "r": readings, "backfill": True})
    return _pack({"t": "data", "r": readings})


def decode_data_readings(frame: bytes) -> list[ReadingTuple]:
    """The readings of a ``data`` frame from :func:`encode_data`, as plain reading tuples (the resume ring keeps
    each batch as its frame and decodes it only for a ``resume``)."""
    rows: list[list[object]] = msgpack.unpackb(frame, raw=False)["r"]
    return [tuple(r) for r in rows]  # type: ignore[misc]


def encode_agg(period_ms: int, entries: Sequence[Sequence[Any]]) -> bytes:
    """Encode an ``agg`` frame: entries are ``[sensor, t0_ns, t1_ns, n, {field: [min, max, mean, last]}]``."""
    return _pack({"t": "agg", "period": period_ms, "a": entries})


def encode_hello(hello: Hello) -> bytes:
    """Encode the ``hello`` frame (docs/protocol.md)."""
    return _pack(hello.to_wire())


def encode_status(
    *,
    sensors: Mapping[str, Any] | None = None,
    actuators: Mapping[str, Any] | None = None,
    drop: Mapping[str, Any] | None = None,
    role: str | None = None,
) -> bytes:
    """Encode a ``status`` frame with whichever of its parts are given (``role``: a reload changed this
    connection's role)."""
    msg: dict[str, Any] = {"t": "status"}
    if sensors:
        msg["sensors"] = sensors
    if actuators:
        msg["actuators"] = actuators
    if drop:
        msg["drop"] = drop
    if role:
        msg["role"] = role
    return _pack(msg)


def encode_gap(ref: object, boot: str, first: int, last: int | None, reason: str) -> bytes:
    """Encode a ``gap`` frame: readings ``first..last`` (inclusive; ``last`` None = to the end) are lost."""
    return _pack({"t": "gap", "ref": ref, "boot": boot, "from": first, "to": last, "reason": reason})


def encode_ack(ref: object, op: str, **fields: Any) -> bytes:
    """Encode an ``ack`` reply to a successful control message, with any documented extra ``fields``."""
    return _pack({"t": "ack", "ref": ref, "op": op, **fields})


def encode_error(ref: object, code: str, msg: str) -> bytes:
    """Encode an ``error`` reply."""
    return _pack({"t": "error", "ref": ref, "code": code, "msg": msg})


def encode_result(
    ref: object,
    target: str,
    ok: bool,
    value: Any = None,
    error: str | None = None,
    retry_after_s: float | None = None,
) -> bytes:
    """Encode a command ``result`` (a refusal for changing too soon carries ``retry_after_ms``, rounded up)."""
    msg: dict[str, Any] = {"t": "result", "ref": ref, "target": target, "ok": ok}
    if ok:
        msg["value"] = value
    else:
        msg["error"] = error
        if retry_after_s is not None:
            msg["retry_after_ms"] = max(1, math.ceil(retry_after_s * 1000))
    return _pack(msg)


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Encode an ``event`` frame: a rule fired, cleared or was acknowledged (``RuleEvent.as_dict()``)."""
    return _pack({"t": "event", **event})


def encode_pong(ref: object, ts_ns: int, echo: Any) -> bytes:
    """Encode a ``pong`` reply carrying the server time and the client's own timestamp."""
    return _pack({"t": "pong", "ref": ref, "ts": ts_ns, "echo": echo})


def decode_frame(data: bytes) -> dict[str, Any]:
    """Decode one server frame (for clients and tests); readings stay plain lists."""
    obj = msgpack.unpackb(data, raw=False)
    if not isinstance(obj, dict) or "t" not in obj:
        raise ValueError("not a sensorcast frame")
    return obj


def readings_of(frames: Iterable[Mapping[str, Any]]) -> list[Reading]:
    """Collect the readings of decoded ``data`` frames as :class:`Reading` tuples, in arrival order."""
    return [Reading(*r) for f in frames if f.get("t") == "data" for r in f["r"]]
