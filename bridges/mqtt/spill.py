"""Publish first, write late: which QoS 1 readings must go to the outbox, and which may leave memory unwritten.

A reading is published as soon as it arrives and is held here, in memory, until one of two things happens:

* its PUBACK arrives first: it is forgotten and never touches the disk (on a healthy broker, almost every
  reading);
* it is still unacknowledged ``window_s`` after it arrived, or the connection it went out on is gone (the
  caller passes a ``horizon``: every row up to that id must be on disk): it is *due* and is written to the
  outbox by the next commit; from then on its row is deleted only after its PUBACK, as before.

Nothing else removes a reading from here, so a reading leaves memory unwritten only with its PUBACK. What a
gateway crash (SIGKILL, OOM, power cut) can lose is what is held here: readings younger than ``window_s`` plus
one commit period that the broker had not acknowledged (docs/mqtt.md, "What a crash can lose").

Pure: no I/O, no clock (callers pass ``now_s``, a monotonic time, non-decreasing from call to call).
"""

from __future__ import annotations

from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


class AckOutcome(Enum):
    """What a PUBACK means for the disk."""

    FORGOTTEN = "forgotten"
    """The reading was in memory only: nothing was written, nothing to delete."""
    AFTER_WRITE = "after_write"
    """The reading is being written right now: its row is deleted after that write (:meth:`SpillLedger.written`)."""
    ON_DISK = "on_disk"
    """Not held here (written earlier, or read back from disk): delete its row at the next commit."""


class SpillLedger(Generic[T]):
    """Readings published or queued but neither acknowledged nor on disk, in arrival (= id) order.

    Args:
        window_s: how long a reading may wait for its PUBACK in memory before it is due for the outbox;
            0: every unacknowledged reading is due at the next commit.
    """

    __slots__ = ("_acked_writing", "_held", "_last_id", "_writing", "window_s")

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s!r}")
        self.window_s = window_s
        self._held: dict[int, tuple[T, float]] = {}
        """In memory only, not acknowledged: id -> (row, arrival time). Ids increase in insertion order."""
        self._writing: dict[int, tuple[T, float]] = {}
        """Handed to a write that has not finished."""
        self._acked_writing: set[int] = set()
        """Ids of ``_writing`` whose PUBACK arrived during the write."""
        self._last_id: int | None = None

    def __len__(self) -> int:
        """Readings that exist in memory only (held or being written)."""
        return len(self._held) + len(self._writing)

    @property
    def writing(self) -> bool:
        """A write handed out by :meth:`take_due` has not been reported back yet."""
        return bool(self._writing)

    @property
    def acked_writing(self) -> frozenset[int]:
        """Ids being written whose PUBACK already arrived (a backlog read must not send them again)."""
        return frozenset(self._acked_writing)

    def lowest_id(self) -> int | None:
        """The smallest id not yet safely on disk (None: everything is on disk or acknowledged)."""
        ids = [next(iter(d)) for d in (self._held, self._writing) if d]
        return min(ids) if ids else None

    def add(self, row_id: int, row: T, now_s: float) -> None:
        """A new reading ``row_id`` (greater than every id added before) arrived at ``now_s``."""
        if self._last_id is not None and row_id <= self._last_id:
            raise ValueError(f"row ids must increase: {row_id} after {self._last_id}")
        self._last_id = row_id
        self._held[row_id] = (row, now_s)

    def acked(self, row_id: int) -> AckOutcome:
        """The PUBACK for ``row_id`` arrived: forget it, or say when its row must be deleted."""
        if self._held.pop(row_id, None) is not None:
            return AckOutcome.FORGOTTEN
        if row_id in self._writing:
            self._acked_writing.add(row_id)
            return AckOutcome.AFTER_WRITE
        return AckOutcome.ON_DISK

    def take_due(self, now_s: float, horizon_id: int) -> list[tuple[int, T]]:
        """Readings that must be written now, oldest first: unacknowledged for ``window_s`` or more, or with an
        id up to ``horizon_id``. They stay in memory (as being written) until :meth:`written` or
        :meth:`write_failed`; call one of them before the next ``take_due``."""
        if self._writing:
            raise RuntimeError("the previous write was not reported back")
        due: list[tuple[int, T]] = []
        cutoff_s = now_s - self.window_s
        for row_id, (row, t_s) in self._held.items():
            if t_s > cutoff_s and row_id > horizon_id:
                break  # ids and arrival times both increase: the rest is younger and above the horizon
            due.append((row_id, row))
        for row_id, _ in due:
            self._writing[row_id] = self._held.pop(row_id)
        return due

    def take_all(self) -> list[tuple[int, T]]:
        """Everything in memory, being written or not, oldest first (the final write at shutdown, after which
        the ledger is empty; a write that may or may not have landed is written again, idempotently)."""
        rows = sorted((*self._writing.items(), *self._held.items()), key=lambda kv: kv[0])
        self._held.clear()
        self._writing.clear()
        self._acked_writing.clear()
        return [(row_id, row) for row_id, (row, _) in rows]

    def written(self) -> list[int]:
        """The write from :meth:`take_due` committed: returns the ids acknowledged meanwhile (delete them)."""
        acked = sorted(self._acked_writing)
        self._writing.clear()
        self._acked_writing.clear()
        return acked

    def write_failed(self) -> None:
        """The write failed: its readings are held again (those acknowledged meanwhile are forgotten)."""
        back = {k: v for k, v in self._writing.items() if k not in self._acked_writing}
        self._held = dict(sorted({**back, **self._held}.items()))
        self._writing.clear()
        self._acked_writing.clear()
