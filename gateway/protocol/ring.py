"""Bounded in-memory ring of recent readings and the ``resume`` plan. Pure."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.protocol.model import SEQ, ReadingTuple
from gateway.protocol.wire import decode_data_readings, encode_data

_SEQUENCES = (list, tuple)


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
    readings: tuple[ReadingTuple, ...]


class ReadingRing:
    """The last ``capacity`` readings of this boot, kept as the ``data`` frames of their batches.

    Whole batches are stored encoded (:func:`~gateway.protocol.wire.encode_data`, the bytes the fan-out sends
    anyway), not as Python objects: a few hundred KiB of bytes instead of thousands of live tuples and dicts, and
    nothing for the allocator or the garbage collector to walk on the hot path. A ``resume`` decodes the batches
    it needs. Readings are added in seq order; ``capacity`` is exact (the oldest batch can be partly dropped).
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("ring capacity must be >= 1")
        self.capacity = capacity
        self._batches: deque[tuple[int, int, bytes]] = deque()
        """(first seq, readings, data frame) per batch, oldest first."""
        self._skip = 0
        """Readings at the start of the oldest batch that have already fallen out."""
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def extend(self, readings: Iterable[ReadingTuple], frame: bytes | None = None) -> None:
        """Append a batch of readings in seq order (oldest readings fall out).

        Args:
            readings: the batch.
            frame: ``encode_data(readings)`` when the caller has it already (the hub does).
        """
        batch = readings if isinstance(readings, _SEQUENCES) else list(readings)
        if not batch:
            return
        self._batches.append((batch[0][SEQ], len(batch), encode_data(batch) if frame is None else frame))
        self._len += len(batch)
        batches = self._batches
        while self._len > self.capacity:
            excess = self._len - self.capacity
            left = batches[0][1] - self._skip
            if excess >= left:
                batches.popleft()
                self._skip = 0
                self._len -= left
            else:
                self._skip += excess
                self._len -= excess

    @property
    def oldest_seq(self) -> int | None:
        """Seq of the oldest reading held, or None when empty."""
        if not self._batches:
            return None
        first, _, frame = self._batches[0]
        return first if not self._skip else decode_data_readings(frame)[self._skip][SEQ]

    def _overlapping(self, seq: int, upto: int) -> Iterator[tuple[int, bytes]]:
        """(index, frame) of the batches that may hold readings with ``seq < r.seq <= upto``."""
        for i, (first, _, frame) in enumerate(self._batches):
            if first > upto:
                break
            nxt = self._batches[i + 1][0] if i + 1 < len(self._batches) else None
            if nxt is not None and nxt <= seq + 1:
                continue  # every reading of this batch is <= seq
            yield i, frame

    def span_bytes(self, seq: int, upto: int) -> int:
        """Bytes of ring data :meth:`after` reads for these bounds (what a ``resume`` costs), without decoding."""
        return sum(len(frame) for _, frame in self._overlapping(seq, upto))

    def after(self, seq: int, upto: int) -> list[ReadingTuple]:
        """Readings with ``seq < r.seq <= upto``, in order."""
        out: list[ReadingTuple] = []
        for i, frame in self._overlapping(seq, upto):
            held = decode_data_readings(frame)
            if i == 0:
                held = held[self._skip :]
            out.extend(r for r in held if seq < r[SEQ] <= upto)
        return out

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
