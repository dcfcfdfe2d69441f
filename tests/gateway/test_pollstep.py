"""Tests of gateway.pollstep: the one poll step the poller and the replay driver share, run without a loop."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from gateway.buses import CallAbandoned
from gateway.pollstep import PollCycle, poll_step, run_inline
from sensors.base import FieldSpec, Sensor, SensorInfo, Values
from sensors.health import HealthPolicy, read_with_retry

T = TypeVar("T")


class Scripted(Sensor):
    """A sensor whose reads fail while ``failing`` is set; every call is logged."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(SensorInfo("s", "scripted", (FieldSpec("v", "1"),), 1.0))
        self.log = log
        self.failing = False

    def open(self) -> None:
        self.log.append("open")

    def read(self) -> Values:
        self.log.append("read")
        if self.failing:
            raise OSError(errno.EIO, "scripted")
        return {"v": 1.0}

    def close(self) -> None:
        self.log.append("close")


class Direct:
    """A port whose calls return at once (as the replay driver's)."""

    inline = True

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def call_bus(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    async def read_bus(self, sensor: Sensor, retries: int) -> tuple[Values, int | None]:
        return read_with_retry(sensor, retries), 7

    def on_opened(self) -> None:
        self.log.append("opened")

    def replay_cause(self, exc: BaseException) -> BaseException | None:
        return None


class Suspending(Direct):
    """A port whose bus calls wait (as the poller's bus worker)."""

    async def call_bus(self, fn: Callable[..., T], *args: Any) -> T:
        await asyncio.sleep(0)
        return fn(*args)


def test_a_poll_opens_once_reads_and_reopens_while_the_health_state_asks_for_it() -> None:
    """Calls over polls: open+read, read, failing read (retries), close+open+read while failing, then read."""
    log: list[str] = []
    sensor, port = Scripted(log), Direct(log)
    cycle = PollCycle(HealthPolicy(retries=1))
    outcomes: list[Any] = []
    for poll, failing in enumerate([False, False, True, False, False]):
        sensor.failing = failing
        log.append(f"poll {cycle.next_poll()}")
        try:
            outcomes.append(run_inline(poll_step(cycle, sensor, None, port)))
            cycle.health.on_success(float(poll))
        except OSError:
            outcomes.append((cycle.phase, cycle.health.on_failure(float(poll), "I/O error")))
    assert log == [
        "poll 0", "open", "opened", "read",
        "poll 1", "read",
        "poll 2", "read", "read",
        "poll 3", "close", "open", "opened", "read",
        "poll 4", "read",
    ]  # fmt: skip
    assert outcomes == [{"v": 1.0}, {"v": 1.0}, ("read", "failing"), {"v": 1.0}, {"v": 1.0}]
    assert (cycle.polls, cycle.opened, cycle.ts_ns) == (5, True, None)


def test_a_port_that_does_not_read_inline_stamps_the_read() -> None:
    """A bus port's read goes through ``read_bus`` and its stamp is kept as the cycle's ``ts_ns``."""
    log: list[str] = []
    port = Direct(log)
    port.inline = False
    cycle = PollCycle(HealthPolicy())
    assert run_inline(poll_step(cycle, Scripted(log), None, port)) == {"v": 1.0}
    assert (log, cycle.ts_ns) == (["open", "opened", "read"], 7)


@pytest.mark.parametrize(
    ("phase", "ran", "calls"), [("open", True, ["open"]), ("read", False, ["open", "opened"])]
)
def test_an_abandoned_call_is_replayed_when_it_had_started_then_fails_as_recorded(
    phase: str, ran: bool, calls: list[str]
) -> None:
    """The recorded verdict's call runs once if it had started, then the poll fails with the timeout."""
    log: list[str] = []
    cycle = PollCycle(HealthPolicy())
    with pytest.raises(CallAbandoned) as caught:
        run_inline(poll_step(cycle, Scripted(log), (phase, ran), Direct(log)))
    assert (log, cycle.phase, caught.value.errno) == (calls, phase, errno.ETIMEDOUT)


def test_run_inline_refuses_a_step_that_suspends() -> None:
    """A port call that waits needs an event loop: run_inline says so instead of returning half a poll."""
    log: list[str] = []
    with pytest.raises(RuntimeError, match="suspended"):
        run_inline(poll_step(PollCycle(HealthPolicy()), Scripted(log), None, Suspending(log)))
    assert log == []
