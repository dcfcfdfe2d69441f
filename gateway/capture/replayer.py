"""Replaying: a :class:`~sensors.buses.BusTap` that serves a capture's transactions to the same drivers.

Each stream (one I2C device, one serial port, one file, one driver's clock) is replayed in its own order: the
driver's next call must be the next recorded one on that stream, or the replay stops with
:class:`ReplayMismatch` naming it. Pacing: at ``speed`` x real time, a transaction is served no earlier than its
recorded time divided by ``speed`` (``speed=None``: as fast as the drivers decode).
"""

from __future__ import annotations

import ctypes
import errno
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gateway.capture.codec import Call, CaptureFormatError, Ending, Stream
from gateway.capture.feed import CaptureFile, Peeked, SharedFeed
from gateway.capture.taps import POLL_STREAM, file_key, msg_args, os_error
from gateway.capture.window import MAX_AHEAD_BYTES, MAX_AHEAD_CALLS
from sensors.buses import Clock, FileTree, PortFactory, SerialPort, Sleep, SMBusLike
from sensors.errors import SensorcastError, SensorError

MAX_VERDICTS = 100_000
"""Most abandoned-poll verdicts (``poll:`` streams) a replay holds, read before it starts: one per poll the
recording gateway gave up past its read timeout, a handful per stuck bus."""

_SHOWN_CHARS = 120
"""Longest rendering of a recorded or requested argument list in a mismatch message."""


class ReplayMismatch(SensorcastError, RuntimeError):
    """A driver asked for a transaction the capture does not have at that point of its stream."""


class ReplayEnd(SensorError):
    """A stream of the capture is exhausted: the recording ends here (a SensorError, so the poller stops it)."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


class Capture:
    """A scanned capture: header, how many transactions each stream key holds, how it ended, the recording
    poller's verdicts; the transactions stay in the file (a replay reads them as it goes: :class:`SharedFeed`).

    Attributes:
        path: the file.
        counts: transactions per stream key (every declared key, 0 for one without any).
        verdicts: per sensor, per poll number, ``(phase, ran)`` of the polls the recording gave up.
    """

    def __init__(
        self,
        path: str,
        header: dict[str, Any],
        counts: dict[str, int],
        ending: Ending,
        duration_ns: int,
        verdicts: dict[str, dict[int, tuple[str, bool]]],
    ) -> None:
        self.path = path
        self.header = header
        self.counts = counts
        self.ending = ending
        self.duration_ns = duration_ns
        self.verdicts = verdicts

    @property
    def keys(self) -> set[str]:
        """The stream keys the capture declares."""
        return set(self.counts)

    @classmethod
    def load(cls, path: str) -> Capture:
        """Read and validate ``path`` once through, keeping only its counts, verdicts and header.

        Raises:
            CaptureFormatError: not a capture, corrupted, or more than :data:`MAX_VERDICTS` verdicts.
            OSError: the file cannot be read.
        """
        keys: dict[int, str] = {}
        counts: dict[str, int] = {}
        verdicts: dict[str, dict[int, tuple[str, bool]]] = {}
        held = 0
        duration_ns = 0
        source = CaptureFile(path)
        try:
            while (frame := source.next_frame()) is not None:
                for record, _size in frame:
                    if isinstance(record, Stream):
                        keys[record.sid] = record.key
                        counts.setdefault(record.key, 0)
                    elif isinstance(record, Call):
                        key = keys.get(record.sid)
                        if key is None:
                            raise CaptureFormatError(0, f"transaction on undeclared stream {record.sid}")
                        counts[key] += 1
                        duration_ns = max(duration_ns, record.t_ns)
                        if key.startswith(POLL_STREAM) and record.op == "abandoned" and len(record.args) == 3:
                            held += 1
                            if held > MAX_VERDICTS:
                                raise CaptureFormatError(0, f"more than {MAX_VERDICTS} abandoned polls")
                            verdicts.setdefault(key[len(POLL_STREAM) :], {})[int(record.args[0])] = (
                                str(record.args[1]),
                                bool(record.args[2]),
                            )
            ending = source.decoder.finish()
        finally:
            source.close()
        assert source.decoder.header is not None  # finish() raised otherwise
        return cls(path, source.decoder.header, counts, ending, duration_ns, verdicts)

    def calls(self, key: str) -> Iterable[Call]:
        """The transactions of stream ``key``, in order, read from the file again (for tests and tools)."""
        source = CaptureFile(self.path)
        keys: dict[int, str] = {}
        try:
            while (frame := source.next_frame()) is not None:
                for record, _size in frame:
                    if isinstance(record, Stream):
                        keys[record.sid] = record.key
                    elif isinstance(record, Call) and keys.get(record.sid) == key:
                        yield record
        finally:
            source.close()


class Pacer:
    """Serves recorded time at ``speed`` x real time (None: no waiting)."""

    def __init__(
        self, speed: float | None, clock: Clock = time.monotonic, sleep: Sleep | None = None
    ) -> None:
        self.speed = speed
        self._clock = clock
        self._released = threading.Event()
        self._sleep = sleep if sleep is not None else self._released.wait
        self._start = clock()

    def release(self) -> None:
        """Stop waiting, now and from now on (the replay is stopping: a driver's call waiting for its recorded
        time would hold its bus thread past the poller's close timeout)."""
        self._released.set()

    def delay_until(self, t_ns: int) -> float:
        """Seconds until recorded time ``t_ns`` is due (0 or less: now)."""
        if self.speed is None:
            return 0.0
        return self._start + t_ns / 1e9 / self.speed - self._clock()

    def due_ns(self, ahead_s: float = 0.0) -> int | None:
        """The recorded time due ``ahead_s`` from now (None at full speed: everything is due)."""
        if self.speed is None:
            return None
        return int((self._clock() + ahead_s - self._start) * self.speed * 1e9)

    def wait_until(self, t_ns: int) -> None:
        """Return once recorded time ``t_ns`` is due."""
        delay = self.delay_until(t_ns)
        if delay > 0 and not self._released.is_set():
            self._sleep(delay)


class ReplayStream:
    """One stream's transactions, served in order from the shared feed; thread-safe."""

    def __init__(self, key: str, count: int, feed: SharedFeed, tap: ReplayTap) -> None:
        self.key = key
        self.position = 0
        """Transactions served so far."""
        self._count = count
        self._feed = feed
        self._tap = tap
        self._lock = threading.Lock()
        if count:
            feed.claim(key)

    def peek(self, until_ns: int | None = None) -> Peeked:
        """The next transaction, left in place (None past the last; :data:`~gateway.capture.feed.LATER` when
        it is not decoded by ``until_ns``)."""
        with self._lock:
            return None if self.position >= self._count else self._feed.peek(self.key, until_ns)

    def pop(self) -> Call | None:
        """Remove and return the next transaction (None past the last)."""
        with self._lock:
            return self._pop()

    def _pop(self) -> Call | None:
        if self.position >= self._count:
            return None
        call = self._feed.pop(self.key)
        self.position += 1
        return call

    def take(self, op: str, args: Sequence[Any]) -> Any:
        """The recorded result of the driver's call ``op(args)``; raises what was recorded instead.

        Raises:
            ReplayMismatch: the next recorded transaction is another one.
            ReplayEnd: the stream is exhausted.
            OSError: the recorded call raised this errno.
        """
        with self._lock:
            index = self.position
            stopping = op == "close" and self._tap.stopping
            more = index < self._count
            head = self._feed.peek(self.key, wait=not stopping) if more else None
            if stopping and (not isinstance(head, Call) or head.op != op):
                return None  # the replay is being stopped mid-capture: nothing to release, nothing to check
            if not isinstance(head, Call):  # past the count the scan found (or the file shrank since)
                self._tap.ended(self.key)
                raise ReplayEnd(errno.ENODATA, f"capture ends: {self.key} has no transaction {index + 1}")
            if head.op != op or list(head.args) != list(args):
                self._tap.mismatch(
                    f"{self.key}, transaction {index + 1}: the capture has {head.op}{_shown(list(head.args))}, "
                    f"the driver asked for {op}{_shown(list(args))}"
                )
            call = self._pop()
            assert call is head or call == head
        self._tap.pacer.wait_until(head.t_ns)
        self._tap.served += 1
        if head.errno is not None:
            raise os_error(head.errno, f"{self.key} {op}")
        return head.result


class _ReplaySMBus:
    """The SMBus methods, answered from the capture (one stream per address)."""

    def __init__(self, tap: ReplayTap, key: str) -> None:
        self._tap = tap
        self._key = key

    def _take(self, op: str, addr: int, args: list[Any]) -> Any:
        return self._tap.stream(f"{self._key}@{addr:#04x}").take(op, args)

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        self._take("write_quick", i2c_addr, [])

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return int(self._take("read_byte", i2c_addr, []))

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._take("write_byte", i2c_addr, [value])

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        return int(self._take("read_byte_data", i2c_addr, [register]))

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        self._take("write_byte_data", i2c_addr, [register, value])

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        return list(self._take("read_i2c_block_data", i2c_addr, [register, length]))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        self._take("write_i2c_block_data", i2c_addr, [register, bytes(data)])

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:
        from sensors.i2c.device import I2C_M_RD

        addr = int(i2c_msgs[0].addr) if i2c_msgs else 0
        reads = iter(self._take("i2c_rdwr", addr, msg_args(i2c_msgs)))
        for m in i2c_msgs:
            if m.flags & I2C_M_RD:
                data = bytes(next(reads))
                ctypes.memmove(m.buf, data, min(len(data), int(m.len)))

    def close(self) -> None:
        """Nothing to release."""


class _ReplayPort:
    """A serial port answered from the capture."""

    def __init__(self, stream: ReplayStream) -> None:
        self._s = stream

    def read(self, size: int = 1) -> bytes:
        return bytes(self._s.take("read", [size]))

    def write(self, data: bytes) -> int | None:
        result: int | None = self._s.take("write", [bytes(data)])
        return result

    @property
    def in_waiting(self) -> int:
        return int(self._s.take("in_waiting", []))

    def reset_input_buffer(self) -> None:
        self._s.take("reset_input_buffer", [])

    def close(self) -> None:
        self._s.take("close", [])


class ReplayTap:
    """The :class:`~sensors.buses.BusTap` of ``sensorcast replay``: no real or emulated bus is opened (except
    an emulated file tree's directories, for drivers that list them); every transaction comes from ``capture``.

    Args:
        capture: the loaded capture.
        speed: replay speed (1 = as recorded); None = as fast as possible.
        on_end: called once, from a bus thread, when the first stream runs out.
        max_ahead_calls, max_ahead_bytes: the read-ahead window (:class:`~gateway.capture.window.Demux`).
    """

    def __init__(
        self,
        capture: Capture,
        speed: float | None,
        on_end: Callable[[str], None] | None = None,
        *,
        max_ahead_calls: int = MAX_AHEAD_CALLS,
        max_ahead_bytes: int = MAX_AHEAD_BYTES,
    ) -> None:
        self.capture = capture
        self.pacer = Pacer(speed)
        self.speed = speed
        self.served = 0
        self.first_mismatch: str | None = None
        self.end_key: str | None = None
        self.stopping = False
        """Set by :meth:`stop`: the drivers' closes need not match the capture any more."""
        self._on_end = on_end
        self._streams: dict[str, ReplayStream] = {}
        self.feed = SharedFeed(
            capture.path,
            skip=[k for k in capture.counts if k.startswith(POLL_STREAM)],
            max_calls=max_ahead_calls,
            max_bytes=max_ahead_bytes,
        )
        """The capture's transactions, read once as the streams ask (docs/record-replay.md, Memory)."""
        self._lock = threading.Lock()
        self._local = threading.local()
        self.edge_positions: dict[str, int] = {}
        """Per edge stream, how many edges were delivered (a re-claimed line goes on from there)."""

    def hit_end(self) -> bool:
        """True once, on the calling thread, after one of its calls ran past the end of a stream (the read it
        was part of is not a recorded one: drivers may turn the error into something else, or swallow it)."""
        hit = bool(getattr(self._local, "ended", False))
        self._local.ended = False
        return hit

    def stream(self, key: str) -> ReplayStream:
        """The replay of stream ``key`` (an empty one if the capture has none: the first call ends it)."""
        with self._lock:
            found = self._streams.get(key)
            if found is None:
                count = self.capture.counts.get(key, 0)
                found = self._streams[key] = ReplayStream(key, count, self.feed, self)
            return found

    def close(self) -> None:
        """Close the capture file (the replay is over)."""
        self.feed.close()

    def abandoned(self, sensor_id: str, poll: int) -> tuple[str, bool] | None:
        """``(phase, ran)`` when the recording gateway abandoned poll ``poll`` (from 0) of ``sensor_id`` past
        its read timeout (see :meth:`gateway.capture.recorder.RecordingTap.poll_abandoned`), else None."""
        return self.capture.verdicts.get(sensor_id, {}).get(poll)

    def mismatch(self, message: str) -> None:
        """Record the first mismatch and raise it."""
        with self._lock:
            if self.first_mismatch is None:
                self.first_mismatch = message
        raise ReplayMismatch(message)

    def stop(self) -> None:
        """The replay is being stopped (a signal, or a stream ran out while serving): a driver closing a port
        that the capture closes later (or never, cut short) is shutting down, not a mismatch."""
        self.stopping = True
        self.pacer.release()

    def ended(self, key: str) -> None:
        """A stream ran out."""
        self._local.ended = True
        with self._lock:
            first = self.end_key is None
            if first:
                self.end_key = key
        if first and self._on_end is not None:
            self._on_end(key)

    def i2c(self, key: str, make: Callable[[], SMBusLike]) -> SMBusLike:
        """The replayed bus ``key``."""
        bus: SMBusLike = _ReplaySMBus(self, key)
        return bus

    def serial(self, key: str, make: PortFactory) -> PortFactory:
        """A factory 'opening' the replayed port ``key`` (a recorded failure to open is raised again)."""

        def open_port() -> SerialPort:
            stream = self.stream(key)
            stream.take("open", [])
            return _ReplayPort(stream)

        return open_port

    def files(self, key: str, make: Callable[[], FileTree]) -> FileTree:
        """The tree's roots (from ``make``); its file contents, listings and existence tests from the capture."""
        tree = make()

        def take(op: str, path: str, args: list[Any]) -> Any:
            return self.stream(file_key(path, tree.sysfs_root, tree.procfs_root)).take(op, args)

        def read_text(path: str) -> str:
            return str(take("read_text", path, []))

        def write_text(path: str, text: str) -> None:
            take("write_text", path, [text])

        def disk_usage(path: str) -> tuple[int, int]:
            total, free = take("disk_usage", path, [])
            return int(total), int(free)

        def list_dir(path: str) -> list[str]:
            return [str(n) for n in take("list_dir", path, [])]

        def exists(path: str) -> bool:
            return bool(take("exists", path, []))

        def is_dir(path: str) -> bool:
            return bool(take("is_dir", path, []))

        return FileTree(
            tree.sysfs_root, tree.procfs_root, read_text, write_text, disk_usage, list_dir, exists, is_dir
        )

    def pin_factory(self, key: str, make: Callable[[], Any]) -> Any:
        """No pin factory: GPIO replays at the backend level (:meth:`gpio`)."""
        return None

    def gpio(self, key: str, make: Callable[[], Any]) -> Any:
        """A backend whose input lines and edges come from the capture."""
        from gateway.capture.gpio import ReplayBackend

        return ReplayBackend(self, key)

    def clock(self, key: str, clock: Clock) -> Clock:
        """The recorded values of the clock ``key``."""
        stream = self.stream(key)
        return lambda: float(stream.take("now", []))

    def sleep(self, sleep: Sleep) -> Sleep:
        """Sleeps scaled by the speed; none at full speed."""
        speed = self.speed
        if speed is None:
            return lambda _s: None
        return lambda s: sleep(s / speed)
