"""Bounded in-memory ring of recent readings and the ``resume`` plan. Pure."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from gateway.protocol.model import Reading


@dataclass(frozen=True, slots=True)
class Gap:
    """Readings ``first..last`` (inclusive; ``last`` None: to the end of that boot) of ``boot`` are lost."""

    boot: str
    first: int
    last: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """What to send for a ``resume``: gap markers first, then the backfill readings in seq order."""

    gaps: tuple[Gap, ...]
    readings: tuple[Reading, ...]


class ReadingRing:
    """The last ``capacity`` readings of this boot. Seqs in the ring are contiguous (every reading enters it)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("ring capacity must be >= 1")
        self.capacity = capacity
        self._buf: deque[Reading] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._buf)

    def extend(self, readings: Iterable[Reading]) -> None:
        """Append readings in seq order (oldest fall out)."""
        self._buf.extend(readings)

    @property
    def oldest_seq(self) -> int | None:
        """Seq of the oldest reading held, or None when empty."""
        return self._buf[0].seq if self._buf else None

    def after(self, seq: int, upto: int) -> list[Reading]:
        """Readings with ``seq < r.seq <= upto``, in order."""
        if not self._buf:
            return []
        start = max(0, seq + 1 - self._buf[0].seq)
        stop = max(0, upto + 1 - self._buf[0].seq)
        return list(islice(self._buf, start, stop))

    def plan_resume(self, boot: str, req_boot: str, req_seq: int, upto: int) -> ResumePlan:
        """Plan the backfill for a client that last saw ``req_seq`` of ``req_boot``.

        Args:
            boot: the current boot id.
            req_boot: the boot id the client's ``req_seq`` belongs to.
            req_seq: the last seq the client received.
            upto: the last seq the client will not get live (readings after it reach it anyway).
        """
        gaps: list[Gap] = []
        if req_boot != boot:
            gaps.append(Gap(req_boot, req_seq + 1, None, "boot"))
            req_seq = 0
        oldest = self.oldest_seq
        if oldest is not None and req_seq + 1 < oldest and req_seq < upto:
            gaps.append(Gap(boot, req_seq + 1, min(oldest - 1, upto), "ring"))
        return ResumePlan(tuple(gaps), tuple(self.after(req_seq, upto)))
