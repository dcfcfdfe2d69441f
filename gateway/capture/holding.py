"""How many decoded readings ``replay --dump``/``--check`` hold in memory, and when one sensor's must go to its
temporary file (PURE: counts only; gateway/capture/spool.py does the writing).

A replay decodes each sensor on its own thread, in read order per sensor, while the dump is ordered by sensor:
every sensor's readings are spilled to a file of its own as they come, in batches of :attr:`Holding.quota`, so
what is held is at most :data:`MAX_HELD_OUTCOMES` lines whatever the capture's length.
"""

from __future__ import annotations

MAX_HELD_OUTCOMES = 4096
"""Decoded readings (as ``--dump`` lines, ~0.1-0.3 KB each) held in memory across all sensors before they are
written out: ~1 MB, and batches large enough that writing costs one call per few hundred readings."""


class Holding:
    """The readings held per sensor, against a budget of ``limit`` shared evenly by ``sensors`` sensors.

    Each sensor may hold :attr:`quota` lines (``limit // sensors``, at least 1), so at most
    ``max(limit, sensors)`` are held at any time: :meth:`take` says when a sensor's batch must be written, and
    :meth:`written` counts it out.
    """

    def __init__(self, sensors: int, limit: int = MAX_HELD_OUTCOMES) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1 reading, not {limit}")
        self.quota = max(1, limit // max(1, sensors))
        """Lines one sensor holds before they are written out."""
        self.held = 0
        """Lines held now, all sensors together."""
        self.peak = 0
        """The most lines ever held at once."""
        self.total = 0
        """Lines taken so far (the readings decoded)."""
        self._per_sensor: dict[str, int] = {}

    def take(self, sensor: str) -> bool:
        """Count one more line held for ``sensor``; True when its batch is full and must be written now."""
        count = self._per_sensor.get(sensor, 0) + 1
        self._per_sensor[sensor] = count
        self.held += 1
        self.total += 1
        self.peak = max(self.peak, self.held)
        return count >= self.quota

    def written(self, sensor: str) -> int:
        """Count out every line ``sensor`` held (they were written); how many that was."""
        count = self._per_sensor.pop(sensor, 0)
        self.held -= count
        return count
