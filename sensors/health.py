"""Sensor health: retries, the ok -> failing -> offline -> recovering state machine, and backoff. Pure.

The poller (gateway) owns the clock and the threads; this module only decides. Times are plain floats in
seconds from any monotonic origin the caller chooses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sensors.base import Sensor, Values

State = Literal["starting", "ok", "failing", "offline", "recovering", "stopped"]


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """How hard to try before a sensor is declared failing or offline.

    Attributes:
        retries: immediate re-reads after a failed read, within one poll (cheap: a NACK is often transient).
        offline_after: consecutive failed polls after which the sensor is ``offline``.
        backoff_initial_s: first retry delay once failing.
        backoff_max_s: cap of the exponential backoff (a sensor unplugged for a day is retried every minute).
        jitter: +/- fraction applied to each backoff delay so sensors on one bus don't retry in lockstep.
    """

    retries: int = 2
    offline_after: int = 3
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter: float = 0.2


def read_with_retry(sensor: Sensor, retries: int) -> Values:
    """Read ``sensor``, re-trying up to ``retries`` times at once on ``OSError`` (blocking).

    Raises:
        OSError: the last error when every attempt failed (``SensorError`` is an ``OSError``).
    """
    for attempt in range(retries + 1):
        try:
            return sensor.read()
        except OSError:
            if attempt == retries:
                raise
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises


class SensorHealth:
    """State machine of one sensor.

    ``starting`` -> ``ok`` on the first success. Any failed poll moves ``ok`` to ``failing``; ``offline_after``
    consecutive failed polls move it to ``offline``. The first success after ``failing`` or ``offline`` moves it
    to ``recovering`` (the caller re-initialises the device: :attr:`needs_reinit`), the next one to ``ok``.
    """

    def __init__(self, policy: HealthPolicy | None = None) -> None:
        self.policy = policy or HealthPolicy()
        self.state: State = "starting"
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.since_s: float | None = None
        self.errors_total = 0

    @property
    def needs_reinit(self) -> bool:
        """True while the device should be closed and opened again before the next read."""
        return self.state in ("failing", "offline")

    def _move(self, state: State, now_s: float) -> State | None:
        if state == self.state:
            return None
        self.state = state
        self.since_s = now_s
        return state

    def on_success(self, now_s: float) -> State | None:
        """Record a successful poll; return the new state if it changed."""
        self.consecutive_failures = 0
        if self.state in ("failing", "offline"):
            return self._move("recovering", now_s)
        self.last_error = None
        return self._move("ok", now_s)

    def on_failure(self, now_s: float, error: str) -> State | None:
        """Record a failed poll with a short, user-facing ``error``; return the new state if it changed."""
        self.consecutive_failures += 1
        self.errors_total += 1
        self.last_error = error
        if self.consecutive_failures >= self.policy.offline_after:
            return self._move("offline", now_s)
        return self._move("failing", now_s)

    def stop(self, now_s: float) -> State | None:
        """Mark the sensor stopped (shutdown)."""
        return self._move("stopped", now_s)

    def next_delay_s(self, interval_s: float, rand01: float) -> float:
        """Seconds to wait before the next poll, given a uniform random number in [0, 1)."""
        if self.consecutive_failures == 0:
            return interval_s
        p = self.policy
        try:
            # ldexp(x, n) is x * 2**n without computing 2**n: 2.0 ** n overflows (OverflowError) past n = 1023,
            # which a sensor unplugged for ~17 h reaches with the default 60 s cap.
            grown = math.ldexp(p.backoff_initial_s, self.consecutive_failures - 1)
        except OverflowError:
            grown = math.inf  # far past any cap
        base: float = min(p.backoff_max_s, grown)
        return max(interval_s, base * (1 + p.jitter * (2 * rand01 - 1)))
