"""A slow client's backlog: the bounded queue of frames its writer drains, coalesced to the latest reading per
sensor when it overflows, and the verdict when the client must go. Pure: the caller passes ``now``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.protocol.model import FLAG_COALESCED, SENSOR, SEQ, ReadingTuple, with_flags
from gateway.protocol.wire import encode_data, encode_status

Entry = tuple[bytes, Sequence[ReadingTuple] | None]
"""A queued frame and the readings it carries (None: a control frame, never dropped)."""


@dataclass(frozen=True, slots=True)
class Pushed:
    """What queueing a frame did."""

    started: bool
    """The queue was empty and had caught up: the client leaves the direct path."""
    dropped: int
    """Readings dropped by coalescing (told to the client in a ``status.drop`` frame)."""
    evict: bool
    """The client is past its hard limit (bytes queued, or behind for too long): close it."""


class Backlog:
    """One client's queue of frames.

    Args:
        max_frames: frames queued before the queue is coalesced.
        hard_limit_bytes: bytes queued past which the client is evicted.
        stall_s: seconds behind (since the backlog started) past which the client is evicted.
    """

    __slots__ = (
        "dropped_total",
        "frames",
        "hard_limit_bytes",
        "max_frames",
        "queued_bytes",
        "since",
        "stall_s",
    )

    def __init__(self, max_frames: int, hard_limit_bytes: int, stall_s: float) -> None:
        self.max_frames = max_frames
        self.hard_limit_bytes = hard_limit_bytes
        self.stall_s = stall_s
        self.frames: deque[Entry] = deque()
        self.queued_bytes = 0
        self.since: float | None = None
        """When the backlog started (None: caught up)."""
        self.dropped_total = 0

    def __len__(self) -> int:
        return len(self.frames)

    def push(self, frame: bytes, readings: Sequence[ReadingTuple] | None, now: float) -> Pushed:
        """Queue ``frame`` at ``now``, coalescing the queue when it overflows."""
        started = self.since is None
        if self.since is None:
            self.since = now
        self._append(frame, readings)
        dropped = self._coalesce() if len(self.frames) > self.max_frames else 0
        evict = self.queued_bytes > self.hard_limit_bytes or now - self.since > self.stall_s
        return Pushed(started, dropped, evict)

    def pop(self) -> bytes:
        """The oldest queued frame (the queue must not be empty)."""
        frame, _ = self.frames.popleft()
        self.queued_bytes -= len(frame)
        return frame

    def settle(self) -> bool:
        """After draining: True (and the backlog is over) when nothing is left queued."""
        if self.frames:
            return False
        self.since = None
        return True

    def stalled(self, now: float) -> bool:
        """Frames have waited longer than ``stall_s`` at ``now``."""
        return self.since is not None and bool(self.frames) and now - self.since > self.stall_s

    def clear(self) -> None:
        """Forget every queued frame (the client is going)."""
        self.frames.clear()
        self.queued_bytes = 0

    def _coalesce(self) -> int:
        """Replace queued data frames by the latest reading per sensor and a ``status.drop`` notice."""
        kept: list[bytes] = []
        latest: dict[str, ReadingTuple] = {}
        count: dict[str, int] = {}
        first = last = 0
        for frame, readings in self.frames:
            if readings is None:
                kept.append(frame)  # control frames (status, replies) are never dropped
                continue
            for r in readings:
                sensor = r[SENSOR]
                first = first or r[SEQ]
                last = r[SEQ]
                latest[sensor] = r
                count[sensor] = count.get(sensor, 0) + 1
        dropped = sum(count.values()) - len(latest)
        catchup = sorted(
            (with_flags(r, FLAG_COALESCED) if count[r[SENSOR]] > 1 else r for r in latest.values()),
            key=lambda r: r[SEQ],
        )
        self.clear()
        for frame in kept:
            self._append(frame, None)
        if dropped:
            self.dropped_total += dropped
            self._append(
                encode_status(drop={"n": dropped, "from": first, "to": last, "reason": "slow_client"}), None
            )
        if catchup:
            self._append(encode_data(catchup), catchup)
        return dropped

    def _append(self, frame: bytes, readings: Sequence[ReadingTuple] | None) -> None:
        self.frames.append((frame, readings))
        self.queued_bytes += len(frame)
