"""Reading a capture as a stream: its frames one at a time (:class:`CaptureFile`), and the read-ahead the replay's
streams share (:class:`SharedFeed`: one pass over the file for every driver thread, in bounded memory; the
policy is the pure :class:`gateway.capture.window.Demux`).

A replay's memory does not grow with the capture's length: at most one frame being admitted, the window's
transactions (:data:`~gateway.capture.window.MAX_AHEAD_CALLS`), and per evicted stream that a thread still
reads, one private pass holding one frame's worth of that stream.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from typing import BinaryIO, Final, Literal

from gateway.capture.codec import Call, CaptureDecoder, Record, Stream
from gateway.capture.window import MAX_AHEAD_BYTES, MAX_AHEAD_CALLS, Admit, Demux
from sensors.buses import Clock

READ_CHUNK_BYTES = 4096
"""Bytes read from the file per step, only when no complete frame is buffered: a compressed chunk inflates to
at most about 4 MiB (zlib's 1032:1), so a step's bytes stay bounded."""

WAIT_SLICE_S = 0.05
"""Longest a thread waits on a full window before it looks again (a stall, an eviction, the end)."""

STALL_S = 1.0
"""A full window from which no thread took a transaction for this long is not draining (its streams' threads
have stopped, or poll far apart): its largest queue is evicted, and that stream's thread reads on its own."""

LATER: Final = "later"
"""What :meth:`SharedFeed.peek` gives when the stream's next transaction is not decoded by ``until_ns``."""

Peeked = Call | None | Literal["later"]


class CaptureFile:
    """A capture file's frames, decoded one at a time (each record with its encoded size)."""

    def __init__(self, path: str) -> None:
        self.decoder = CaptureDecoder()
        self._f: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - closed at the end, by close() or the finalizer
        self._finalizer = weakref.finalize(self, self._f.close)

    def next_frame(self) -> list[tuple[Record, int]] | None:
        """The next frame's records (an empty list for the header), or None at the end of the file."""
        while True:
            frame = self.decoder.next_frame()
            if frame is not None:
                return frame
            chunk = self._f.read(READ_CHUNK_BYTES) if self._f is not None else b""
            if not chunk:
                self.close()
                return None
            self.decoder.push(chunk)

    def close(self) -> None:
        """Close the file (idempotent)."""
        self._f = None
        self._finalizer()


class PrivateCursor:
    """One stream read from the file on its own (a stream evicted from the shared window), after ``skip`` of
    its transactions; holds at most one frame's worth of them."""

    def __init__(self, path: str, key: str, skip: int) -> None:
        self.key = key
        self._file = CaptureFile(path)
        self._skip = skip
        self._keys: dict[int, str] = {}
        self._queue: deque[Call] = deque()

    def peek(self, wait: bool = True) -> Call | None:
        """The stream's next transaction (None at the end, or, with ``wait`` False, when none is decoded)."""
        while not self._queue and wait:
            frame = self._file.next_frame()
            if frame is None:
                return None
            self._take(record for record, _ in frame)
        return self._queue[0] if self._queue else None

    def _take(self, records: Iterable[Record]) -> None:
        for record in records:
            if isinstance(record, Stream):
                self._keys[record.sid] = record.key
            elif isinstance(record, Call) and self._keys.get(record.sid) == self.key:
                if self._skip:
                    self._skip -= 1
                else:
                    self._queue.append(record)

    def pop(self) -> Call | None:
        """Remove and return the next transaction."""
        head = self.peek()
        if head is not None:
            self._queue.popleft()
        return head

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class SharedFeed:
    """The transactions of a capture file, per stream, read once for all the replay's threads.

    A thread asks :meth:`peek` for its stream's next transaction and :meth:`pop`\\ s it once it matches; the
    thread that finds its stream's queue empty decodes on (under the lock) until one comes, queueing the other
    streams' records for their threads, up to the window; past it, it waits (:data:`WAIT_SLICE_S` at a time)
    for the others to take, and evicts a stream after :data:`STALL_S` without any take (at once for a stream
    no thread claimed).

    Args:
        path: the capture file.
        skip: stream keys never served (read beforehand by the scan).
        max_calls, max_bytes: the window (:class:`~gateway.capture.window.Demux`).
        clock: monotonic seconds (the stall deadline).
    """

    def __init__(
        self,
        path: str,
        skip: Iterable[str] = (),
        max_calls: int = MAX_AHEAD_CALLS,
        max_bytes: int = MAX_AHEAD_BYTES,
        clock: Clock = time.monotonic,
    ) -> None:
        self.path = path
        self.demux = Demux(max_calls, max_bytes, skip)
        self.evictions = 0
        """Streams evicted from the window (each read again on its own if its thread asks)."""
        self._file = CaptureFile(path)
        self._eof = False
        self._cond = threading.Condition()
        self._clock = clock
        self._cursors: dict[str, PrivateCursor] = {}
        self._progress = (-1, 0.0)  # (transactions taken, when that count was first seen)

    def claim(self, key: str) -> None:
        """A thread serves ``key`` from now on."""
        with self._cond:
            self.demux.claim(key)

    def peek(self, key: str, until_ns: int | None = None, wait: bool = True) -> Peeked:
        """``key``'s next transaction, left in place; None when the file has no more of it. With ``until_ns``,
        :data:`LATER` rather than decode past a transaction recorded after it; with ``wait`` False, None
        rather than decode at all."""
        with self._cond:
            cursor = self._cursor(key)
            while cursor is None:
                head = self.demux.head(key)
                if head is not None or not wait:
                    return head
                if self.demux.needs_frame and self._eof:
                    return None
                state = self.demux.admit(until_ns)
                if self.demux.head(key) is not None:
                    self._cond.notify_all()  # what this admitted for the other threads
                elif state is Admit.MORE:
                    frame = self._file.next_frame()
                    self._eof = frame is None
                    self.demux.add_frame(frame or [])
                    self._cond.notify_all()
                elif state is Admit.LATER:
                    return LATER
                else:
                    self._make_room(key)
                cursor = self._cursor(key)
        return cursor.peek(wait)

    def pop(self, key: str) -> Call | None:
        """Remove and return ``key``'s next transaction (the one :meth:`peek` gave)."""
        with self._cond:
            cursor = self._cursor(key)
            if cursor is None:
                call = self.demux.take(key)
                self._cond.notify_all()
                return call
        return cursor.pop()

    def _cursor(self, key: str) -> PrivateCursor | None:
        """The private pass of ``key`` if it was evicted (opened on first use), else None."""
        skip = self.demux.evicted(key)
        if skip is None:
            return None
        cursor = self._cursors.get(key)
        if cursor is None:
            cursor = self._cursors[key] = PrivateCursor(self.path, key, skip)
        return cursor

    def _make_room(self, key: str) -> None:
        """The window is full: evict a stream nobody claimed, or one nobody drained for :data:`STALL_S`, or
        wait a slice for the threads to take."""
        victim = self.demux.victim(key)
        now = self._clock()
        if self._progress[0] != self.demux.taken_total:
            self._progress = (self.demux.taken_total, now)
        stalled = now - self._progress[1] >= STALL_S
        if victim is not None and (stalled or not self.demux.claimed(victim)):
            self.demux.evict(victim)
            self.evictions += 1
            self._progress = (-1, now)
            return
        self._cond.wait(WAIT_SLICE_S)

    def close(self) -> None:
        """Close the file and every private pass."""
        with self._cond:
            self._file.close()
            for cursor in self._cursors.values():
                cursor.close()
