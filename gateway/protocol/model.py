"""The reading: the unit that flows sensor -> hub -> clients and bridges."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

FLAG_CLOCK_SYNCED = 1
"""Wall clock was NTP/GPS-synchronised when the reading was stamped (a Pi has no RTC)."""
FLAG_SIMULATED = 2
"""The reading comes from an emulator, not hardware."""
FLAG_COALESCED = 4
"""Catch-up value after this client fell behind: older readings of the sensor were dropped for this client."""
FLAG_RESENT = 8
"""Re-send of an unchanged value by an ``ideal``/``fixed`` policy, not a new reading."""


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
    values: Mapping[str, float | int | bool | str | None]
    flags: int = 0
