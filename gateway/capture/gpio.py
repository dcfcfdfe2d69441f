"""GPIO in captures: input lines (claim, level reads, close) and their edges, recorded and replayed at the
:class:`~sensors.gpio.backend.GpioBackend` level, the interface every GPIO input driver uses.

Per pin, two streams: ``gpio:<backend>:<pin>`` holds what the driver asked (``input``, ``level``, ``close``),
``gpio-edges:<backend>:<pin>`` what the pin did (``edge`` with its level and its age when the callback ran). A
replay delivers the edges from a thread at their recorded times (scaled by the speed): debouncing and hold
times run again on them, so GPIO readings replay by timing, not bit for bit (docs/record-replay.md).
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

from sensors.errors import SensorError
from sensors.gpio.backend import GpioBackend, InputLine, OutputLine, Pull, RawCallback

# The writer (gateway.capture.recorder.CaptureWriter) and the tap (gateway.capture.replayer.ReplayTap) are typed
# Any here: they import this module, and the house rules allow no import cycle, not even for type checking.
CaptureWriter = Any
ReplayTap = Any

EDGE_POLL_S = 0.5
"""Longest a replayed line's edge thread waits before it looks whether the line was closed."""


class _RecordingLine(InputLine):
    def __init__(self, line: InputLine, writer: CaptureWriter, sid: int) -> None:
        self._line = line
        self._w = writer
        self._sid = sid

    def level(self) -> bool:
        value = bool(self._line.level())
        self._w.call(self._sid, "level", [], value)
        return value

    def close(self) -> None:
        self._w.call(self._sid, "close", [])
        self._line.close()


class RecordingBackend(GpioBackend):
    """A backend whose input lines record their claim, level reads and edges; outputs pass through."""

    def __init__(self, backend: GpioBackend, writer: CaptureWriter, key: str) -> None:
        self._backend = backend
        self._w = writer
        self._key = key
        self.name = backend.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)  # e.g. ``factory`` for drivers that only gpiozero drives

    def input(self, pin: int, pull: Pull, on_change: RawCallback) -> InputLine:
        sid = self._w.stream(f"gpio:{self._key}:{pin}")
        edges = self._w.stream(f"gpio-edges:{self._key}:{pin}")
        writer = self._w

        def recorded(level: bool, mono_ns: int) -> None:
            writer.call(edges, "edge", [], [bool(level), max(0, time.monotonic_ns() - mono_ns)])
            on_change(level, mono_ns)

        try:
            line = self._backend.input(pin, pull, recorded)
        except OSError as exc:
            writer.call(sid, "input", [pull], None, exc.errno if isinstance(exc.errno, int) else -1)
            raise
        writer.call(sid, "input", [pull])
        return _RecordingLine(line, writer, sid)

    def output(self, pin: int, active_high: bool, initial_on: bool) -> OutputLine:
        return self._backend.output(pin, active_high, initial_on)

    def pwm(self, pin: int, frequency_hz: float, initial_duty: float) -> OutputLine:
        return self._backend.pwm(pin, frequency_hz, initial_duty)

    def close(self) -> None:
        self._backend.close()


class _ReplayLine(InputLine):
    def __init__(self, tap: ReplayTap, key: str, edges_key: str, on_change: RawCallback) -> None:
        self._tap = tap
        self._stream = tap.stream(key)
        self._on_change = on_change
        self._closed = threading.Event()
        self._thread = threading.Thread(
            target=self._deliver, args=(edges_key,), name="replay-gpio", daemon=True
        )
        self._thread.start()

    def _deliver(self, edges_key: str) -> None:
        stream = self._tap.stream(edges_key)
        pacer = self._tap.pacer
        while not self._closed.is_set():
            # Look no further ahead than EDGE_POLL_S of recorded time: the capture is read as it is replayed.
            call = stream.peek(pacer.due_ns(EDGE_POLL_S))  # or LATER: none that soon
            if call is None:
                return
            delay = EDGE_POLL_S if isinstance(call, str) else pacer.delay_until(call.t_ns)
            if delay > 0:
                self._closed.wait(min(delay, EDGE_POLL_S))
                continue
            stream.pop()
            level, age_ns = call.result
            self._tap.edge_positions[edges_key] = stream.position
            self._on_change(bool(level), time.monotonic_ns() - int(age_ns))

    def level(self) -> bool:
        return bool(self._stream.take("level", []))

    def close(self) -> None:
        self._closed.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * EDGE_POLL_S)
        self._stream.take("close", [])


class ReplayBackend(GpioBackend):
    """Input lines from a capture; outputs are refused (a replay drives no hardware)."""

    def __init__(self, tap: ReplayTap, key: str) -> None:
        self._tap = tap
        self._key = key
        self.name = f"replay:{key}"

    def input(self, pin: int, pull: Pull, on_change: RawCallback) -> InputLine:
        key = f"gpio:{self._key}:{pin}"
        self._tap.stream(key).take("input", [pull])
        return _ReplayLine(self._tap, key, f"gpio-edges:{self._key}:{pin}", on_change)

    def output(self, pin: int, active_high: bool, initial_on: bool) -> OutputLine:
        raise SensorError(errno.ENOTSUP, "a replay drives no outputs")

    def pwm(self, pin: int, frequency_hz: float, initial_duty: float) -> OutputLine:
        raise SensorError(errno.ENOTSUP, "a replay drives no outputs")
