"""Client -> server control messages: parsing and validation. Pure.

Accepts a binary frame (msgpack map) or a text frame (JSON object); both yield the same typed messages.
Every rejection is a :class:`ProtocolError` whose text names the offending key and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from gateway.protocol.errors import ProtocolError

Policy = Literal["instant", "ideal", "fixed"]
POLICIES: tuple[str, ...] = ("instant", "ideal", "fixed")
AGGREGATES: tuple[str, ...] = ("min", "max", "mean", "last")
MIN_PERIOD_MS = 10
"""Shortest accepted ``period``/``minPeriod``: below the default flush interval it buys nothing but CPU."""
MAX_PERIOD_MS = 86_400_000
MAX_ENTRIES = 256
"""Subscription entries per message: enough for every field of a large gateway, small enough to match fast."""
MAX_PATH_LEN = 256


@dataclass(frozen=True, slots=True)
class SubscribeEntry:
    """One ``subscribe`` entry (Signal K vocabulary; periods in ms)."""

    path: str
    policy: Policy = "instant"
    period_ms: int | None = None
    min_period_ms: int = 0
    agg: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Auth:
    """``auth``: present a token."""

    token: str
    ref: object = None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """``subscribe``: add (or with ``replace`` set) entries."""

    entries: tuple[SubscribeEntry, ...]
    replace: bool = False
    ref: object = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """``unsubscribe``: remove entries by exact path (``*`` removes all)."""

    paths: tuple[str, ...]
    ref: object = None


@dataclass(frozen=True, slots=True)
class Resume:
    """``resume``: backfill everything after ``seq`` of boot ``boot``."""

    boot: str
    seq: int
    ref: object = None


@dataclass(frozen=True, slots=True)
class Command:
    """``command``: drive actuator ``target`` to ``value``."""

    target: str
    value: Any
    ref: object = None


@dataclass(frozen=True, slots=True)
class Ping:
    """``ping``: ask for a ``pong`` (latency measurement)."""

    ts: Any = None
    ref: object = None


ControlMessage = Auth | Subscribe | Unsubscribe | Resume | Command | Ping


SHOW_MAX = 40
"""Characters of a peer's own value echoed in an error (an error must not be as large as the message was)."""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOW_MAX else text[: SHOW_MAX - 3] + "..."


def _bad(msg: str, ref: object = None) -> ProtocolError:
    return ProtocolError("bad_message", msg, ref)


def decode_control(data: bytes | str) -> dict[str, Any]:
    """Decode a frame into a message map: JSON for text frames, msgpack for binary frames."""
    obj: Any
    if isinstance(data, str):
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):  # deep nesting ("[[[[...") exhausts the C scanner's recursion
            raise _bad('text frames must be a JSON object, e.g. {"t": "ping"}') from None
    else:
        try:
            obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
        except Exception:  # msgpack raises several unrelated types for garbage input
            raise _bad("binary frames must be one msgpack map") from None
    if not isinstance(obj, dict):
        raise _bad("a control message must be a map with a 't' key")
    return obj


def _int(obj: dict[str, Any], key: str, where: str, ref: object, *, lo: int, hi: int) -> int:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(f"{where}.{key}: expected an integer {lo}..{hi}, got {_show(value)}", ref)
    return value


def _str(obj: dict[str, Any], key: str, where: str, ref: object, *, max_len: int = MAX_PATH_LEN) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _bad(f"{where}.{key}: expected a non-empty string of at most {max_len} characters", ref)
    return value


def _entry(raw: Any, where: str, ref: object) -> SubscribeEntry:
    if not isinstance(raw, dict):
        raise _bad(f"{where}: expected a map with a 'path'", ref)
    unknown = set(raw) - {"path", "policy", "period", "minPeriod", "agg", "format"}
    if unknown:
        raise _bad(
            f"{where}: unknown key {_show(sorted(unknown, key=str)[0])}", ref
        )  # msgpack keys: str or bytes
    path = _str(raw, "path", where, ref)
    policy = raw.get("policy", "instant")
    if policy not in POLICIES:
        raise _bad(f"{where}.policy: expected one of instant, ideal, fixed; got {_show(policy)}", ref)
    period = _int(raw, "period", where, ref, lo=MIN_PERIOD_MS, hi=MAX_PERIOD_MS) if "period" in raw else None
    min_period = _int(raw, "minPeriod", where, ref, lo=0, hi=MAX_PERIOD_MS) if "minPeriod" in raw else 0
    agg_raw = raw.get("agg", [])
    if not isinstance(agg_raw, list) or any(a not in AGGREGATES for a in agg_raw):
        raise _bad(f"{where}.agg: expected a list of min, max, mean, last", ref)
    agg = tuple(a for a in AGGREGATES if a in agg_raw)
    if period is None and (policy != "instant" or agg):
        raise _bad(
            f"{where}.period: required (ms) with policy {_show(policy)}{' and agg' if agg else ''}", ref
        )
    return SubscribeEntry(path, policy, period, min_period, agg)


def _entries(msg: dict[str, Any], key: str, ref: object) -> list[Any]:
    raw = msg.get(key)
    if not isinstance(raw, list) or not raw or len(raw) > MAX_ENTRIES:
        raise _bad(f"{key}: expected a list of 1..{MAX_ENTRIES} entries", ref)
    return raw


def parse_control(data: bytes | str) -> ControlMessage:
    """Parse and validate one client frame.

    Raises:
        ProtocolError: with code ``bad_message`` and a message naming the offending key.
    """
    msg = decode_control(data)
    ref = msg.get("id")
    if isinstance(ref, dict | list):
        raise _bad("id: expected a scalar")
    kind = msg.get("t")
    if kind == "subscribe":
        raw = _entries(msg, "subscribe", ref)
        replace = msg.get("replace", False)
        if not isinstance(replace, bool):
            raise _bad("replace: expected true or false", ref)
        entries = tuple(_entry(e, f"subscribe[{i}]", ref) for i, e in enumerate(raw))
        return Subscribe(entries, replace, ref)
    if kind == "unsubscribe":
        raw = _entries(msg, "unsubscribe", ref)
        paths = []
        for i, e in enumerate(raw):
            if not isinstance(e, dict):
                raise _bad(f"unsubscribe[{i}]: expected a map with a 'path'", ref)
            paths.append(_str(e, "path", f"unsubscribe[{i}]", ref))
        return Unsubscribe(tuple(paths), ref)
    if kind == "resume":
        boot = _str(msg, "boot", "resume", ref, max_len=64)
        if "seq" not in msg:
            raise _bad("resume.seq: required (the last seq you received)", ref)
        return Resume(boot, _int(msg, "seq", "resume", ref, lo=0, hi=2**63 - 1), ref)
    if kind == "auth":
        return Auth(_str(msg, "token", "auth", ref, max_len=512), ref)
    if kind == "command":
        if "value" not in msg:
            raise _bad("command.value: required", ref)
        return Command(_str(msg, "target", "command", ref, max_len=64), msg["value"], ref)
    if kind == "ping":
        return Ping(msg.get("ts"), ref)
    raise _bad(
        f"t: expected one of subscribe, unsubscribe, resume, auth, command, ping; got {_show(kind)}", ref
    )
