"""How often an output may change: the per-output minimum interval between two applied commands (pure).

A relay is a mechanical part rated for a few operations per second at most (and for far fewer under load);
ten operator connections toggled one about 59 times a second. Every output therefore has a minimum interval
between changes; a command that comes sooner is refused with the time after which it would be accepted. Safe
values (shutdown, last operator gone) are never refused, but they count as a change, so the next command
still waits its interval.

No clock is read here: callers pass ``now_s`` (monotonic seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_INTERVAL_S_BY_DRIVER: dict[str, float] = {
    "relay": 0.5,
    "led": 0.05,
    "pwm_led": 0.02,
    "servo": 0.02,
}
"""Default minimum interval between changes, per output driver, in seconds. Why each:

* ``relay`` 0.5 s (2 changes/s): common hobby relay modules (e.g. SRD-05VDC) are rated for 300 operations/min
  unloaded (5/s) and 30/min at rated load; 2/s keeps a margin while a click still answers at once.
* ``led`` 0.05 s (20/s): no wear, but every change is a bus call and a reading to every client; faster than
  20 Hz is a blur to the eye anyway.
* ``pwm_led`` 0.02 s (50/s): a dragged slider sends its value on release; 50/s keeps even a live drag fluid.
* ``servo`` 0.02 s (50/s): one 20 ms servo frame; a new position sooner than the next frame cannot take effect.
"""
DEFAULT_MIN_INTERVAL_S = 0.5
"""For output drivers not in the table (e.g. added later or out of tree): the relay-safe value, since nothing
says the output is not mechanical."""
MAX_MIN_INTERVAL_S = 3600.0
"""Largest interval the config accepts (an hour): beyond it an output is effectively read-only, say so instead."""
TOLERANCE_S = 1e-9
"""A change this close to the end of the interval is accepted: ``now + retry_after_s`` must always succeed,
whatever the float rounding of the addition."""


def default_min_interval_s(driver: str) -> float:
    """The default minimum interval between changes for an output of ``driver`` (see the table above)."""
    return MIN_INTERVAL_S_BY_DRIVER.get(driver, DEFAULT_MIN_INTERVAL_S)


@dataclass(frozen=True, slots=True)
class TooSoon:
    """A refused change: ``target`` accepts one change per ``min_interval_s``; retry in ``retry_after_s``."""

    target: str
    min_interval_s: float
    retry_after_s: float

    @property
    def message(self) -> str:
        """The user-facing reason (a ``command`` result's ``error``)."""
        return (
            f"too soon: {self.target} accepts one change per {self.min_interval_s:g} s; "
            f"retry in {self.retry_after_s:.3f} s"
        )


class ChangeLimiter:
    """Per-output accounting of the last change (a bounded table: one entry per configured output)."""

    def __init__(self) -> None:
        self._last_s: dict[str, float] = {}

    def try_change(self, target: str, min_interval_s: float, now_s: float) -> TooSoon | None:
        """Reserve a change of ``target`` at ``now_s``: None when allowed (and recorded), else the refusal.

        The change is recorded before the output is driven, so two commands racing for it cannot both pass.
        """
        last = self._last_s.get(target)
        if last is not None and min_interval_s > 0:
            wait_s = min_interval_s - (now_s - last)  # never more than the interval, rounding included
            if wait_s > TOLERANCE_S:
                return TooSoon(target, min_interval_s, wait_s)
        self._last_s[target] = now_s
        return None

    def force(self, target: str, now_s: float) -> None:
        """Record a change that must not be refused (a safe value): the next command waits from ``now_s``."""
        self._last_s[target] = now_s

    def last_change_s(self, target: str) -> float | None:
        """When ``target`` last changed (None: never, since start)."""
        return self._last_s.get(target)
