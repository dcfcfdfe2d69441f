"""The reading: the unit that flows sensor -> hub -> clients and bridges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple

FLAG_CLOCK_SYNCED = 1
"""Wall clock was NTP/GPS-synchronised when the reading was stamped (a Pi has no RTC)."""
FLAG_SIMULATED = 2
"""The reading comes from an emulator, not hardware."""
FLAG_COALESCED = 4
"""Catch-up value after this client fell behind: older readings of the sensor were dropped for this client."""
FLAG_RESENT = 8
"""Re-send of an unchanged value by an ``ideal``/``fixed`` policy, not a new reading."""

Value = float | int | bool | str | None
"""A field value."""

ReadingTuple = tuple[int, int, int, str, Mapping[str, Value], int]
"""A reading as the data path carries it: a plain tuple ``(seq, prev, ts_ns, sensor, values, flags)``.

The hub makes plain tuples, not :class:`Reading` objects: building a tuple subclass costs four times as much,
and the hub stamps every reading (docs/benchmarks.md). Code on the data path reads fields by index with the
constants below; a :class:`Reading` is a ``ReadingTuple`` too, so tests and decoders can pass either.
"""

SEQ: Final = 0
PREV: Final = 1
TS_NS: Final = 2
SENSOR: Final = 3
VALUES: Final = 4
FLAGS: Final = 5


def with_flags(reading: ReadingTuple, extra: int) -> ReadingTuple:
    """``reading`` with ``extra`` flag bits set (a new plain tuple)."""
    return (reading[0], reading[1], reading[2], reading[3], reading[4], reading[5] | extra)


def with_values(reading: ReadingTuple, values: Mapping[str, Value]) -> ReadingTuple:
    """``reading`` with ``values`` instead of its own (a new plain tuple)."""
    return (reading[0], reading[1], reading[2], reading[3], values, reading[5])


class Reading(NamedTuple):
    """One reading, identifiable gateway-wide as (gateway id, boot id, seq).

    On the wire it is the msgpack array ``[seq, prev, ts_ns, sensor, values, flags]``.

    Attributes:
        seq: gateway-wide sequence number, strictly increasing within one boot, starting at 1.
        prev: ``seq`` of the previous reading of the same sensor (0 for its first), so a client that follows
            a subset of sensors can still detect any loss.
        ts_ns: wall-clock time of the measurement, ns since the Unix epoch.
        sensor: sensor id.
        values: field name -> value.
        flags: bit set of ``FLAG_*``.
    """

    seq: int
    prev: int
    ts_ns: int
    sensor: str
    values: Mapping[str, Value]
    flags: int = 0
