"""The I/O shell shared by streaming serial drivers: open by URL, bounded reads, unplug detection.

A driver built on :class:`StreamingSerialSensor` only decodes bytes. This class owns the port: it opens it
through the factory its build context handed out (``ctx.serial_port``) by its *configured* path (so
``/dev/serial/by-id/...`` follows a USB adapter that re-enumerated as another ``ttyUSBn``), turns every port
fault into :class:`~sensors.errors.SensorError` so the gateway's poller closes, backs off and calls
:meth:`open` again, and notices a port that stays silent.
"""

from __future__ import annotations

import abc
import contextlib
import errno
import time
from collections.abc import Callable

import serial

from sensors.base import Sensor, SensorInfo, Values
from sensors.buses import PortFactory as PortFactory
from sensors.buses import SerialPort as SerialPort
from sensors.errors import SensorError

READ_CHUNK_BYTES = 4096
"""Largest single read: a few frames at most; keeps one read() call short."""


class StreamingSerialSensor(Sensor):
    """A sensor that decodes a continuous byte stream; ``interval_s`` is 0 and :meth:`read` blocks briefly.

    :meth:`read` returns one reading as soon as one is decoded, or ``{}`` after ``timeout_s`` without one.
    If no reading was decoded for ``stale_after_s`` it raises :class:`SensorError` (adapter present but device
    dead, or a stale file descriptor after re-enumeration). After any port fault, a re-opened port is only
    considered healthy once a reading arrives: until then an empty read raises again, so the sensor does not
    flap between ``ok`` and ``failing``.

    Args:
        info: catalogue entry.
        url: the configured port URL (for ``bus_id`` and messages).
        port_factory: opens the port; called by every :meth:`open`.
        timeout_s: longest :meth:`read` waits for a complete reading.
        stale_after_s: raise after this long without a reading; 0 disables the check.
        slice_s: port timeout of one low-level read (shorter than ``timeout_s`` so bursts end are noticed).
        clock: monotonic seconds (injected for tests).
    """

    def __init__(
        self,
        info: SensorInfo,
        url: str,
        port_factory: PortFactory,
        *,
        timeout_s: float = 0.5,
        stale_after_s: float = 10.0,
        slice_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(info)
        self.url = url
        self.bus_id = f"serial:{url}"
        self.timeout_s = timeout_s
        self.stale_after_s = stale_after_s
        self.slice_s = slice_s
        self._factory = port_factory
        self._clock = clock
        self._port: SerialPort | None = None
        self._last_reading_s = 0.0
        self._opened_s = 0.0
        self._suspect = False
        self.opens_total = 0
        self.port_errors_total = 0

    # -- hooks for the protocol decoders -------------------------------------------------------------------

    @abc.abstractmethod
    def _reset(self) -> None:
        """Forget partial frames (the port was just opened)."""

    @abc.abstractmethod
    def _feed(self, data: bytes) -> None:
        """Decode ``data``; keep complete readings for :meth:`_take`."""

    @abc.abstractmethod
    def _take(self, quiet: bool) -> Values | None:
        """Return a complete reading, or None. ``quiet``: the last port read returned nothing."""

    def _on_open(self, port: SerialPort) -> None:
        """Called after the port opened (e.g. to send a wake-up command)."""

    # -- Sensor --------------------------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or re-open) the port by its configured URL and resynchronise the decoder.

        Raises:
            SensorError: the port does not exist (unplugged) or cannot be opened.
        """
        self.close()
        try:
            port = self._factory()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise SensorError(_errno(exc, errno.ENODEV), f"cannot open {self.url}") from exc
        self._port = port
        self.opens_total += 1
        try:
            port.reset_input_buffer()  # bytes queued while nobody listened are stale
            self._on_open(port)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise SensorError(_errno(exc, errno.EIO), f"cannot set up {self.url}") from exc
        self._reset()
        self._opened_s = self._last_reading_s = self._clock()

    def close(self) -> None:
        """Close the port; safe to call twice and after a failed :meth:`open`."""
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):  # the device may already be gone
                port.close()

    def read(self) -> Values:
        """Return the next decoded reading, or ``{}`` if none completed within ``timeout_s``.

        Raises:
            SensorError: the port is closed, vanished or failed, or stayed silent past ``stale_after_s``.
        """
        ready = self._take(False)
        if ready is not None:
            return self._delivered(ready)
        now = self._clock()
        deadline = now + self.timeout_s
        if self._suspect:
            # Still unproven after a fault: wait once per open, not once per retry (the poller retries at
            # once, and every retry waiting timeout_s again would run past the gateway's read timeout).
            deadline = max(now + self.slice_s, self._opened_s + self.timeout_s)
        while True:
            chunk = self._read_chunk()
            if chunk:
                self._feed(chunk)
            ready = self._take(not chunk)
            if ready is not None:
                return self._delivered(ready)
            now = self._clock()
            if now >= deadline:
                break
        ready = self._take(True)  # the window closed: hand over whatever is complete
        if ready is not None:
            return self._delivered(ready)
        if self._suspect:
            raise SensorError(errno.ENODATA, f"no data from {self.url} since it was re-opened")
        if self.stale_after_s and now - self._last_reading_s > self.stale_after_s:
            self._suspect = True
            raise SensorError(errno.ENODATA, f"no data from {self.url} for {self.stale_after_s:g} s")
        return {}

    def write(self, data: bytes) -> None:
        """Send bytes to the device (commands)."""
        port = self._require_port()
        try:
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            self._suspect = True
            raise SensorError(_errno(exc, errno.EIO), f"write to {self.url} failed") from exc

    # -- internals -----------------------------------------------------------------------------------------

    def _delivered(self, values: Values) -> Values:
        self._last_reading_s = self._clock()
        self._suspect = False
        return values

    def _require_port(self) -> SerialPort:
        if self._port is None:
            raise SensorError(errno.EBADF, f"{self.url} is not open")
        return self._port

    def _read_chunk(self) -> bytes:
        port = self._require_port()
        try:
            waiting = port.in_waiting
            return port.read(min(max(1, waiting), READ_CHUNK_BYTES))
        except (serial.SerialException, OSError) as exc:
            # pyserial raises SerialException('device reports readiness to read but returned no data') when a
            # USB adapter is pulled, and OSError(EIO) on a hung-up pty.
            self.port_errors_total += 1
            self._suspect = True
            raise SensorError(_errno(exc, errno.EIO), f"read from {self.url} failed") from exc


def _errno(exc: BaseException, default: int) -> int:
    code = getattr(exc, "errno", None)
    return code if isinstance(code, int) else default
