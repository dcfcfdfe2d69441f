"""One poll of one sensor, shared by the poller (:mod:`gateway.poller`, on the event loop) and the replay driver
(:func:`gateway.capture.session.drive`, a thread per sensor): (re)open when not open or while the health state
asks for a re-initialisation (closing first), fail a call the recording poller abandoned the way it failed live,
then ``read_with_retry`` with the policy's retries; the outcome moves the sensor's
:class:`~sensors.health.SensorHealth` state machine.

The step is a coroutine that awaits only its port's calls. The poller's port hands blocking calls to the bus
worker; the replay driver's port returns at once, so :func:`run_inline` runs the step to its end without an event
loop. A port that never blocks reads inline, without a coroutine per read: the poller's hot path (issue 13) makes
no more calls or allocations per poll than before the step was shared.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from gateway.buses import CallAbandoned
from sensors.base import Sensor, Values
from sensors.health import HealthPolicy, SensorHealth, read_with_retry

T = TypeVar("T")


class PollCycle:
    """The poll bookkeeping of one sensor: its health state, whether it is open, the number of the next poll,
    the phase (``close``, ``open``, ``read``) the current poll is in, and the stamp of its last read."""

    __slots__ = ("health", "opened", "phase", "policy", "polls", "ts_ns")

    def __init__(self, policy: HealthPolicy) -> None:
        self.policy = policy
        self.health = SensorHealth(policy)
        self.opened = False
        self.polls = 0
        """Polls started so far (the number of the next one)."""
        self.phase = "close"
        self.ts_ns: int | None = None
        """When the last read returned (ns, wall clock) if the port stamped it, else None (stamp on publish)."""

    def next_poll(self) -> int:
        """Start a poll: its number (from 0)."""
        poll = self.polls
        self.polls += 1
        return poll


class PollPort(Protocol):
    """How a poll step reaches the driver."""

    inline: bool
    """True: the driver's read is called at once on this thread (it never blocks, or nothing else runs here)."""

    async def call_bus(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` where the driver's blocking calls run, within the read timeout."""
        ...

    async def read_bus(self, sensor: Sensor, retries: int) -> tuple[Values, int | None]:
        """``read_with_retry(sensor, retries)`` where blocking calls run, and when it returned (ns) if known."""
        ...

    def on_opened(self) -> None:
        """The driver was (re)opened."""
        ...

    def replay_cause(self, exc: BaseException) -> BaseException | None:
        """What must end the poll although ``exc`` came from a replayed abandoned call (a capture's end), or None."""
        ...


async def poll_step(
    cycle: PollCycle, sensor: Sensor, verdict: tuple[str, bool] | None, port: PollPort
) -> Values:
    """One poll up to its outcome: (re)open as needed, then read with ``cycle.policy.retries``; the caller moves
    the health state (:attr:`PollCycle.health`) with the outcome. ``cycle.phase`` names the call a failure came
    from, ``cycle.ts_ns`` the read's stamp.

    ``verdict``: ``(phase, ran)`` when the recording poller abandoned this poll's ``phase`` call past its read
    timeout (replay): that call is made if it had started (its late bus exchange is in the capture), its outcome
    dropped, and the poll fails with the same timeout.

    Raises:
        CallAbandoned: the verdict's call, as recorded.
        Exception: what the driver's calls raise.
    """
    cycle.phase = "close"
    if not cycle.opened or cycle.health.needs_reinit:
        if cycle.opened:
            if verdict is not None and verdict[0] == "close":
                await _abandoned(verdict, port, sensor.close)
            await port.call_bus(sensor.close)
            cycle.opened = False  # still open if the close failed
        cycle.phase = "open"
        if verdict is not None and verdict[0] == "open":
            await _abandoned(verdict, port, sensor.open)
        await port.call_bus(sensor.open)
        cycle.opened = True
        port.on_opened()
    cycle.phase = "read"
    if verdict is not None and verdict[0] == "read":
        await _abandoned(verdict, port, read_with_retry, sensor, cycle.policy.retries)
    if port.inline:
        cycle.ts_ns = None
        return read_with_retry(sensor, cycle.policy.retries)
    values, cycle.ts_ns = await port.read_bus(sensor, cycle.policy.retries)
    return values


async def _abandoned(verdict: tuple[str, bool], port: PollPort, fn: Callable[..., Any], *args: Any) -> None:
    """Replay the abandoned call of ``verdict`` (if it had started), drop its outcome and fail as recorded."""
    if verdict[1]:
        try:
            await port.call_bus(fn, *args)
        except Exception as exc:  # the abandoned thread's outcome went nowhere
            cause = port.replay_cause(exc)
            if cause is not None:
                raise cause from exc
    raise CallAbandoned(errno.ETIMEDOUT, f"{verdict[0]} abandoned past the read timeout (as recorded)")


def run_inline(step: Coroutine[Any, Any, T]) -> T:
    """Run ``step`` to its end on this thread: its port's calls must all return at once (never suspend).

    Raises:
        RuntimeError: the step suspended (a port call that waits: it needs an event loop).
    """
    try:
        step.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    step.close()
    raise RuntimeError("a poll step suspended: run it on an event loop")
