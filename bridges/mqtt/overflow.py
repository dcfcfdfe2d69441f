"""What happens when a buffer is full (pure): the cap plan and the once-per-episode drop report.

A drop is never silent: every dropped reading is counted (``sensorcast_mqtt_dropped_total`` and a per-reason
counter) and each *episode* (from the first drop until the buffer is back under its low-water mark) is logged
twice: when it starts and when it ends, with how many readings it cost.
"""

from __future__ import annotations

from dataclasses import dataclass

LOW_WATER = 0.9
"""An overflow episode ends below this fraction of the cap (hysteresis against log spam)."""


@dataclass(frozen=True, slots=True)
class CapPlan:
    """How many stored rows and how many incoming rows to drop to stay within the cap."""

    drop_stored: int
    drop_incoming: int


def plan_cap(stored: int, incoming: int, max_rows: int, policy: str) -> CapPlan:
    """Decide what to drop so that ``stored + incoming - drops <= max_rows``.

    Args:
        stored: rows already in the buffer.
        incoming: rows about to be added.
        max_rows: the cap.
        policy: ``drop_oldest`` (stored rows go first, then the oldest incoming), ``downsample`` (the same
            counts; the caller thins the oldest rows instead of cutting them off) or ``drop_newest`` (incoming
            rows go first; stored rows only if the buffer is over the cap already, e.g. after lowering it).
    """
    excess = stored + incoming - max_rows
    if excess <= 0:
        return CapPlan(0, 0)
    if policy == "drop_newest":
        drop_incoming = min(incoming, excess)
        return CapPlan(excess - drop_incoming, drop_incoming)
    if policy in ("drop_oldest", "downsample"):
        drop_stored = min(stored, excess)
        return CapPlan(drop_stored, excess - drop_stored)
    raise ValueError(f"unknown overflow policy {policy!r}")


class DropEpisodes:
    """Counts drops for one reason and says when an episode starts and ends.

    Args:
        reason: short reason used in messages (``outbox_full``, ``disconnected``...).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.total = 0
        """Readings dropped for this reason since start."""
        self.episodes = 0
        self.active = False
        self._episode_dropped = 0

    def dropped(self, n: int) -> str | None:
        """Record ``n`` dropped readings; return a message to log when this starts a new episode."""
        if n <= 0:
            return None
        self.total += n
        self._episode_dropped += n
        if self.active:
            return None
        self.active = True
        self.episodes += 1
        return f"dropping readings ({self.reason}); counted in sensorcast_mqtt_dropped_total, logged once"

    def settle(self, level: float, cap: float) -> str | None:
        """Report the buffer ``level`` against ``cap``; return a message when the current episode ends."""
        if not self.active or level > cap * LOW_WATER:
            return None
        return self.end()

    def end(self) -> str | None:
        """End the current episode (e.g. the broker is back); return its summary, or None if none."""
        if not self.active:
            return None
        n, self._episode_dropped, self.active = self._episode_dropped, 0, False
        return (
            f"stopped dropping readings ({self.reason}): {n} dropped in this episode, {self.total} in total"
        )
