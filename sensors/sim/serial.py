"""Emulated serial devices on a real pseudo-terminal: the driver opens a tty path and reads real bytes.

A :class:`PtyLink` is the cable: the device side (pty master) is written by an emulator thread, the host side
is a real ``/dev/pts/N`` path that ``serial.serial_for_url`` opens like ``/dev/ttyUSB0``. Closing the link is
an unplug: the driver's next read fails exactly as it does when a USB adapter is pulled (``EIO``).

A :class:`DeviceModel` is what produces the bytes (a GPS, a PMS5003, an Arduino); :class:`SerialEmulator`
runs one on its own thread at the device's cadence, with optional line noise from :class:`Noise`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import threading
import time
import tty
from collections.abc import Callable
from typing import Protocol


class PtyLink:
    """A pseudo-terminal pair in raw mode.

    Args:
        link_path: optional symlink to create pointing at the host side (a stable name like
            ``/dev/serial/by-id/...``); re-pointing it to another link emulates re-enumeration.

    Attributes:
        port_path: path of the host side (``/dev/pts/N``).
        dropped_bytes: device bytes lost because nobody read the port and its buffer was full.
    """

    def __init__(self, link_path: str | None = None) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass through unchanged
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.port_path = os.ttyname(self._slave)
        self.link_path = link_path
        self.dropped_bytes = 0
        self.closed = False
        self._lock = threading.Lock()
        if link_path:
            self.point(link_path)

    def point(self, link_path: str) -> None:
        """Make ``link_path`` a symlink to this link's port (atomically replacing an older one)."""
        tmp = f"{link_path}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(self.port_path, tmp)
        os.replace(tmp, link_path)
        self.link_path = link_path

    def write(self, data: bytes) -> int:
        """Send ``data`` towards the host; bytes that do not fit the tty buffer are dropped, as on a UART."""
        with self._lock:
            if self.closed:
                return 0
            sent = 0
            while sent < len(data):
                try:
                    sent += os.write(self._master, data[sent:])
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    break
            self.dropped_bytes += len(data) - sent
            return sent

    def read(self, max_bytes: int = 1024) -> bytes:
        """Return bytes the host wrote (commands), without blocking."""
        with self._lock:
            if self.closed:
                return b""
            try:
                return os.read(self._master, max_bytes)
            except (BlockingIOError, OSError):
                return b""

    def close(self) -> None:
        """Unplug: the host's reads fail with EIO from now on. Safe to call twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)


class DeviceModel(Protocol):
    """A device that emits bytes over time and may accept commands."""

    def tick(self, now_s: float) -> list[bytes]:
        """Return the frames or lines the device sends at time ``now_s`` (monotonic seconds)."""
        ...

    def handle(self, data: bytes) -> None:
        """Receive bytes the host sent."""
        ...


class Noise:
    """Line faults applied per frame: garbage bytes, a truncated frame, one flipped bit.

    Args:
        rate: probability that a frame is hit by one of the faults.
        seed: random seed (deterministic demo and tests).
    """

    def __init__(self, rate: float = 0.0, seed: int = 0) -> None:
        self.rate = rate
        self._rng = random.Random(seed)
        self.faults_total = 0

    def apply(self, frame: bytes) -> bytes:
        """Return ``frame``, possibly damaged."""
        if not frame or self._rng.random() >= self.rate:
            return frame
        self.faults_total += 1
        kind = self._rng.randrange(3)
        if kind == 0:
            return bytes(self._rng.randrange(256) for _ in range(self._rng.randint(1, 12))) + frame
        if kind == 1:
            return frame[: self._rng.randrange(len(frame))]
        pos = self._rng.randrange(len(frame))
        return frame[:pos] + bytes([frame[pos] ^ (1 << self._rng.randrange(8))]) + frame[pos + 1 :]


class SerialEmulator:
    """Runs a :class:`DeviceModel` on a daemon thread, feeding a :class:`PtyLink` every ``period_s``.

    Args:
        link: the cable.
        device: the device model.
        period_s: how often the device speaks.
        noise: optional line noise.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        link: PtyLink,
        device: DeviceModel,
        period_s: float,
        noise: Noise | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = link
        self.device = device
        self.period_s = period_s
        self.noise = noise or Noise(0.0)
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-serial", daemon=True)

    @property
    def port_path(self) -> str:
        """Path the driver opens."""
        return self.link.link_path or self.link.port_path

    def start(self) -> SerialEmulator:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def _run(self) -> None:
        next_s = self._clock()
        while not self._stop.is_set():
            commands = self.link.read()
            if commands:
                self.device.handle(commands)
            for frame in self.device.tick(self._clock()):
                self.link.write(self.noise.apply(frame))
            next_s += self.period_s
            self._stop.wait(max(0.0, next_s - self._clock()))

    def close(self) -> None:
        """Stop the thread and unplug the link."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.link.close()
