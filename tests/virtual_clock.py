"""A virtual-clock event loop for tests of timing behaviour: time only moves when every task waits on a timer,
so a test of hours of polling runs in milliseconds and asserts exact times.

Executor jobs (blocking driver calls on bus threads) run for real and the clock waits for them; a job that
blocks on purpose calls :meth:`VirtualClockLoop.park` first, so the clock moves on without it.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any

from tests.conftest import scaled

WAIT = scaled(10.0)
"""Longest real wait for an executor job that the virtual clock waits on."""


class _VirtualSelector:
    """Selector wrapper: while the loop is idle (nothing ready, no executor job running), jump the loop's
    clock to the next timer instead of sleeping; while a job runs on a thread, wait for it for real."""

    def __init__(self, real: selectors.BaseSelector, loop: VirtualClockLoop) -> None:
        self._real = real
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout == 0:
            return self._real.select(0)
        if self._loop.in_flight:
            events = self._real.select(WAIT)
            if not events and self._loop.in_flight:
                raise AssertionError("virtual clock stalled: an executor job neither finished nor parked")
            return events
        events = self._real.select(0)
        if events or timeout is None:
            return events or self._real.select(WAIT)
        self._loop.advance(timeout)
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Job:
    def __init__(self, executor: Executor | None) -> None:
        self.executor = executor
        self.started = False
        self.parked = False


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose time() only moves when every task waits on a timer (or a sensor spends time).

    A job that blocks on purpose (a stuck bus) calls :meth:`park` from its thread first: the clock then moves
    on without it, so the caller's timeout can expire.
    """

    def __init__(self) -> None:
        super().__init__()
        self._now = 1000.0
        self._jobs: dict[asyncio.Future[Any], _Job] = {}
        self._job_of_thread = threading.local()
        self._selector = _VirtualSelector(self._selector, self)  # type: ignore[has-type,assignment]

    @property
    def in_flight(self) -> int:
        """Executor jobs submitted and not finished, except parked ones and those queued behind one."""
        parked = {id(job.executor) for job in self._jobs.values() if job.parked}
        return sum(
            1
            for job in self._jobs.values()
            if not job.parked and (job.started or id(job.executor) not in parked)
        )

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def run_in_executor(self, executor: Executor | None, func: Callable[..., Any], *args: Any) -> Any:
        job = _Job(executor)

        def run() -> Any:
            self._job_of_thread.job = job
            job.started = True
            return func(*args)

        fut = super().run_in_executor(executor, run)
        self._jobs[fut] = job
        fut.add_done_callback(self._jobs.pop)
        return fut

    def park(self) -> None:
        """Called on a worker thread: the job it runs is about to block until the test releases it."""
        self.call_soon_threadsafe(setattr, self._job_of_thread.job, "parked", True)


def run_virtual(main: Callable[[VirtualClockLoop], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main(loop)`` to completion on a fresh :class:`VirtualClockLoop`; return its result."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()
