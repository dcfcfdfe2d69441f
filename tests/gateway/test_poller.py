"""Unit tests of gateway.poller: describe_error, and SensorRunner polling/health (BusWorker: test_buses.py)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from gateway.buses import BusWorker
from gateway.catalogue import Catalogue
from gateway.hub import Hub
from gateway.metrics import Metrics
from gateway.poller import PollLog, PollVerdicts, SensorRunner, describe_error
from sensors.base import FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import ChecksumError, ImplausibleReading, SensorError, SensorTimeout
from sensors.health import HealthPolicy
from sensors.registry import sensor_factory
from sensors.sim.emulators import context_with_emulators
from sensors.spec import DeviceSpec
from tests.conftest import scaled
from tests.virtual_clock import VirtualClockLoop, run_virtual

WAIT = scaled(10.0)
"""Generous bound for event-based waits (never a timing assert)."""

NACK = "no acknowledge from device (EREMOTEIO)"
SEQ, PREV, TS, SENSOR, VALUES = range(5)
"""Positions in a reading (the wire array ``[seq, prev, ts_ns, sensor, values, flags]``)."""


# -- test doubles of a *sensor* (the poller is real) ---------------------------------------------------------


class ScriptedSensor(Sensor):
    """A sensor whose reads follow ``behaviour(n)`` (n = 0, 1, ...): return values or raise."""

    bus_id = "test-bus"

    def __init__(
        self,
        behaviour: Callable[[int], Values] | None = None,
        sensor_id: str = "s1",
        interval_s: float = 1.0,
    ) -> None:
        super().__init__(SensorInfo(sensor_id, "test", (FieldSpec("x"),), interval_s))
        self.behaviour = behaviour or (lambda n: {"x": float(n)})
        self.fail: BaseException | None = None
        """When set, every read raises it (an error switch the test flips)."""
        self.open_error: BaseException | None = None
        self.reads = 0
        self.opens = 0
        self.closes = 0
        self.threads: set[int] = set()
        """Idents of the threads reads ran on."""
        self.thread_names: set[str] = set()
        self.emit: Any = None

    def open(self) -> None:
        self.opens += 1
        if self.open_error is not None:
            raise self.open_error

    def read(self) -> Values:
        n = self.reads
        self.reads += 1
        self.threads.add(threading.get_ident())
        self.thread_names.add(threading.current_thread().name)
        if self.fail is not None:
            raise self.fail
        return self.behaviour(n)

    def close(self) -> None:
        self.closes += 1

    def attach(self, emit: Any) -> None:
        self.emit = emit


FAST = HealthPolicy(retries=1, offline_after=3, backoff_initial_s=0.01, backoff_max_s=0.05, jitter=0.1)


def make_runner(
    sensor: Sensor,
    policy: HealthPolicy = FAST,
    read_timeout_s: float = 5.0,
    poll_log: PollLog | None = None,
    verdicts: PollVerdicts | None = None,
    **hub_kw: Any,
) -> tuple[SensorRunner, Hub, list[Any], list[tuple[str, str, str | None]]]:
    metrics = hub_kw.pop("metrics", None) or Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("gw", "boot", flush_interval_ms=0, metrics=metrics, catalogue=catalogue, **hub_kw)
    catalogue.register_sensor(sensor.info)
    published: list[Any] = []
    states: list[tuple[str, str, str | None]] = []
    hub.add_sink(published.extend)
    catalogue.add_status_sink(lambda sid, state, err: states.append((sid, state, err)))
    runner = SensorRunner(
        sensor,
        BusWorker(sensor.bus_id),
        hub,
        policy,
        read_timeout_s,
        rand=lambda: 0.5,
        catalogue=catalogue,
        metrics=hub.metrics,
        poll_log=poll_log,
        verdicts=verdicts,
    )
    return runner, hub, published, states


# -- describe_error -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (ImplausibleReading("skipped pattern 0x80000"), "implausible value"),
        (ImplausibleReading(errno.EIO, "with errno"), "implausible value"),
        (SensorTimeout(errno.ETIMEDOUT, "slow"), "timeout"),
        (TimeoutError(), "timeout"),
        (OSError(errno.ETIMEDOUT, "os timeout"), "timeout"),
        (SensorError(errno.EREMOTEIO, "nack"), NACK),
        (OSError(errno.EREMOTEIO, "Remote I/O error"), NACK),
        (OSError(errno.EIO, "Input/output error"), "I/O error (EIO)"),
        (OSError(errno.ENODEV, "No such device"), "I/O error (ENODEV)"),
        (OSError(99999, "odd"), "I/O error (99999)"),
        (ChecksumError("bad crc"), "I/O error"),
        (OSError("device not available"), "I/O error"),
        (asyncio.CancelledError(), "bus call cancelled"),
        (ValueError("bug"), "driver error"),
        (KeyError("secret"), "driver error"),
        (RuntimeError("/etc/secret"), "driver error"),
    ],
)
def test_describe_error(exc: BaseException, text: str) -> None:
    assert describe_error(exc) == text


def test_describe_error_never_carries_the_exception_text() -> None:
    exc = OSError(errno.ENOENT, "No such file or directory", "/home/pi/.secret/token")
    text = describe_error(exc)
    assert text == "I/O error (ENOENT)"
    assert "secret" not in text and "/home" not in text


# -- SensorRunner.poll_once (real loop, real hub, real worker thread) ---------------------------------------


async def test_first_poll_opens_reads_publishes_and_reports_ok(shutdown: Any) -> None:
    sensor = ScriptedSensor()
    runner, _hub, published, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    assert runner.id == "s1"
    assert await runner.poll_once() == {"x": 0.0}
    assert (sensor.opens, sensor.closes, sensor.reads) == (1, 0, 1)
    assert [(r[SENSOR], dict(r[VALUES])) for r in published] == [("s1", {"x": 0.0})]
    assert states == [("s1", "ok", None)]
    assert runner.catalogue.state("s1")[0] == "ok"
    assert await runner.poll_once() == {"x": 1.0}
    assert sensor.opens == 1, "an open sensor is not re-opened while healthy"
    assert states == [("s1", "ok", None)], "no state report without a change"
    assert [r[SEQ] for r in published] == [1, 2] and published[1][PREV] == 1
    assert all(t.startswith("bus-test-bus") for t in sensor.thread_names)


async def test_empty_values_are_not_published(shutdown: Any) -> None:
    sensor = ScriptedSensor(lambda n: {})
    runner, hub, published, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    assert await runner.poll_once() == {}
    assert published == [] and hub.seq == 0
    assert states == [("s1", "ok", None)], "a streaming source with no frame is not failing"


async def test_health_transitions_ok_failing_offline_recovering_ok(shutdown: Any) -> None:
    sensor = ScriptedSensor()
    runner, hub, published, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    await runner.poll_once()
    sensor.fail = SensorError(errno.EREMOTEIO, "nack at 0x76")
    for _ in range(4):
        assert await runner.poll_once() is None
    assert sensor.reads == 1 + 4 * (FAST.retries + 1), "each failed poll retries at once"
    sensor.fail = None
    await runner.poll_once()
    await runner.poll_once()
    assert states == [
        ("s1", "ok", None),
        ("s1", "failing", NACK),
        ("s1", "offline", NACK),
        ("s1", "recovering", NACK),
        ("s1", "ok", None),
    ]
    assert runner.catalogue.state("s1")[0] == "ok" and runner.catalogue.state("s1")[1] is None
    assert hub.metrics.get("sensorcast_sensor_errors_total", sensor="s1") == 4
    assert hub.metrics.get("sensorcast_sensor_up", sensor="s1") == 1.0
    assert runner.health.errors_total == 4
    assert len(published) == 3
    assert runner.implausible_total == 0


async def test_failed_device_is_closed_and_reopened_before_each_retry(shutdown: Any) -> None:
    sensor = ScriptedSensor()
    runner, *_ = make_runner(sensor)
    shutdown[0].append(runner.worker)
    await runner.poll_once()
    sensor.fail = OSError(errno.EIO, "io")
    await runner.poll_once()
    assert (sensor.opens, sensor.closes) == (1, 0)
    await runner.poll_once()
    await runner.poll_once()
    assert (sensor.opens, sensor.closes) == (3, 2), "re-initialised while failing"
    sensor.fail = None
    await runner.poll_once()  # recovering: one more re-init, then reads
    await runner.poll_once()
    await runner.poll_once()
    assert (sensor.opens, sensor.closes) == (4, 3)


async def test_open_failure_is_a_failed_poll_and_open_is_retried(shutdown: Any) -> None:
    sensor = ScriptedSensor()
    sensor.open_error = SensorError(errno.ENODEV, "no chip")
    runner, _, _, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    assert await runner.poll_once() is None
    assert states == [("s1", "failing", "I/O error (ENODEV)")]
    assert sensor.reads == 0
    await runner.poll_once()
    assert (sensor.opens, sensor.closes) == (2, 0), "never opened: nothing to close"
    sensor.open_error = None
    assert await runner.poll_once() == {"x": 0.0}
    assert states[-1] == ("s1", "recovering", "I/O error (ENODEV)")


async def test_implausible_reading_is_counted_and_not_published(shutdown: Any) -> None:
    sensor = ScriptedSensor()
    runner, hub, published, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    sensor.fail = ImplausibleReading("0x80000 pattern")
    assert await runner.poll_once() is None
    assert runner.implausible_total == 1
    assert hub.metrics.get("sensorcast_implausible_total", sensor="s1") == 1
    assert hub.metrics.get("sensorcast_sensor_errors_total", sensor="s1") == 1
    assert states == [("s1", "failing", "implausible value")]
    assert published == []


async def test_unexpected_driver_exception_is_logged_and_survived(
    shutdown: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sensor = ScriptedSensor()
    runner, _hub, _, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    sensor.fail = ZeroDivisionError("driver bug")
    with caplog.at_level(logging.WARNING, logger="gateway.poller"):
        assert await runner.poll_once() is None
    assert states == [("s1", "failing", "driver error")]
    assert sensor.reads == 1, "a non-I/O error is not retried"
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
    assert "driver bug" not in (runner.catalogue.state("s1")[1] or "")
    sensor.fail = None
    assert await runner.poll_once() == {"x": 1.0}


async def test_read_timeout_is_a_failed_poll_and_reads_resume_on_a_fresh_thread(shutdown: Any) -> None:
    gate = threading.Event()
    shutdown[1].append(gate)
    sensor = ScriptedSensor(lambda n: {"x": float(n)} if n or gate.wait() else {})
    runner, _, _, states = make_runner(sensor, read_timeout_s=0.1)
    shutdown[0].append(runner.worker)
    assert await runner.poll_once() is None
    assert states == [("s1", "failing", "timeout")]
    assert runner.worker.abandoned_threads == 1
    assert await runner.poll_once() == {"x": 1.0}  # the first read is still blocked; a new thread serves this
    assert states[-1] == ("s1", "recovering", "timeout")
    assert len(sensor.threads) == 2


class Verdicts:
    """A :class:`PollLog` that keeps what it is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, int, str, bool]] = []

    def poll_abandoned(self, sensor_id: str, poll: int, phase: str, ran: bool) -> None:
        self.told.append((sensor_id, poll, phase, ran))


async def test_the_poll_log_is_told_which_poll_and_call_the_worker_abandoned_and_nothing_else(
    shutdown: Any,
) -> None:
    """Polls whose open or read the bus worker abandons past read_timeout_s are reported to the poll log by
    number and phase; failures the driver raised itself (a NACK, its own timeout) are not."""
    gate = threading.Event()
    shutdown[1].append(gate)
    script: dict[int, Callable[[], Values]] = {
        0: lambda: {"x": 0.0},
        1: lambda: {"x": 1.0} if gate.wait() else {},  # stuck past the timeout: abandoned
        **dict.fromkeys((2, 3), lambda: (_ for _ in ()).throw(SensorError(errno.EREMOTEIO, "nack"))),
        **dict.fromkeys((4, 5), lambda: (_ for _ in ()).throw(SensorTimeout(errno.ETIMEDOUT, "its own"))),
    }  # read attempts (one retry per poll): polls 2 and 3 fail in the driver
    sensor = ScriptedSensor(lambda n: script.get(n, lambda: {"x": float(n)})())
    log = Verdicts()
    assert isinstance(log, PollLog)
    runner, _, _, _ = make_runner(sensor, read_timeout_s=0.1, poll_log=log)
    shutdown[0].append(runner.worker)
    results = [await runner.poll_once() for _ in range(4)]
    slow_open = threading.Event()
    shutdown[1].append(slow_open)

    def stuck_open() -> None:
        slow_open.wait()

    sensor.open = stuck_open  # type: ignore[method-assign]
    results.append(await runner.poll_once())  # poll 4 re-opens the failing sensor: its open is stuck
    assert results == [{"x": 0.0}, None, None, None, None]
    assert log.told == [("s1", 1, "read", True), ("s1", 4, "open", True)]
    assert runner.polls == 5


class Recorded:
    """The :class:`PollVerdicts` of a capture: which polls the recording abandoned."""

    def __init__(self, verdicts: dict[int, tuple[str, bool]]) -> None:
        self.verdicts = verdicts

    def abandoned(self, sensor_id: str, poll: int) -> tuple[str, bool] | None:
        return self.verdicts.get(poll) if sensor_id == "s1" else None


async def test_a_replayed_poll_the_recording_abandoned_fails_with_the_timeout_after_making_its_call(
    shutdown: Any,
) -> None:
    """Serving a replay, a poll whose read the recording abandoned after it started still makes that read (its
    late exchange is in the capture) but publishes nothing and fails with a timeout; an abandoned open that never
    started is not made at all."""
    verdicts = Recorded({1: ("read", True), 2: ("open", False)})
    assert isinstance(verdicts, PollVerdicts)
    sensor = ScriptedSensor()
    runner, _, published, states = make_runner(sensor, verdicts=verdicts)
    shutdown[0].append(runner.worker)
    results = [await runner.poll_once() for _ in range(4)]
    assert results == [{"x": 0.0}, None, None, {"x": 2.0}]
    assert [r[VALUES] for r in published] == [{"x": 0.0}, {"x": 2.0}]
    assert (sensor.reads, sensor.opens) == (3, 2)
    assert states == [("s1", "ok", None), ("s1", "failing", "timeout"), ("s1", "recovering", "timeout")]
    assert runner.worker.abandoned_threads == 0


async def test_a_bus_call_cancelled_under_a_poll_is_a_failed_poll_not_the_end_of_polling(
    shutdown: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A CancelledError that is not a cancellation of the runner's own task (a cancelled bus call) fails this
    poll like a sensor error; it used to end the sensor's polling for good."""
    sensor = ScriptedSensor()
    runner, hub, _, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    sensor.fail = asyncio.CancelledError()
    with caplog.at_level(logging.WARNING, logger="gateway.poller"):
        assert await runner.poll_once() is None
    assert states == [("s1", "failing", "bus call cancelled")]
    assert hub.metrics.get("sensorcast_sensor_errors_total", sensor="s1") == 1
    assert any("cancelled" in r.getMessage() for r in caplog.records)
    sensor.fail = None
    assert await runner.poll_once() == {"x": 1.0}
    assert states[-1] == ("s1", "recovering", "bus call cancelled")


@pytest.mark.parametrize("where", ["waiting for the bus", "running on the bus"])
async def test_cancelling_the_runner_task_still_stops_it(shutdown: Any, where: str) -> None:
    gate = threading.Event()
    started = threading.Event()
    shutdown[1].append(gate)

    def hold() -> None:
        started.set()
        gate.wait()

    sensor = ScriptedSensor(lambda n: {"x": float(n)} if hold() is None else {})
    runner, _, published, _ = make_runner(sensor, read_timeout_s=WAIT)
    shutdown[0].append(runner.worker)
    loop = asyncio.get_running_loop()
    other = None
    if where == "waiting for the bus":
        other = loop.create_task(runner.worker.call(hold, timeout_s=WAIT))
    task = loop.create_task(runner.run())
    assert await asyncio.to_thread(started.wait, WAIT)
    for _ in range(3):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT)
    assert task.cancelled()
    assert runner.health.state == "stopped"
    gate.set()
    if other is not None:
        await asyncio.wait_for(other, WAIT)
        assert sensor.opens == 0, "the cancelled poll never reached the bus"
    assert published == []
    assert await runner.worker.call(lambda: "free", timeout_s=WAIT) == "free"


async def test_a_deferred_driver_updates_the_catalogue_when_opened(shutdown: Any) -> None:
    sensor = ScriptedSensor()
    runner, _hub, *_ = make_runner(sensor)
    shutdown[0].append(runner.worker)
    placeholder = SensorInfo("s1", "test", (), 1.0, description="hardware not available at start")
    runner.catalogue.update_info(placeholder)
    await runner.poll_once()
    assert runner.catalogue.sensor("s1") is sensor.info


async def test_real_emulated_chip_unplugged_and_plugged_back(shutdown: Any) -> None:
    """A BME280 on the emulated bus: NACKs while unplugged, power-cycled chip re-initialised when back."""
    ctx = context_with_emulators(simulate=True)
    factory = sensor_factory("bme280")
    assert factory is not None
    sensor = factory(DeviceSpec("env", "bme280", "sensors[0]", 0.05, True, {"address": 0x76}), ctx)
    runner, _hub, published, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    try:
        values = await runner.poll_once()
        assert values is not None and {"temperature_c", "pressure_pa", "humidity_pct"} <= set(values)
        bus = ctx.resources["sim-i2c-1"]
        bus.disappear(0x76)
        for _ in range(3):
            assert await runner.poll_once() is None
        assert [s for _, s, _ in states] == ["ok", "failing", "offline"]
        assert runner.catalogue.state("env")[1] == NACK
        bus.reappear(0x76)
        assert await runner.poll_once() is not None
        assert await runner.poll_once() is not None
        assert [s for _, s, _ in states] == ["ok", "failing", "offline", "recovering", "ok"]
        assert len(published) == 3
    finally:
        await runner.close()
        ctx.close()


async def test_pushed_values_from_another_thread_are_published_with_their_timestamp(shutdown: Any) -> None:
    sensor = ScriptedSensor()
    runner, hub, published, _ = make_runner(sensor)
    shutdown[0].append(runner.worker)
    got = asyncio.Event()
    hub.add_sink(lambda batch: got.set())
    runner.attach(asyncio.get_running_loop())
    values = {"x": 1.5}

    def push() -> None:
        sensor.emit({}, None)  # nothing to publish
        sensor.emit(values, 123_456_789)

    thread = threading.Thread(target=push)
    thread.start()
    thread.join()
    values["x"] = 99.0  # the runner copied the mapping when it was emitted
    await asyncio.wait_for(got.wait(), WAIT)
    assert [(r[SENSOR], dict(r[VALUES]), r[TS]) for r in published] == [("s1", {"x": 1.5}, 123_456_789)]


async def test_close_closes_the_driver_on_its_bus_thread_and_swallows_errors(
    shutdown: Any, caplog: pytest.LogCaptureFixture
) -> None:
    closed_on: list[str] = []

    class Closing(ScriptedSensor):
        def close(self) -> None:
            closed_on.append(threading.current_thread().name)
            raise OSError(errno.EIO, "close failed")

    sensor = Closing()
    runner, *_ = make_runner(sensor)
    shutdown[0].append(runner.worker)
    with caplog.at_level(logging.WARNING, logger="gateway.poller"):
        await runner.close()
    assert len(closed_on) == 1 and closed_on[0].startswith("bus-test-bus")
    assert any("close failed" in r.getMessage() for r in caplog.records)


# -- SensorRunner.run on a virtual clock --------------------------------------------------------------------


class TimedSensor(ScriptedSensor):
    """Records the loop time at each read; each read costs ``cost(n)`` virtual seconds; fails while
    ``failing(n)``; signals ``done`` after ``polls`` reads."""

    def __init__(
        self,
        loop: VirtualClockLoop,
        interval_s: float,
        polls: int,
        cost: Callable[[int], float] = lambda n: 0.0,
        failing: Callable[[int], bool] = lambda n: False,
    ) -> None:
        super().__init__(interval_s=interval_s)
        self.loop = loop
        self.polls = polls
        self.cost = cost
        self.failing = failing
        self.starts: list[float] = []
        self.done = asyncio.Event()

    def read(self) -> Values:
        n = len(self.starts)
        self.starts.append(self.loop.time())
        self.loop.advance(self.cost(n))
        if len(self.starts) == self.polls:
            self.loop.call_soon_threadsafe(self.done.set)
        if self.failing(n):
            raise SensorError(errno.EREMOTEIO, "nack")
        return {"x": float(n)}


async def run_until_done(
    sensor: TimedSensor, policy: HealthPolicy, rand: float = 0.5, budget_s: float = 1e5
) -> SensorRunner:
    hub = Hub("gw", "boot", flush_interval_ms=0)
    catalogue = Catalogue(hub.metrics)
    catalogue.register_sensor(sensor.info)
    worker = BusWorker("virtual")
    runner = SensorRunner(
        sensor,
        worker,
        hub,
        policy,
        read_timeout_s=1e6,
        rand=lambda: rand,
        catalogue=catalogue,
        metrics=hub.metrics,
    )
    task = asyncio.get_running_loop().create_task(runner.run())
    try:
        async with asyncio.timeout(budget_s):  # virtual seconds: fails fast instead of hanging
            await sensor.done.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        worker.shutdown()
    return runner


def relative(starts: list[float], n: int) -> list[float]:
    return [round(t - starts[0], 9) for t in starts[:n]]


def test_healthy_sensor_polls_on_a_fixed_grid_whatever_each_read_costs() -> None:
    async def main(loop: VirtualClockLoop) -> list[float]:
        sensor = TimedSensor(loop, 1.0, polls=6, cost=lambda n: 0.4 if n % 2 else 0.9)
        runner = await run_until_done(sensor, FAST)
        assert runner.health.state == "stopped"
        return relative(sensor.starts, 6)

    assert run_virtual(main) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_read_longer_than_the_interval_skips_instead_of_bursting() -> None:
    """A read that overran two grid points is followed by one poll at once (no burst for the points missed),
    and the poll after that is back on the shared grid (whole seconds here)."""

    async def main(loop: VirtualClockLoop) -> list[float]:
        sensor = TimedSensor(loop, 1.0, polls=5, cost=lambda n: 2.5 if n == 0 else 0.0)
        await run_until_done(sensor, FAST)
        return relative(sensor.starts, 5)

    assert run_virtual(main) == [0.0, 2.5, 3.0, 4.0, 5.0]


def test_streaming_sensor_with_interval_zero_is_polled_back_to_back() -> None:
    async def main(loop: VirtualClockLoop) -> list[float]:
        sensor = TimedSensor(loop, 0.0, polls=4, cost=lambda n: 0.3)
        await run_until_done(sensor, FAST)
        return relative(sensor.starts, 4)

    assert run_virtual(main) == [0.0, 0.3, 0.6, 0.9]


@pytest.mark.parametrize(
    ("rand", "expected"),
    [
        (0.5, [0.0, 1.0, 3.0, 7.0, 11.0, 11.1, 11.2]),  # no jitter: 1, 2, 4, 4 (capped), then the grid
        (0.0, [0.0, 0.5, 1.5, 3.5, 5.5, 5.6, 5.7]),  # -50 % jitter
        (1.0, [0.0, 1.5, 4.5, 10.5, 16.5, 16.6, 16.7]),  # +50 % jitter
    ],
)
def test_failing_sensor_backs_off_with_jitter_then_returns_to_its_grid(
    rand: float, expected: list[float]
) -> None:
    policy = HealthPolicy(retries=0, offline_after=3, backoff_initial_s=1.0, backoff_max_s=4.0, jitter=0.5)

    async def main(loop: VirtualClockLoop) -> tuple[list[float], SensorRunner]:
        sensor = TimedSensor(loop, 0.1, polls=7, failing=lambda n: n < 4)
        runner = await run_until_done(sensor, policy, rand)
        return relative(sensor.starts, 7), runner

    starts, runner = run_virtual(main)
    assert starts == pytest.approx(expected)
    assert runner.health.errors_total == 4


class StuckSensor(ScriptedSensor):
    """Every read blocks until ``gate`` is set, parked on the virtual clock (so the read timeout can expire)."""

    bus_id = "virtual"

    def __init__(self, loop: VirtualClockLoop, gate: threading.Event) -> None:
        super().__init__(sensor_id="stuck", interval_s=1.0)
        self.loop = loop
        self.gate = gate
        self.stuck_reads = 0

    def read(self) -> Values:
        if not self.gate.is_set():
            self.stuck_reads += 1
            self.loop.park()
            self.gate.wait()
        return super().read()


def test_a_stuck_sensor_does_not_stop_the_other_sensors_on_its_bus() -> None:
    """Regression: two sensors share one bus worker; one read hangs. The other keeps polling (delayed at most
    by one read timeout), never fails, and both are healthy once the bus answers again."""
    gate = threading.Event()

    async def main(loop: VirtualClockLoop) -> dict[str, Any]:
        metrics = Metrics()
        catalogue = Catalogue(metrics)
        hub = Hub("gw", "boot", flush_interval_ms=0, metrics=metrics, catalogue=catalogue)
        worker = BusWorker("virtual")
        stuck = StuckSensor(loop, gate)
        good = TimedSensor(loop, 1.0, polls=12)
        states: list[tuple[str, str]] = []
        stuck_ok = asyncio.Event()

        def on_state(sid: str, state: str, error: str | None) -> None:
            states.append((sid, state))
            if sid == "stuck" and state == "ok":
                stuck_ok.set()

        catalogue.add_status_sink(on_state)
        runners = []
        for sensor in (stuck, good):
            catalogue.register_sensor(sensor.info)
            runners.append(
                SensorRunner(
                    sensor,
                    worker,
                    hub,
                    FAST,
                    read_timeout_s=0.5,
                    rand=lambda: 0.5,
                    catalogue=catalogue,
                    metrics=metrics,
                )
            )
        tasks = [loop.create_task(r.run()) for r in runners]
        done = loop.create_task(good.done.wait())
        try:
            # Stop early if a runner ends (the bug: the good sensor's task ended "stopped").
            await asyncio.wait([done, *tasks], timeout=1e4, return_when=asyncio.FIRST_COMPLETED)
            out: dict[str, Any] = {
                "alive": [not t.done() for t in tasks],
                "good": (runners[1].health.state, runners[1].health.errors_total),
                "stuck": (runners[0].health.state, runners[0].health.last_error),
                "stuck_reads": stuck.stuck_reads,
                "abandoned": worker.abandoned_threads,
                "starts": list(good.starts),
            }
            if not done.done():
                return out
            gate.set()  # the bus answers again: the stuck reads return late (discarded), the sensor recovers
            async with asyncio.timeout(1e4):
                await stuck_ok.wait()
            out["states"] = states
            out["alive_after"] = [not t.done() for t in tasks]
            return out
        finally:
            for t in (done, *tasks):
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            worker.shutdown()

    try:
        out = run_virtual(main)
    finally:
        gate.set()
    assert out["alive"] == [True, True]
    assert out["good"] == ("ok", 0), "waiting behind a stuck call is not a failure of the waiting sensor"
    assert out["stuck"] == ("offline", "timeout")
    assert out["stuck_reads"] >= 5 and out["abandoned"] >= out["stuck_reads"] - 1
    # The first poll waited behind the first stuck read until its timeout (0.5 s); every later one that met a
    # stuck read ran on the fresh thread the moment that read was abandoned, so the grid is kept.
    assert [round(t - 1000.0, 9) for t in out["starts"]] == [0.5] + [float(i) for i in range(1, 12)]
    assert out["alive_after"] == [True, True]
    assert [s for sid, s in out["states"] if sid == "s1"] == ["ok"]
    assert [s for sid, s in out["states"] if sid == "stuck"] == ["failing", "offline", "recovering", "ok"]


class CancelledBusCall(TimedSensor):
    """Its first ``n`` reads end like a bus call cancelled under the poll."""

    def __init__(self, loop: VirtualClockLoop, n: int, polls: int) -> None:
        super().__init__(loop, 1.0, polls)
        self.n = n

    def read(self) -> Values:
        values = super().read()
        if len(self.starts) <= self.n:
            raise asyncio.CancelledError
        return values


def test_polling_goes_on_after_cancelled_bus_calls() -> None:
    async def main(loop: VirtualClockLoop) -> tuple[list[float], SensorRunner]:
        sensor = CancelledBusCall(loop, n=2, polls=5)
        runner = await run_until_done(sensor, FAST)
        return relative(sensor.starts, 5), runner

    starts, runner = run_virtual(main)
    assert runner.health.errors_total == 2
    assert starts == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])  # backoff never shorter than the interval


def test_a_sensor_failing_for_more_than_1024_polls_stays_at_the_capped_backoff() -> None:
    """Regression: the backoff overflowed after ~1025 consecutive failures (about 17 h unplugged with the
    default 60 s cap) and the exception ended the sensor's polling (and the gateway)."""
    fails = 1030
    policy = HealthPolicy(retries=0, offline_after=3, backoff_initial_s=1.0, backoff_max_s=60.0, jitter=0.0)

    async def main(loop: VirtualClockLoop) -> tuple[list[float], SensorRunner]:
        sensor = TimedSensor(loop, 1.0, polls=fails + 2, failing=lambda n: n < fails)
        runner = await run_until_done(sensor, policy, budget_s=1e6)
        return sensor.starts, runner

    starts, runner = run_virtual(main)
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(starts)]
    assert gaps[:7] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    assert set(gaps[6:fails]) == {60.0}
    assert gaps[fails] == 1.0, "back on its grid once it answers"
    assert runner.health.errors_total == fails


# -- drivers that never block: read on the loop (issue 13) ---------------------------------------------------


class InlineSensor(ScriptedSensor):
    """A scripted sensor that declares it never blocks."""

    never_blocks = True


async def test_a_driver_that_never_blocks_is_opened_read_and_closed_on_the_loop_thread(shutdown: Any) -> None:
    """open/read/close of a never-blocking driver run on the event loop's thread, with health kept as usual."""
    sensor = InlineSensor(lambda n: {"x": float(n)} if n != 1 else {})
    runner, _hub, published, states = make_runner(sensor)
    shutdown[0].append(runner.worker)
    assert [await runner.poll_once() for _ in range(3)] == [{"x": 0.0}, {}, {"x": 2.0}]
    sensor.fail = SensorError(errno.EREMOTEIO, "nack")
    assert await runner.poll_once() is None
    sensor.fail = None
    assert await runner.poll_once() == {"x": 5.0}  # re-opened; the failed poll read twice (retries=1)
    await runner.close()
    assert [(r[SENSOR], dict(r[VALUES])) for r in published] == [("s1", {"x": 0.0}), ("s1", {"x": 2.0}),
                                                                  ("s1", {"x": 5.0})]  # fmt: skip
    assert states == [("s1", "ok", None), ("s1", "failing", NACK), ("s1", "recovering", NACK)]
    assert (sensor.opens, sensor.closes) == (2, 2)
    assert sensor.threads == {threading.get_ident()}, "no bus thread was used"


class InlineTimedSensor(TimedSensor):
    """A timed sensor that declares it never blocks."""

    never_blocks = True


def test_a_never_blocking_driver_keeps_the_fixed_poll_grid() -> None:
    """Read on the loop, a 1 s sensor still polls at 0, 1, 2, ... s whatever each read costs."""

    async def main(loop: VirtualClockLoop) -> list[float]:
        sensor = InlineTimedSensor(loop, 1.0, polls=6, cost=lambda n: 0.4 if n % 2 else 0.9)
        await run_until_done(sensor, FAST)
        return relative(sensor.starts, 6)

    assert run_virtual(main) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_failing_never_blocking_driver_backs_off_like_any_other() -> None:
    """Failures of an inline driver back off with jitter, then return to the grid (same schedule as a bus one)."""

    def schedule(cls: type[TimedSensor]) -> list[float]:
        async def main(loop: VirtualClockLoop) -> list[float]:
            sensor = cls(loop, 1.0, polls=10, failing=lambda n: 2 <= n < 8)
            await run_until_done(sensor, FAST)
            return relative(sensor.starts, 10)

        return run_virtual(main)

    assert schedule(InlineTimedSensor) == schedule(TimedSensor)


# -- one round trip per bus per tick (issue 13) --------------------------------------------------------------


def test_the_sensors_of_a_bus_due_at_one_tick_are_read_in_one_round_trip() -> None:
    """Three sensors on one bus (10 ms, 20 ms, and 20 ms started 3 ms later): every tick of the shared grid
    crosses to the bus thread once, reading every sensor due then; each sensor keeps its own grid."""

    async def main(loop: VirtualClockLoop) -> tuple[list[list[float]], int]:
        hub = Hub("gw", "boot", flush_interval_ms=0)
        catalogue = Catalogue(hub.metrics)
        worker = BusWorker("virtual")
        fast = TimedSensor(loop, 0.01, polls=21)
        slow = [TimedSensor(loop, 0.02, polls=1000) for _ in range(2)]
        tasks = []
        for i, sensor in enumerate((fast, *slow)):
            sensor.info = SensorInfo(f"s{i}", "test", (FieldSpec("x"),), sensor.info.interval_s)
            catalogue.register_sensor(sensor.info)
            runner = SensorRunner(sensor, worker, hub, FAST, 1e6, catalogue=catalogue, metrics=hub.metrics)
            if i == 2:
                await asyncio.sleep(0.003)
            tasks.append(loop.create_task(runner.run()))
        try:
            async with asyncio.timeout(10):
                await fast.done.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            worker.shutdown()
        return [[round(t - 1000.0, 9) for t in s.starts] for s in (fast, *slow)], worker.batches

    starts, batches = run_virtual(main)
    assert starts == [
        [round(0.01 * i, 9) for i in range(21)],
        [round(0.02 * i, 9) for i in range(11)],
        [0.003] + [round(0.02 * i, 9) for i in range(1, 11)],
    ]
    # Tick 0: the opens of two sensors, then their reads; 3 ms: the late one's open and read; then one per tick.
    assert batches == 2 + 2 + 20


async def test_a_bus_reading_is_stamped_when_its_read_returned_not_when_its_batch_came_back(
    shutdown: Any,
) -> None:
    """Two sensors of one bus read in one round trip: the first reading's time stamp is when its own read
    returned, before the second (slow) read ended, not when the batch came back to the loop."""
    ends: dict[str, int] = {}

    class Stamped(ScriptedSensor):
        def read(self) -> Values:
            if self.info.id == "slow":
                time.sleep(0.05)
            values = super().read()
            ends[self.info.id] = time.time_ns()
            return values

    metrics = Metrics()
    catalogue = Catalogue(metrics)
    hub = Hub("gw", "boot", flush_interval_ms=0, metrics=metrics, catalogue=catalogue)
    published: list[Any] = []
    hub.add_sink(published.extend)
    worker = BusWorker("test-bus")
    shutdown[0].append(worker)
    runners = []
    for sid in ("fast", "slow"):
        sensor = Stamped(sensor_id=sid)
        catalogue.register_sensor(sensor.info)
        runners.append(SensorRunner(sensor, worker, hub, FAST, WAIT, catalogue=catalogue, metrics=metrics))
    for r in runners:
        r.cycle.opened = True  # reads only: both polls cross in one batch
    await asyncio.gather(*(r.poll_once() for r in runners))
    assert worker.batches == 1
    stamps = {r[SENSOR]: r[TS] for r in published}
    assert sorted(stamps) == ["fast", "slow"]
    # Each stamp is taken on the bus thread right after its read returned (the recorded end, a few us before).
    lag_ns = {sid: stamps[sid] - ends[sid] for sid in stamps}
    assert all(0 <= lag < scaled(0.005) * 1e9 for lag in lag_ns.values()), lag_ns
    assert stamps["fast"] < ends["slow"] - 40_000_000, "not stamped when the batch came back"


def test_sensors_read_on_the_loop_share_the_grid_so_a_burst_is_one_loop_iteration() -> None:
    """Two never-blocking sensors started 0.3 ms apart poll at the very same times from their second poll on
    (one loop iteration, so an idle link sends their readings in one frame at once)."""

    async def main(loop: VirtualClockLoop) -> list[list[float]]:
        a = InlineTimedSensor(loop, 1.0, polls=4)
        task = loop.create_task(run_until_done(a, FAST))
        await asyncio.sleep(0.0003)
        b = InlineTimedSensor(loop, 1.0, polls=4)
        await run_until_done(b, FAST)
        await task
        return [[round(t - 1000.0, 9) for t in s.starts] for s in (a, b)]

    assert run_virtual(main) == [[0.0, 1.0, 2.0, 3.0], [0.0003, 1.0, 2.0, 3.0]]
