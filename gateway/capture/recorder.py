"""Recording: a :class:`~sensors.buses.BusTap` that logs every transaction on the buses the build context hands
out, and the writer that appends them to a capture file as they come (a power cut leaves a readable prefix).

Drivers do not know: they get objects with the same methods. Each transaction is encoded on the thread that
made it (cheap) and queued; a writer thread appends the queue to the file every :data:`FLUSH_INTERVAL_S`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from gateway.capture.codec import FLUSH_AT_BYTES, CaptureEncoder, Stream
from gateway.capture.taps import POLL_STREAM, error_number, file_key, msg_args
from sensors.buses import Clock, FileTree, PortFactory, SerialPort, Sleep, SMBusLike

log = logging.getLogger("sensorcast.record")

FLUSH_INTERVAL_S = 0.5
"""How often queued records reach the file (and the disk: fsync): at most this much is lost in a power cut."""

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
"""Default size cap of a capture, bytes: ten hours of the demo; recording stops (the gateway too) there."""


class CaptureWriter:
    """Appends records to ``path``; thread-safe. :meth:`close` writes the clean end.

    Args:
        path: the capture file (created, or truncated).
        header: what the header frame holds (version, config without secrets, board).
        compress: zlib the body.
        max_bytes: stop recording once the file reaches this size; ``on_full`` is called once.
        on_full: told when the cap is reached (the record command stops the gateway).
        clock_ns: monotonic nanoseconds.
    """

    def __init__(
        self,
        path: str,
        header: dict[str, Any],
        *,
        compress: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_full: Callable[[], None] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._encoder = CaptureEncoder(compress)
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()
        self._pending: list[bytes] = [self._encoder.start(header)]
        self._streams: dict[str, int] = {}
        self._clock_ns = clock_ns
        self._start_ns = clock_ns()
        self.max_bytes = max_bytes
        self.bytes_written = 0
        self.records = 0
        self.full = False
        self._on_full = on_full
        self._closed = False
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    def stream(self, key: str) -> int:
        """The stream id of ``key`` (declared in the file on first use)."""
        with self._lock:
            sid = self._streams.get(key)
            if sid is None:
                sid = self._streams[key] = len(self._streams)
                self._encoder.record(Stream(sid, key))
            return sid

    def call(
        self, sid: int, op: str, args: Sequence[Any], result: Any = None, err: int | None = None
    ) -> None:
        """Queue one transaction, stamped now."""
        if self.full:
            return
        t_ns = self._clock_ns() - self._start_ns
        with self._lock:  # one encoder: pack in order
            self._encoder.call(sid, t_ns, op, args, result, err)
            self.records += 1
            big = self._encoder.pending_bytes >= FLUSH_AT_BYTES
        if big:
            self._wake.set()

    def flush(self) -> None:
        """Write what is queued and make it durable."""
        with self._lock:
            if self._closed:
                return
            chunks, self._pending = self._pending, []
            chunks.append(self._encoder.flush())
            data = b"".join(chunks)
            if not data:
                return
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.bytes_written += len(data)
            reached = not self.full and self.bytes_written >= self.max_bytes
            if reached:
                self.full = True
        if reached:
            log.warning("capture reached its size cap (%d bytes): recording stops", self.max_bytes)
            if self._on_full is not None:
                self._on_full()

    def close(self) -> None:
        """Write the end record and close the file; safe to call twice."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        self.flush()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            data = self._encoder.end(self._clock_ns() - self._start_ns)
            self._file.write(data)
            self._file.close()
            self.bytes_written += len(data)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_INTERVAL_S)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # a full disk, a yanked SD card or a bug: say so once, never die silently
                log.exception("cannot write the capture; recording stops")
                self.full = True
                return


class _RecordingSMBus:
    """An SMBus-like bus that records every call; one stream per device address (``i2c-1@0x76``)."""

    def __init__(self, bus: SMBusLike, writer: CaptureWriter, key: str) -> None:
        self._bus = bus
        self._w = writer
        self._key = key
        self._sids: dict[int, int] = {}

    def _sid(self, addr: int) -> int:
        sid = self._sids.get(addr)
        if sid is None:
            sid = self._sids[addr] = self._w.stream(f"{self._key}@{addr:#04x}")
        return sid

    def _do(self, op: str, addr: int, args: list[Any], fn: Callable[[], Any]) -> Any:
        sid = self._sid(addr)
        try:
            result = fn()
        except OSError as exc:
            self._w.call(sid, op, args, None, error_number(exc))
            raise
        self._w.call(sid, op, args, list(result) if isinstance(result, list) else result)
        return result

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        self._do("write_quick", i2c_addr, [], lambda: self._bus.write_quick(i2c_addr))

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        return int(self._do("read_byte", i2c_addr, [], lambda: self._bus.read_byte(i2c_addr)))

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None:
        self._do("write_byte", i2c_addr, [value], lambda: self._bus.write_byte(i2c_addr, value))

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        fn = lambda: self._bus.read_byte_data(i2c_addr, register)  # noqa: E731
        return int(self._do("read_byte_data", i2c_addr, [register], fn))

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force: bool | None = None) -> None:
        fn = lambda: self._bus.write_byte_data(i2c_addr, register, value)  # noqa: E731
        self._do("write_byte_data", i2c_addr, [register, value], fn)

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        fn = lambda: bytes(self._bus.read_i2c_block_data(i2c_addr, register, length))  # noqa: E731
        return list(self._do("read_i2c_block_data", i2c_addr, [register, length], fn))

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        fn = lambda: self._bus.write_i2c_block_data(i2c_addr, register, data)  # noqa: E731
        self._do("write_i2c_block_data", i2c_addr, [register, bytes(data)], fn)

    def i2c_rdwr(self, *i2c_msgs: Any) -> None:
        from sensors.i2c.device import I2C_M_RD

        def run() -> list[bytes]:
            self._bus.i2c_rdwr(*i2c_msgs)
            return [bytes(m) for m in i2c_msgs if m.flags & I2C_M_RD]

        self._do("i2c_rdwr", int(i2c_msgs[0].addr) if i2c_msgs else 0, msg_args(i2c_msgs), run)

    def close(self) -> None:
        self._bus.close()


class _RecordingPort:
    """A serial port that records reads (bytes or error), writes, waiting counts and resets."""

    def __init__(self, port: SerialPort, writer: CaptureWriter, sid: int) -> None:
        self._port = port
        self._w = writer
        self._sid = sid

    def _do(self, op: str, args: list[Any], fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except Exception as exc:  # pyserial's SerialException is not an OSError; replayed as one
            self._w.call(self._sid, op, args, None, error_number(exc))
            raise
        self._w.call(self._sid, op, args, result)
        return result

    def read(self, size: int = 1) -> bytes:
        return bytes(self._do("read", [size], lambda: bytes(self._port.read(size))))

    def write(self, data: bytes) -> int | None:
        result: int | None = self._do("write", [bytes(data)], lambda: self._port.write(data))
        return result

    @property
    def in_waiting(self) -> int:
        return int(self._do("in_waiting", [], lambda: self._port.in_waiting))

    def reset_input_buffer(self) -> None:
        self._do("reset_input_buffer", [], self._port.reset_input_buffer)

    def close(self) -> None:
        self._do("close", [], self._port.close)


class RecordingTap:
    """The :class:`~sensors.buses.BusTap` of ``sensorcast record``: every bus is the real or emulated one,
    wrapped so that each transaction is logged to ``writer``."""

    def __init__(self, writer: CaptureWriter) -> None:
        self.writer = writer

    def i2c(self, key: str, make: Callable[[], SMBusLike]) -> SMBusLike:
        """The bus ``key``, recorded."""
        bus: SMBusLike = _RecordingSMBus(make(), self.writer, key)
        return bus

    def serial(self, key: str, make: PortFactory) -> PortFactory:
        """A factory opening the port ``key``, recording the opening (or its failure) and the traffic."""
        writer = self.writer

        def open_port() -> SerialPort:
            sid = writer.stream(key)
            try:
                port = make()
            except Exception as exc:
                writer.call(sid, "open", [], None, error_number(exc))
                raise
            writer.call(sid, "open", [])
            return _RecordingPort(port, writer, sid)

        return open_port

    def files(self, key: str, make: Callable[[], FileTree]) -> FileTree:
        """The tree ``key`` with its reads, writes, listings, existence tests and disk-usage queries recorded
        (one stream per path), so that a replay discovers the same devices on any machine."""
        tree, writer = make(), self.writer

        def recorded(op: str, path: str, args: list[Any], fn: Callable[[], Any]) -> Any:
            sid = writer.stream(file_key(path, tree.sysfs_root, tree.procfs_root))
            try:
                result = fn()
            except OSError as exc:
                writer.call(sid, op, args, None, error_number(exc))
                raise
            writer.call(sid, op, args, list(result) if isinstance(result, tuple) else result)
            return result

        def read_text(path: str) -> str:
            return str(recorded("read_text", path, [], lambda: tree.read_text(path)))

        def write_text(path: str, text: str) -> None:
            recorded("write_text", path, [text], lambda: tree.write_text(path, text))

        def disk_usage(path: str) -> tuple[int, int]:
            total, free = recorded("disk_usage", path, [], lambda: tree.disk_usage(path))
            return int(total), int(free)

        def list_dir(path: str) -> list[str]:
            return [str(n) for n in recorded("list_dir", path, [], lambda: list(tree.list_dir(path)))]

        def exists(path: str) -> bool:
            return bool(recorded("exists", path, [], lambda: bool(tree.exists(path))))

        def is_dir(path: str) -> bool:
            return bool(recorded("is_dir", path, [], lambda: bool(tree.is_dir(path))))

        return FileTree(
            tree.sysfs_root, tree.procfs_root, read_text, write_text, disk_usage, list_dir, exists, is_dir
        )

    def pin_factory(self, key: str, make: Callable[[], Any]) -> Any:
        """The pin factory, as it is: GPIO is recorded one level up, at the backend (:meth:`gpio`); drivers that
        drive pins through gpiozero alone (HC-SR04, MCP3xxx) are not recorded (docs/record-replay.md)."""
        return make()

    def gpio(self, key: str, make: Callable[[], Any]) -> Any:
        """The GPIO backend ``key`` with its input lines and edges recorded."""
        from gateway.capture.gpio import RecordingBackend

        return RecordingBackend(make(), self.writer, key)

    def poll_abandoned(self, sensor_id: str, poll: int, phase: str, ran: bool) -> None:
        """The poller gave up on poll ``poll`` of ``sensor_id`` (:class:`gateway.poller.PollLog`): kept in the
        stream ``poll:<sensor>`` so a replay fails that poll too, although its bus exchange is in the capture."""
        self.writer.call(self.writer.stream(f"{POLL_STREAM}{sensor_id}"), "abandoned", [poll, phase, ran])

    def clock(self, key: str, clock: Clock) -> Clock:
        """The clock ``key``; every value it returns is recorded."""
        sid, writer = self.writer.stream(key), self.writer

        def now() -> float:
            value = clock()
            writer.call(sid, "now", [], value)
            return value

        return now

    def sleep(self, sleep: Sleep) -> Sleep:
        """Sleeping is not a transaction: recording sleeps for real."""
        return sleep
