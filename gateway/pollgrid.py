"""PURE: the poll grid and the bus watchdog's arithmetic (no asyncio, no threads, no clock: callers pass ``now``).

The grid: a sensor polling every ``interval`` polls at whole multiples of ``interval`` of the loop's clock, the
same grid for every sensor, so sensors of one bus with commensurate intervals (20 ms and 10 ms, two at 50 Hz)
are due in the same loop iteration, and their reads cross to the bus thread in one round trip
(:class:`gateway.buses.BusWorker` hands everything queued at once). Grid points are integer nanoseconds, so two
sensors compute bit-identical due times (``0.02 * k`` and ``0.01 * 2k`` in floats can differ by an ulp).

The watchdog: a batch of calls runs on the bus thread one call after another; :func:`check` says, from when the
running call started and what waits behind it, whether a call is past its timeout and when to look again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

NS_PER_S = 1_000_000_000


def to_ns(t_s: float) -> int:
    """Seconds (a loop time or an interval) as integer nanoseconds."""
    return round(t_s * NS_PER_S)


def first_due_ns(start_ns: int, interval_ns: int) -> int:
    """The due time of a sensor's first poll, started at ``start_ns``: the grid point at or before the start
    (that poll runs at once; the next one is the following grid point, shared with every other sensor).
    A streaming sensor (``interval_ns <= 0``) has no grid: its first poll is due at the start."""
    if interval_ns <= 0:
        return start_ns
    return start_ns - start_ns % interval_ns


def next_due_ns(due_ns: int, now_ns: int, interval_ns: int) -> int:
    """The due time of a healthy sensor's next poll, after the one due at ``due_ns`` ended at ``now_ns``: the
    first grid point after ``due_ns``. If that has passed already (a read longer than the interval), ``now_ns``:
    poll at once, never a burst to catch up with the points missed; the poll after that rejoins the grid (so
    does the first success after a backoff, whose due time was off the grid). ``interval_ns`` must be > 0."""
    return max(due_ns - due_ns % interval_ns + interval_ns, now_ns)


class Waiter(NamedTuple):
    """A call queued on a bus: when it was queued and its timeout (None: none)."""

    queued_at: float
    timeout_s: float | None


class Check(NamedTuple):
    """What the watchdog found at ``now``."""

    running_expired: bool
    """The running call is past its timeout: abandon its thread, fail it with a timeout."""
    expired_waiters: tuple[int, ...]
    """Indices of waiters held up longer than they accept by a running call without a timeout (the thread is
    stuck): fail them with a timeout and abandon the thread."""
    next_check: float | None
    """When to look again (None: nothing can expire until a call is queued or starts)."""


def check(now: float, running: Waiter | None, waiters: Sequence[Waiter]) -> Check:
    """The watchdog of one bus at ``now``.

    Args:
        now: the loop time.
        running: the call running on the bus thread (``queued_at`` is when it *started*), or None (the thread
            has not taken the first call yet, or is between two).
        waiters: the calls queued behind it, in order.

    A running call with a timeout expires ``timeout_s`` after it started; the waiters then wait (each gets its
    full timeout once it runs on the fresh thread). A running call without a timeout never expires by itself;
    a waiter with a timeout gives up once it has waited ``timeout_s`` (from when it was queued, or from when the
    call that holds the bus started if that was later), and that abandons the thread. With nothing running, look
    again after the shortest timeout of a waiter.
    """
    if running is None:
        timeouts = [w.timeout_s for w in waiters if w.timeout_s is not None]
        return Check(False, (), now + min(timeouts) if timeouts else None)
    if running.timeout_s is not None:
        deadline = running.queued_at + running.timeout_s
        if now >= deadline:
            return Check(True, (), None)
        return Check(False, (), deadline)
    limits = [
        (i, max(w.queued_at, running.queued_at) + w.timeout_s)
        for i, w in enumerate(waiters)
        if w.timeout_s is not None
    ]
    expired = tuple(i for i, limit in limits if now >= limit)
    if expired:
        return Check(False, expired, None)
    return Check(False, (), min((limit for _, limit in limits), default=None))
