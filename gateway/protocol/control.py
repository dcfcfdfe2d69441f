"""Client -> server control messages: parsing and validation. Pure.

Accepts a binary frame (msgpack map) or a text frame (JSON object); both yield the same typed messages.
Every rejection is a :class:`ProtocolError` whose text names the offending key and what was expected.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import msgpack

from gateway.protocol.errors import ProtocolError
from gateway.protocol.history import History, parse_history

Policy = Literal["instant", "ideal", "fixed"]
POLICIES: tuple[str, ...] = ("instant", "ideal", "fixed")
AGGREGATES: tuple[str, ...] = ("min", "max", "mean", "last")
MIN_PERIOD_MS = 10
"""Shortest accepted ``period``/``minPeriod``: below the default flush interval it buys nothing but CPU."""
MAX_PERIOD_MS = 86_400_000
MAX_ENTRIES = 256
"""Subscription entries per message: enough for every field of a large gateway, small enough to match fast."""
MAX_PATH_LEN = 256
MAX_DEPTH = 8
"""Nesting levels in a control message (message map, ``subscribe`` list, entry map, ``agg`` list: 4 are used):
deeper input is refused before anything recurses over it."""
MAX_STR_CHARS = 1024
"""Characters in any string of a control message (tokens are at most 512, paths 256)."""
MAX_CONTAINER_ITEMS = 1024
"""Items in any list or map of a control message (``subscribe`` takes at most 256)."""
INT_MIN = -(2**63)
INT_MAX = 2**64 - 1
"""Integers a control message may carry: what msgpack can encode (int64 and uint64), so replies that echo them
(``ref``, ``echo``) always encode."""


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


@dataclass(frozen=True, slots=True)
class AckEvent:
    """``ack_event``: an operator acknowledges the active event of rule ``rule``."""

    rule: str
    ref: object = None


ControlMessage = Auth | Subscribe | Unsubscribe | Resume | Command | Ping | AckEvent | History


SHOW_MAX = 40
"""Characters of a peer's own value echoed in an error (an error must not be as large as the message was)."""


def _show(value: Any) -> str:
    """A short, bounded rendering of a peer's value: scalars (already bounded at decode time) by ``repr``,
    containers by their kind only, so nothing the peer nested is walked here."""
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= SHOW_MAX else text[: SHOW_MAX - 3] + "..."


def _bad(msg: str, ref: object = None) -> ProtocolError:
    return ProtocolError("bad_message", msg, ref)


def json_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when a JSON text nests ``[``/``{`` deeper than ``limit`` (brackets inside strings do not count).

    Decoders recurse: a text must be measured before it is parsed. Each pass removes every innermost ``[]``
    pair, so ``limit`` passes clear any structure at most ``limit`` deep; a pair left over means deeper nesting,
    and more than ``limit`` unclosed openers would make a parser recurse that deep before failing. Cost: at most
    ``limit + 2`` C-level passes over the text, never a Python-level loop per character.
    """
    brackets = _JSON_NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_JSON_FOLD)
    for _ in range(limit):
        inner = brackets.replace("[]", "")
        if inner == brackets:
            break
        brackets = inner
    return "[]" in brackets or brackets.count("[") > limit


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_JSON_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_JSON_FOLD = str.maketrans("{}", "[]")
_SCALARS = (str, int, float, bool, bytes, type(None))


def check_bounds(obj: Any) -> None:
    """Check a decoded message against the decode-time limits, without recursion.

    Raises:
        ProtocolError: ``bad_message`` naming the top-level key whose value is nested too deep, holds an
            integer outside int64/uint64, a NaN or infinite number, an over-long string or container, or a type
            the protocol does not use (msgpack extension types).
    """
    stack: list[tuple[Any, int, str]] = [(obj, 1, "message")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise _bad(f"{where}: nested deeper than {MAX_DEPTH} levels")
            if len(value) > MAX_CONTAINER_ITEMS:
                raise _bad(f"{where}: more than {MAX_CONTAINER_ITEMS} items")
            if isinstance(value, dict):
                for k, v in value.items():
                    inner = str(k)[:SHOW_MAX] if depth == 1 else where
                    stack.append((k, depth + 1, inner))
                    stack.append((v, depth + 1, inner))
            else:
                stack.extend((v, depth + 1, where) for v in value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                raise _bad(f"{where}: integers must lie in -2**63..2**64-1")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _bad(f"{where}: numbers must be finite")
        elif isinstance(value, str | bytes):
            if len(value) > MAX_STR_CHARS:
                raise _bad(f"{where}: strings are at most {MAX_STR_CHARS} characters")
        else:
            raise _bad(f"{where}: msgpack extension types are not used by the protocol")


def decode_control(data: bytes | str) -> dict[str, Any]:
    """Decode a frame into a message map: JSON for text frames, msgpack for binary frames.

    Depth, lengths, integer range and float finiteness are checked here (:func:`check_bounds`), before any
    other code looks at the message.
    """
    obj: Any
    if isinstance(data, str):
        if json_too_deep(data):
            raise _bad(f"message: nested deeper than {MAX_DEPTH} levels")
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: kept as a second line of defence
            raise _bad('text frames must be a JSON object, e.g. {"t": "ping"}') from None
    else:
        try:
            obj = msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=True,
                max_str_len=MAX_STR_CHARS * 4,  # UTF-8: up to 4 bytes a character; the count is checked below
                max_bin_len=MAX_STR_CHARS,
                max_array_len=MAX_CONTAINER_ITEMS,
                max_map_len=MAX_CONTAINER_ITEMS,
                max_ext_len=0,
            )
        except Exception:  # msgpack raises several unrelated types for garbage input
            raise _bad("binary frames must be one msgpack map") from None
    if not isinstance(obj, dict):
        raise _bad("a control message must be a map with a 't' key")
    check_bounds(obj)
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
    if kind == "ack_event":
        return AckEvent(_str(msg, "rule", "ack_event", ref, max_len=64), ref)
    if kind == "history":
        return parse_history(msg, ref)
    raise _bad(
        "t: expected one of subscribe, unsubscribe, resume, auth, command, ping, ack_event, history; "
        f"got {_show(kind)}",
        ref,
    )
