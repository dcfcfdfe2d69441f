"""Per-period aggregation that keeps peaks (min/max/mean/last per field). Pure."""

from __future__ import annotations

from typing import Any

from gateway.protocol.model import TS_NS, VALUES, ReadingTuple


class Bucket:
    """Accumulates one sensor's readings over one period."""

    __slots__ = ("fields", "n", "t0_ns", "t1_ns")

    def __init__(self) -> None:
        self.n = 0
        self.t0_ns = 0
        self.t1_ns = 0
        # field -> [min, max, sum, count, last]
        self.fields: dict[str, list[Any]] = {}

    def add(self, reading: ReadingTuple) -> None:
        """Fold ``reading`` into the bucket. Numbers (not bools) get min/max/mean; anything else only last."""
        if self.n == 0:
            self.t0_ns = reading[TS_NS]
        self.n += 1
        self.t1_ns = reading[TS_NS]
        for name, value in reading[VALUES].items():
            acc = self.fields.get(name)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if acc is None:
                acc = self.fields[name] = [None, None, 0.0, 0, None]
            if numeric:
                acc[0] = value if acc[0] is None or value < acc[0] else acc[0]
                acc[1] = value if acc[1] is None or value > acc[1] else acc[1]
                acc[2] += value
                acc[3] += 1
            acc[4] = value

    def entry(self, sensor: str, wanted: tuple[str, ...]) -> list[Any]:
        """Return the wire entry ``[sensor, t0_ns, t1_ns, n, {field: [min, max, mean, last]}]``.

        Aggregates not in ``wanted`` are nil.
        """
        out: dict[str, list[Any]] = {}
        for name, (lo, hi, total, count, last) in self.fields.items():
            mean = total / count if count else None
            out[name] = [
                lo if "min" in wanted else None,
                hi if "max" in wanted else None,
                mean if "mean" in wanted else None,
                last if "last" in wanted else None,
            ]
        return [sensor, self.t0_ns, self.t1_ns, self.n, out]
