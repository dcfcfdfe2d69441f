"""Polling: one task per sensor, with health and backoff per sensor; its blocking driver calls run on the
sensor's bus worker (:mod:`gateway.buses`), never on the event loop. A driver that declares it never blocks
(:attr:`sensors.base.Sensor.never_blocks`: pure computation, such as the synthetic source) is called on the loop
directly: a thread handoff costs 30-130 us of CPU and two context switches per reading, about 20 times the read
itself (issue 13).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from gateway.buses import BusWorker, CallAbandoned
from gateway.catalogue import Catalogue
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.pollgrid import NS_PER_S, first_due_ns, next_due_ns, to_ns
from gateway.pollstep import PollCycle, poll_step
from sensors.base import Sensor, Values
from sensors.errors import ImplausibleReading
from sensors.health import HealthPolicy, read_with_retry

log = logging.getLogger(__name__)
T = TypeVar("T")


def describe_error(exc: BaseException) -> str:
    """A short, user-facing description (no exception text that could carry paths or secrets to the network)."""
    if isinstance(exc, ImplausibleReading):
        return "implausible value"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        if exc.errno == errno.EREMOTEIO:
            return f"no acknowledge from device ({name})"
        return f"I/O error ({name})"
    if isinstance(exc, OSError):
        return "I/O error"
    if isinstance(exc, asyncio.CancelledError):
        return "bus call cancelled"
    return "driver error"


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    """Sleep until loop time ``when``: an absolute timer, so sensors due at the same grid point get the very
    same timer time and wake in the same loop iteration (``asyncio.sleep(when - now)`` adds the few us between
    reading ``now`` and arming the timer, different for each sensor)."""
    fut: asyncio.Future[None] = loop.create_future()
    handle = loop.call_at(when, _wake, fut)
    try:
        await fut
    finally:
        handle.cancel()


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@runtime_checkable
class PollLog(Protocol):
    """Told what the poller decided where the bus traffic alone cannot say it: a recording tap
    (:class:`gateway.capture.recorder.RecordingTap`) keeps it in the capture, so a replay drops the same reading."""

    def poll_abandoned(self, sensor_id: str, poll: int, phase: str, ran: bool) -> None:
        """Poll number ``poll`` (from 0) of ``sensor_id`` failed because the bus worker abandoned its ``phase``
        call (``close``, ``open`` or ``read``) past ``read_timeout_s``; ``ran``: that call had started and may
        still complete its bus exchange on the abandoned thread."""
        ...


@runtime_checkable
class PollVerdicts(Protocol):
    """What the recording poller decided, for a replay (:class:`gateway.capture.replayer.ReplayTap`)."""

    def abandoned(self, sensor_id: str, poll: int) -> tuple[str, bool] | None:
        """``(phase, ran)`` when the recording poller abandoned poll ``poll`` of ``sensor_id`` (see
        :meth:`PollLog.poll_abandoned`), else None."""
        ...


class SensorRunner:
    """Polls one sensor forever (until cancelled), reporting health to the hub.

    Args:
        sensor: the driver.
        worker: its bus worker.
        hub: where readings go.
        policy: retry/backoff policy.
        read_timeout_s: timeout of one open/read call.
        rand: source of jitter (injected for tests).
        catalogue: where the sensor's state and (for a deferred driver) its entry go.
        metrics: where poll errors are counted.
        poll_log: told of each poll whose bus call was abandoned (recording).
        verdicts: which polls the recording abandoned (replay): those fail the same way.
    """

    def __init__(
        self,
        sensor: Sensor,
        worker: BusWorker,
        hub: Hub,
        policy: HealthPolicy,
        read_timeout_s: float,
        rand: Callable[[], float] = random.random,
        *,
        catalogue: Catalogue,
        metrics: Metrics,
        poll_log: PollLog | None = None,
        verdicts: PollVerdicts | None = None,
    ) -> None:
        self.sensor = sensor
        self.worker = worker
        self.catalogue = catalogue
        self.metrics = metrics
        self.policy = policy
        self.read_timeout_s = read_timeout_s
        self.cycle = PollCycle(policy)
        """Health, open state and poll count, as the poll step (:mod:`gateway.pollstep`) keeps them."""
        self.health = self.cycle.health
        self._rand = rand
        self._poll_log = poll_log
        self._verdicts = verdicts
        self.implausible_total = 0
        self._publish = hub.publisher(sensor.info.id)
        for name in ("sensorcast_sensor_errors_total", "sensorcast_implausible_total"):
            metrics.inc(name, 0, sensor=sensor.info.id)  # a 0 from the start, for dashboards and alerts
        self._inline = self.inline = sensor.never_blocks
        """True: the driver is called on the loop (it never blocks), without a thread handoff."""

    async def _call(self, fn: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """``fn(*args)`` on the bus worker, or at once on the loop for a driver that never blocks."""
        if self._inline:
            return fn(*args)
        return await self.worker.call(fn, *args, timeout_s=timeout_s)

    @property
    def polls(self) -> int:
        """Polls started so far (the number of the next one)."""
        return self.cycle.polls

    @property
    def id(self) -> str:
        """The sensor id."""
        return self.sensor.info.id

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give the driver its thread-safe push callback (edges, streaming frames)."""

        def emit(values: Values, ts_ns: int | None = None) -> None:
            loop.call_soon_threadsafe(self._publish_pushed, dict(values), ts_ns)

        self.sensor.attach(emit)

    def _publish_pushed(self, values: Mapping[str, Any], ts_ns: int | None) -> None:
        if values:
            self._publish(values, ts_ns)

    def _report(self, change: str | None) -> None:
        if change is not None:
            self.catalogue.set_state(self.id, change, self.health.last_error if change != "ok" else None)
            level = logging.INFO if change in ("ok", "recovering") else logging.WARNING
            log.log(
                level,
                "sensor %s: %s%s",
                self.id,
                change,
                f" ({self.health.last_error})" if change not in ("ok", "recovering") else "",
            )

    async def call_bus(self, fn: Callable[..., T], *args: Any) -> T:
        """The poll step's port (:class:`gateway.pollstep.PollPort`): ``fn(*args)`` within the read timeout."""
        return await self._call(fn, *args, timeout_s=self.read_timeout_s)

    async def read_bus(self, sensor: Sensor, retries: int) -> tuple[Values, int | None]:
        """The poll step's port: a read on the bus worker, stamped when it returned (not when its batch came
        back)."""
        return await self.worker.call_timed(read_with_retry, sensor, retries, timeout_s=self.read_timeout_s)

    def on_opened(self) -> None:
        """The poll step's port: a deferred driver has its catalogue entry once it was built at last."""
        if self.catalogue.sensor(self.id) is not self.sensor.info:
            self.catalogue.update_info(self.sensor.info)

    def replay_cause(self, exc: BaseException) -> BaseException | None:
        """The poll step's port: a served replay drops whatever a replayed abandoned call raised."""
        return None

    async def poll_once(self) -> Values | None:
        """One poll (:func:`gateway.pollstep.poll_step`): (re)open when needed, read with retries, publish,
        update health. Returns the values."""
        now = time.monotonic()
        cycle = self.cycle
        poll = cycle.next_poll()
        verdict = None if self._verdicts is None else self._verdicts.abandoned(self.id, poll)
        try:
            values = await poll_step(cycle, self.sensor, verdict, self)
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # this runner is being stopped
            # A bus call was cancelled under this poll (not the runner itself): a failed poll; polling goes on.
            log.warning("sensor %s: a bus call was cancelled", self.id)
            self.metrics.inc("sensorcast_sensor_errors_total", sensor=self.id)
            self._report(self.health.on_failure(now, describe_error(exc)))
            return None
        except Exception as exc:
            if isinstance(exc, CallAbandoned) and self._poll_log is not None:
                self._poll_log.poll_abandoned(self.id, poll, cycle.phase, exc.ran)
            if isinstance(exc, ImplausibleReading):
                self.implausible_total += 1
                self.metrics.inc("sensorcast_implausible_total", sensor=self.id)
            elif not isinstance(exc, OSError):
                log.exception("sensor %s: driver raised an unexpected error", self.id)
            self.metrics.inc("sensorcast_sensor_errors_total", sensor=self.id)
            self._report(self.health.on_failure(now, describe_error(exc)))
            return None
        self._report(self.health.on_success(now))
        if values:
            self._publish(values, cycle.ts_ns)
        return values

    async def run(self) -> None:
        """Poll until cancelled: on a fixed grid of ``interval_s`` while healthy (a 20 ms sensor really polls at
        50 Hz, whatever each read costs), with jittered backoff while failing. The grid is shared by every sensor
        (:mod:`gateway.pollgrid`): the sensors of one bus due at the same tick cross to its thread together."""
        loop = asyncio.get_running_loop()
        # Every sensor, on a bus or on the loop, shares the grid: readings due together then fall in one loop
        # iteration, so an idle link sends them in one frame at once. With each sensor on its own phase (us
        # apart), a wake-up between two of them split the burst and its tail waited a whole flush window
        # (measured: p99 ~20 ms instead of 1.6-2.6 ms at 100 r/s over 10 sensors).
        due_ns = first_due_ns(to_ns(loop.time()), to_ns(self.sensor.info.interval_s))
        try:
            while True:
                await self.poll_once()
                interval = self.sensor.info.interval_s
                now = loop.time()
                now_ns = to_ns(now)
                if self.health.consecutive_failures or interval <= 0:
                    due_ns = now_ns + to_ns(self.health.next_delay_s(interval, self._rand()))
                else:
                    due_ns = next_due_ns(due_ns, now_ns, to_ns(interval))
                await _sleep_until(loop, due_ns / NS_PER_S)
        finally:
            self.health.stop(time.monotonic())

    async def close(self) -> None:
        """Close the driver on its bus thread (bounded in time)."""
        try:
            await self._call(self.sensor.close, timeout_s=min(1.0, self.read_timeout_s))
        except Exception:
            log.warning("sensor %s: close failed", self.id)
