"""The ``history`` control message and its paged reply frames. Pure.

Request (viewer role suffices)::

    {"t": "history", "id": 7, "sensor": "env", "fields": ["temperature_c"],
     "from": 1764892800000000000, "to": 1764979200000000000, "points": 1000}

``points`` (about that many buckets, the server picks the tier) or ``period`` (bucket length in ms) or
neither (raw rows). Replies are one or more ``history`` frames, each at most ``max_message_bytes``; the last has
``done: true`` and, when more rows exist than one query returns, ``next`` (the ``from`` of the next query).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from gateway.protocol.errors import ProtocolError

MAX_FIELDS = 64
"""Fields one query names: a large sensor has a dozen; more would only multiply the work."""
MAX_POINTS = 10_000
"""``points`` at most: more than any chart is wide, small enough to answer within a second on a Pi."""
MAX_PERIOD_MS = 366 * 86_400_000
"""Longest bucket (a year): coarser buckets say nothing a year-long one does not."""
TS_MAX = 2**63 - 1
FRAME_SLACK_BYTES = 64
"""Room kept in each frame for the ``part``/``done``/``next`` keys added after the rows were sized."""


@dataclass(frozen=True, slots=True)
class History:
    """``history``: stored readings of one sensor between ``from_ns`` and ``to_ns``."""

    sensor: str
    fields: tuple[str, ...]
    from_ns: int
    to_ns: int
    points: int | None = None
    period_ms: int | None = None
    ref: object = None


def _bad(msg: str, ref: object) -> ProtocolError:
    return ProtocolError("bad_message", msg, ref)


def _ns(msg: Mapping[str, Any], key: str, ref: object) -> int:
    """A timestamp: an integer, or an integral float (JavaScript numbers above 2**53 are sent as float64;
    their ~256 ns of rounding does not matter to a history range)."""
    value = msg.get(key)
    if isinstance(value, float) and value.is_integer() and 0 <= value <= TS_MAX:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TS_MAX:
        raise _bad(f"history.{key}: expected ns since the epoch (an integer 0..2**63-1)", ref)
    return value


def parse_history(msg: Mapping[str, Any], ref: object) -> History:
    """Validate a decoded ``history`` message (already bounded by ``check_bounds``).

    Raises:
        ProtocolError: ``bad_message`` naming the offending key.
    """
    unknown = set(msg) - {"t", "id", "sensor", "fields", "from", "to", "points", "period"}
    if unknown:
        raise _bad(f"history: unknown key {sorted(unknown, key=str)[0]!r}"[:120], ref)
    sensor = msg.get("sensor")
    if not isinstance(sensor, str) or not 0 < len(sensor) <= 64:
        raise _bad("history.sensor: expected a sensor id (1..64 characters)", ref)
    fields = msg.get("fields", [])
    if (
        not isinstance(fields, list)
        or len(fields) > MAX_FIELDS
        or not all(isinstance(f, str) and 0 < len(f) <= 64 for f in fields)
    ):
        raise _bad(f"history.fields: expected a list of at most {MAX_FIELDS} field names", ref)
    from_ns, to_ns = _ns(msg, "from", ref), _ns(msg, "to", ref)
    if to_ns <= from_ns:
        raise _bad("history.to: expected a time after 'from'", ref)
    points = period = None
    if "points" in msg and "period" in msg:
        raise _bad("history: give 'points' or 'period', not both", ref)
    if "points" in msg:
        points = msg["points"]
        if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
            raise _bad(f"history.points: expected an integer 1..{MAX_POINTS}", ref)
    if "period" in msg:
        period = msg["period"]
        if isinstance(period, bool) or not isinstance(period, int) or not 1 <= period <= MAX_PERIOD_MS:
            raise _bad(f"history.period: expected ms 1..{MAX_PERIOD_MS}", ref)
    return History(sensor, tuple(dict.fromkeys(fields)), from_ns, to_ns, points, period, ref)


def encode_history_pages(
    header: Mapping[str, Any], rows: Sequence[Any], max_bytes: int, next_ns: int | None
) -> Iterator[bytes]:
    """The reply frames: ``header`` (``t``, ``id``, ``sensor``, ``tier``...) with the rows split so that no
    frame exceeds ``max_bytes``. Every frame has ``part`` (from 0); the last one ``done: true`` and ``next``.

    A row that alone cannot fit (a huge string value) is left out and counted in the last frame's ``skipped``.
    """
    packer = msgpack.Packer(use_bin_type=True)
    base = len(packer.pack({**header, "rows": []})) + FRAME_SLACK_BYTES
    budget = max_bytes - base
    page: list[Any] = []
    size = 0
    part = 0
    skipped = 0
    for row in rows:
        n = len(packer.pack(row))
        if n > budget:
            skipped += 1
            continue
        if size + n > budget:
            yield packer.pack({**header, "rows": page, "part": part, "done": False})
            part += 1
            page, size = [], 0
        page.append(row)
        size += n
    last: dict[str, Any] = {**header, "rows": page, "part": part, "done": True, "next": next_ns}
    if skipped:
        last["skipped"] = skipped
    yield packer.pack(last)
