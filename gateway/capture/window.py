"""PURE: the replay's read-ahead window: one pass over a capture's records, served per stream, in bounded memory.

A capture interleaves its streams in the order the recording's threads made their calls; a replay serves each
stream to its own driver thread, in that stream's order, and the threads do not keep the recording's pace (at
``--speed max`` each runs as fast as its driver decodes). :class:`Demux` reads the file once: a thread that needs
its stream's next transaction admits records from the file until one of its own comes, and the other streams'
records it passes wait in their queues for their threads. What waits is bounded (:data:`MAX_AHEAD_CALLS`,
:data:`MAX_AHEAD_BYTES`): past it the reading thread waits for the others to drain (the shell, with a deadline),
and a stream nobody drains is *evicted*: its queue dropped, its later records skipped, and its thread (if one
ever asks) reads the file again on its own from where it stood. No I/O, no clock, no threads: records in,
records out, and the accounting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import Enum

from gateway.capture.codec import Call, CaptureFormatError, End, Record, Stream

MAX_AHEAD_CALLS = 65_536
"""Most transactions decoded ahead of their drivers, all streams together: 4.5 min of the demo's traffic
(0.86 M an hour), about 17 MB at the 255 B one takes in memory, whatever the capture's length."""

MAX_AHEAD_BYTES = 8 << 20
"""Most encoded bytes of those transactions (a few large file reads must not multiply the window's RAM)."""


class Admit(Enum):
    """Why :meth:`Demux.admit` stopped."""

    MORE = "more"
    """Every pending record was admitted: the next frame is needed."""
    FULL = "full"
    """The window is full: another stream's thread must take first (or a stream be evicted)."""
    LATER = "later"
    """The next record is after the time asked for."""


class Demux:
    """Per-stream queues of a capture's transactions, filled in file order within a bounded window.

    Args:
        max_calls: most transactions queued, all streams together.
        max_bytes: most encoded bytes queued (one transaction is always admitted into an empty window).
        skip: stream keys never queued (e.g. ``poll:`` verdicts, read beforehand).
    """

    def __init__(
        self, max_calls: int = MAX_AHEAD_CALLS, max_bytes: int = MAX_AHEAD_BYTES, skip: Iterable[str] = ()
    ) -> None:
        if max_calls < 1 or max_bytes < 1:
            raise ValueError("the replay window needs room for at least one transaction")
        self.max_calls = max_calls
        self.max_bytes = max_bytes
        self.buffered_calls = 0
        """Transactions queued now (decoded, not yet taken)."""
        self.buffered_bytes = 0
        """Their encoded size, bytes."""
        self.peak_calls = 0
        """Most transactions ever queued at once."""
        self.peak_bytes = 0
        """Most encoded bytes ever queued at once."""
        self.taken_total = 0
        """Transactions taken from the queues so far (the shell's sign of progress)."""
        self.ended = False
        """The clean end record was admitted."""
        self._skip = set(skip)
        self._keys: dict[int, str] = {}
        self._queues: dict[str, deque[tuple[Call, int]]] = {}
        self._taken: dict[str, int] = {}
        self._claimed: set[str] = set()
        self._evicted: dict[str, int] = {}
        self._pending: deque[tuple[Record, int]] = deque()

    @property
    def needs_frame(self) -> bool:
        """True when every record given so far was admitted (or skipped)."""
        return not self._pending

    def add_frame(self, records: Iterable[tuple[Record, int]]) -> None:
        """Queue a decoded frame's records (with their encoded sizes) for admission."""
        self._pending.extend(records)

    def admit(self, until_ns: int | None = None) -> Admit:
        """Move pending records into their streams' queues while the window has room, in file order; with
        ``until_ns``, stop before a transaction recorded after it."""
        while self._pending:
            record, size = self._pending[0]
            if isinstance(record, Stream):
                self._keys[record.sid] = record.key
            elif isinstance(record, End):
                self.ended = True
            else:
                key = self._key(record)
                if key not in self._skip:
                    if until_ns is not None and record.t_ns > until_ns:
                        return Admit.LATER
                    if self.buffered_calls >= self.max_calls or (
                        self.buffered_calls and self.buffered_bytes + size > self.max_bytes
                    ):
                        return Admit.FULL
                    self._queues.setdefault(key, deque()).append((record, size))
                    self.buffered_calls += 1
                    self.buffered_bytes += size
                    self.peak_calls = max(self.peak_calls, self.buffered_calls)
                    self.peak_bytes = max(self.peak_bytes, self.buffered_bytes)
            self._pending.popleft()
        return Admit.MORE

    def _key(self, call: Call) -> str:
        key = self._keys.get(call.sid)
        if key is None:
            raise CaptureFormatError(0, f"transaction on undeclared stream {call.sid}")
        return key

    def claim(self, key: str) -> None:
        """A thread serves stream ``key`` from now on (streams nobody claimed are evicted first)."""
        self._claimed.add(key)

    def claimed(self, key: str) -> bool:
        """True once a thread claimed stream ``key``."""
        return key in self._claimed

    def head(self, key: str) -> Call | None:
        """The next queued transaction of ``key``, left in place; None if none is queued."""
        queue = self._queues.get(key)
        return queue[0][0] if queue else None

    def take(self, key: str) -> Call | None:
        """Remove and return the next queued transaction of ``key``; None if none is queued."""
        queue = self._queues.get(key)
        if not queue:
            return None
        call, size = queue.popleft()
        self.buffered_calls -= 1
        self.buffered_bytes -= size
        self.taken_total += 1
        self._taken[key] = self._taken.get(key, 0) + 1
        return call

    def taken(self, key: str) -> int:
        """How many transactions of ``key`` were taken from its queue."""
        return self._taken.get(key, 0)

    def evicted(self, key: str) -> int | None:
        """Where stream ``key`` stood (transactions taken) when it was evicted, or None if it was not."""
        return self._evicted.get(key)

    def victim(self, requester: str) -> str | None:
        """The stream to evict when the window is full and nobody takes: the largest queue nobody claimed, else
        the largest other than ``requester``'s (whose thread is the one waiting); None if there is none."""
        queued = [(len(q), key) for key, q in self._queues.items() if q and key != requester]
        unclaimed = [item for item in queued if item[1] not in self._claimed]
        chosen = max(unclaimed or queued, default=None)
        return None if chosen is None else chosen[1]

    def evict(self, key: str) -> int:
        """Drop ``key``'s queue, skip its later records, and return where it stood (transactions taken): its
        thread, if any, reads the file again on its own from there."""
        for _call, size in self._queues.pop(key, ()):
            self.buffered_calls -= 1
            self.buffered_bytes -= size
        self._skip.add(key)
        self._evicted[key] = self.taken(key)
        return self._evicted[key]
