"""History errors."""

from __future__ import annotations

from sensors.errors import SensorcastError


class HistoryError(SensorcastError, ValueError):
    """Stored history cannot be read back (a damaged chunk) or a query cannot be answered."""
