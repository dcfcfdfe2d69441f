"""Pure edge logic for digital inputs: debounce, hold detection and pulse rates.

No threads, no clocks: callers pass monotonic nanoseconds and schedule :meth:`EdgeFilter.on_time` at
:meth:`EdgeFilter.deadline_ns`. The same code serves every GPIO backend, so a button bounces the same way on a
Raspberry Pi (gpiozero) and on a Jetson (Jetson.GPIO).

Debounce is *leading edge with reconciliation*: the first raw change is reported at once with its own
timestamp (a press is not delayed by the bounce time), further raw changes are ignored for ``bounce_ns``, and if
the input settled in a different level by the end of that window, the last raw change is reported then. So the
reported state always ends equal to the settled input, which plain lock-out debouncing (RPi.GPIO's
``bouncetime``) does not guarantee.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Edge:
    """One debounced event.

    Attributes:
        active: the input's debounced state after the event.
        mono_ns: monotonic time of the raw change (or of the hold deadline for a ``held`` event).
        held: True for the event that says 'active for at least hold time'.
        activations: activations counted so far, including this one.
    """

    active: bool
    mono_ns: int
    held: bool
    activations: int


class EdgeFilter:
    """Debounces raw level changes and detects holds.

    Args:
        initial_active: debounced state at start (the input's level when it was opened).
        bounce_ns: lock-out after a reported change; 0 disables debouncing.
        hold_ns: active time after which one ``held`` event fires; 0 disables hold detection.
    """

    def __init__(self, initial_active: bool, bounce_ns: int = 0, hold_ns: int = 0) -> None:
        if bounce_ns < 0 or hold_ns < 0:
            raise ValueError("bounce_ns and hold_ns must be >= 0")
        self.bounce_ns = bounce_ns
        self.hold_ns = hold_ns
        self.active = initial_active
        self.held = False
        self.activations = 0
        self.raw_active = initial_active
        self._raw_mono_ns = 0
        self._lockout_until_ns: int | None = None
        self._hold_at_ns: int | None = None

    def _report(self, active: bool, mono_ns: int) -> Edge:
        self.active = active
        self.held = False
        if active:
            self.activations += 1
            self._hold_at_ns = mono_ns + self.hold_ns if self.hold_ns else None
        else:
            self._hold_at_ns = None
        self._lockout_until_ns = mono_ns + self.bounce_ns if self.bounce_ns else None
        return Edge(active, mono_ns, False, self.activations)

    def on_raw(self, active: bool, mono_ns: int) -> list[Edge]:
        """Feed a raw level change seen at ``mono_ns``; return the events it causes (maybe none)."""
        out = self.on_time(mono_ns)  # first settle what was pending before this change (a late timer)
        self.raw_active = active
        self._raw_mono_ns = mono_ns
        if self._lockout_until_ns is not None and mono_ns < self._lockout_until_ns:
            return out  # bouncing: on_time() reconciles at the end of the window
        if active != self.active:
            out.append(self._report(active, mono_ns))
        return out

    def on_time(self, now_ns: int) -> list[Edge]:
        """Let time pass until ``now_ns``: end bounce windows and fire due holds."""
        out: list[Edge] = []
        while True:
            lockout = self._lockout_until_ns
            hold = self._hold_at_ns
            if lockout is not None and lockout <= now_ns and (hold is None or lockout <= hold):
                self._lockout_until_ns = None
                if self.raw_active != self.active:
                    # The input settled elsewhere during the window: report its last change, never before it.
                    out.append(self._report(self.raw_active, max(self._raw_mono_ns, lockout)))
                continue
            if hold is not None and hold <= now_ns:
                self._hold_at_ns = None
                self.held = True
                out.append(Edge(True, hold, True, self.activations))
                continue
            return out

    def deadline_ns(self) -> int | None:
        """When :meth:`on_time` must next be called (None: nothing pending).

        A window whose input already settled where it was reported needs no call (the next :meth:`on_raw`
        closes it), so clean or self-cancelling bounces never cost the caller a timer.
        """
        lockout = self._lockout_until_ns if self.raw_active != self.active else None
        pending = [t for t in (lockout, self._hold_at_ns) if t is not None]
        return min(pending) if pending else None


class PulseRate:
    """Counts pulses and gives their rate over a sliding window.

    Args:
        window_ns: length of the window the rate is averaged over.
        max_pulses: bound on remembered pulse times; rates above ``max_pulses / window`` saturate (a
            flow meter at 1 kHz with a 10 s window needs 10 000).
    """

    def __init__(self, window_ns: int, max_pulses: int = 65536) -> None:
        if window_ns <= 0:
            raise ValueError("window_ns must be > 0")
        self.window_ns = window_ns
        self.total = 0
        self._times: deque[int] = deque(maxlen=max_pulses)
        self._start_ns: int | None = None

    def start(self, now_ns: int) -> None:
        """Begin (or restart) the window at ``now_ns``; the total survives restarts."""
        self._start_ns = now_ns
        self._times.clear()

    def pulse(self, mono_ns: int) -> None:
        """Count one pulse at ``mono_ns``."""
        self.total += 1
        self._times.append(mono_ns)

    def rate_hz(self, now_ns: int) -> float:
        """Pulses per second in the last window (or since :meth:`start`, while that is shorter)."""
        cutoff = now_ns - self.window_ns
        while self._times and self._times[0] <= cutoff:
            self._times.popleft()
        span_ns = self.window_ns
        if self._start_ns is not None and now_ns - self._start_ns < self.window_ns:
            span_ns = now_ns - self._start_ns
        if span_ns <= 0:
            return 0.0
        return len(self._times) * 1e9 / span_ns
