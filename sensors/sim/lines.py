"""A microcontroller printing readings as text lines (what an Arduino sketch with ``Serial.println`` does).

Writes JSON lines, CSV (header at start-up and every ``header_every`` lines, like a sketch that reprints it)
or ``key=value`` pairs, for a small garden controller: soil moisture, light, a pump and its uptime counter.
"""

from __future__ import annotations

import json
import math

from sensors.serial.lines_codec import LineFormat

COLUMNS = ("soil", "lux", "pump", "ms")


class LineEmulator:
    """Line-printing device model.

    Args:
        fmt: output format.
        period_s: seconds between lines.
        header_every: for CSV, reprint the header every this many lines (0: only at start).
    """

    def __init__(self, fmt: LineFormat = "kv", period_s: float = 1.0, header_every: int = 0) -> None:
        self.fmt = fmt
        self.period_s = period_s
        self.header_every = header_every
        self._start_s: float | None = None
        self._next_s = 0.0
        self._count = 0

    def handle(self, data: bytes) -> None:
        """The sketch does not read its serial port."""

    def record(self, t_s: float) -> dict[str, float | int | bool]:
        """The values printed ``t_s`` seconds after start-up."""
        soil = 62.0 - (t_s % 300.0) / 10.0  # dries out, then the pump refills it
        return {
            "soil": round(soil, 1),
            "lux": round(max(0.0, 400.0 + 350.0 * math.sin(t_s / 60.0)), 1),
            "pump": soil < 35.0,
            "ms": int(t_s * 1000),
        }

    def line(self, t_s: float) -> bytes:
        """One output line (without header) for time ``t_s``."""
        rec = self.record(t_s)
        if self.fmt == "jsonl":
            text = json.dumps(rec, separators=(",", ":"))
        elif self.fmt == "csv":
            text = ",".join(str(int(v)) if isinstance(v, bool) else str(v) for v in rec.values())
        else:
            text = " ".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in rec.items())
        return text.encode() + b"\r\n"

    def tick(self, now_s: float) -> list[bytes]:
        """Return the lines due at ``now_s``."""
        if self._start_s is None:
            self._start_s = self._next_s = now_s
        out: list[bytes] = []
        if now_s < self._next_s:
            return out
        self._next_s += self.period_s
        header_due = self._count == 0 or (self.header_every and self._count % self.header_every == 0)
        if self.fmt == "csv" and header_due:
            out.append(",".join(COLUMNS).encode() + b"\r\n")
        self._count += 1
        out.append(self.line(now_s - self._start_s))
        return out
