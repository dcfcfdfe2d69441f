"""gateway.buses: BusThread, the bus's worker thread (a daemon, so that a driver stuck for good cannot keep the
gateway from exiting after SIGTERM), and BusWorker, its ordering, timeouts and abandonment."""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from gateway.buses import BusThread, BusWorker, CallAbandoned
from sensors.errors import ImplausibleReading, SensorError, SensorTimeout
from tests.conftest import scaled

WAIT = scaled(10.0)
"""Generous bound for event-based waits (never a timing assert)."""

ROOT = Path(__file__).resolve().parents[2]


def test_calls_run_in_order_on_one_daemon_thread() -> None:
    """Submitted calls run one after another on the same daemon thread; results and exceptions come back."""
    bus = BusThread("bus-test")
    seen: list[tuple[int, str]] = []

    def work(i: int, *, tag: str = "") -> int:
        seen.append((i, threading.current_thread().name + tag))
        return i * 10

    futures = [bus.submit(work, i) for i in range(5)]
    assert [f.result(timeout=5) for f in futures] == [0, 10, 20, 30, 40]
    assert bus.submit(work, 9, tag="!").result(timeout=5) == 90
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4, 9]
    assert {name for _, name in seen} == {"bus-test", "bus-test!"}
    assert bus.thread.daemon
    boom = bus.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        boom.result(timeout=5)
    bus.shutdown()
    assert not bus.thread.is_alive()


def test_shutdown_refuses_new_calls_and_can_cancel_queued_ones() -> None:
    """After shutdown, submit raises; cancel_futures cancels what was still queued behind a running call."""
    bus = BusThread("bus-test")
    started, release = threading.Event(), threading.Event()

    def block() -> bool:
        started.set()
        return release.wait(5)

    running = bus.submit(block)
    assert started.wait(5)
    queued = [bus.submit(lambda: "late") for _ in range(3)]
    bus.shutdown(wait=False, cancel_futures=True)
    bus.shutdown(wait=False)  # twice is harmless
    with pytest.raises(RuntimeError, match="after shutdown"):
        bus.submit(lambda: None)
    release.set()
    assert running.result(timeout=5) is True
    assert all(f.cancelled() for f in queued)
    bus.thread.join(5)
    assert not bus.thread.is_alive()


def test_a_driver_stuck_for_good_does_not_keep_the_process_alive() -> None:
    """A bus call that never returns is abandoned after its timeout; the process then exits at once (with a
    ThreadPoolExecutor it would hang at exit, waiting to join the stuck thread)."""
    script = textwrap.dedent(
        """
        import asyncio, threading
        from gateway.buses import BusWorker
        from sensors.errors import SensorTimeout

        async def main():
            worker = BusWorker("i2c-1")
            try:
                await worker.call(threading.Event().wait, timeout_s=0.2)  # never set: stuck for good
            except SensorTimeout:
                print("abandoned", worker.abandoned_threads, flush=True)
            assert await worker.call(lambda: 42, timeout_s=1.0) == 42  # the fresh thread works
            worker.shutdown()

        asyncio.run(main())
        print("exiting", flush=True)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["abandoned", "1", "exiting"]


# -- BusWorker ----------------------------------------------------------------------------------------------


async def test_call_runs_on_the_bus_thread_and_returns_its_result(shutdown: Any) -> None:
    worker = BusWorker("i2c-7")
    shutdown[0].append(worker)
    name = await worker.call(lambda: threading.current_thread().name)
    assert name.startswith("bus-i2c-7")
    assert name != threading.current_thread().name
    assert await worker.call(pow, 2, 10) == 1024
    assert worker.abandoned_threads == 0


async def test_calls_run_one_at_a_time_in_submission_order(shutdown: Any) -> None:
    worker = BusWorker("spi")
    shutdown[0].append(worker)
    order: list[int] = []
    threads: set[int] = set()
    active = 0
    overlap = False
    lock = threading.Lock()

    def job(i: int) -> int:
        nonlocal active, overlap
        with lock:
            active += 1
            overlap = overlap or active > 1
        threads.add(threading.get_ident())
        threading.Event().wait(0.001)  # give a concurrent executor the chance to overlap
        order.append(i)
        with lock:
            active -= 1
        return i * i

    results = await asyncio.gather(*(worker.call(job, i, timeout_s=WAIT) for i in range(20)))
    assert results == [i * i for i in range(20)]
    assert order == list(range(20))
    assert not overlap
    assert len(threads) == 1


@pytest.mark.parametrize(
    "exc",
    [
        SensorError(errno.EREMOTEIO, "nack"),
        SensorTimeout(errno.ETIMEDOUT, "conversion never finished"),  # the driver's own: no thread abandoned
        ImplausibleReading("skipped"),
        ValueError("bug"),
        KeyError("k"),
    ],
)
async def test_exceptions_propagate_unchanged(shutdown: Any, exc: Exception) -> None:
    worker = BusWorker("b")
    shutdown[0].append(worker)

    def boom() -> None:
        raise exc

    with pytest.raises(type(exc)) as info:
        await worker.call(boom, timeout_s=WAIT)
    assert info.value is exc
    assert worker.abandoned_threads == 0
    assert await worker.call(lambda: "still usable") == "still usable"


async def test_a_call_past_its_timeout_is_abandoned_and_the_bus_gets_a_fresh_thread(shutdown: Any) -> None:
    abandoned: list[str] = []
    worker = BusWorker("i2c-1", on_abandon=abandoned.append)
    gate = threading.Event()
    shutdown[0].append(worker)
    shutdown[1].append(gate)
    stuck_thread: list[int] = []

    def stuck() -> str:
        stuck_thread.append(threading.get_ident())
        gate.wait()
        return "late"

    with pytest.raises(CallAbandoned) as info:
        await worker.call(stuck, timeout_s=0.05)
    err = info.value
    assert isinstance(err, SensorTimeout) and isinstance(err, TimeoutError) and isinstance(err, OSError)
    assert err.ran, "it had started: its exchange may still complete on the abandoned thread"
    assert err.errno == errno.ETIMEDOUT
    assert err.strerror == "no answer within 0.05 s on i2c-1"
    assert err.__cause__ is None and err.__suppress_context__
    assert worker.abandoned_threads == 1
    assert abandoned == ["i2c-1"]
    # The old thread is still blocked in the driver; the next call runs on a new one at once.
    fresh, name = await worker.call(
        lambda: (threading.get_ident(), threading.current_thread().name), timeout_s=WAIT
    )
    assert name.startswith("bus-i2c-1") and fresh != stuck_thread[0]
    assert not gate.is_set()
    with pytest.raises(SensorTimeout):
        await worker.call(gate.wait, timeout_s=0.05)
    assert worker.abandoned_threads == 2 and abandoned == ["i2c-1", "i2c-1"]


async def test_no_timeout_waits_for_the_call(shutdown: Any) -> None:
    worker = BusWorker("b")
    shutdown[0].append(worker)
    gate = threading.Event()
    shutdown[1].append(gate)
    loop = asyncio.get_running_loop()
    task = loop.create_task(worker.call(lambda: gate.wait(WAIT) and "done"))
    await asyncio.sleep(0.05)
    assert not task.done()
    gate.set()
    assert await asyncio.wait_for(task, WAIT) == "done"


async def test_shutdown_refuses_new_work() -> None:
    worker = BusWorker("b")
    worker.shutdown()
    with pytest.raises(RuntimeError):
        await worker.call(lambda: 1)


async def test_calls_queued_behind_a_stuck_call_run_in_order_on_the_fresh_thread(shutdown: Any) -> None:
    """Regression: the timeout used to cancel every call queued behind the stuck one (other sensors on the bus
    got CancelledError and their polling ended for good)."""
    worker = BusWorker("i2c-1")
    gate = threading.Event()
    shutdown[0].append(worker)
    shutdown[1].append(gate)
    stuck_thread: list[int] = []

    def stuck() -> str:
        stuck_thread.append(threading.get_ident())
        gate.wait()
        return "late"

    def job(i: int) -> tuple[int, int]:
        return i, threading.get_ident()

    loop = asyncio.get_running_loop()
    first = loop.create_task(worker.call(stuck, timeout_s=0.1))
    queued = [loop.create_task(worker.call(job, i, timeout_s=WAIT)) for i in range(3)]
    with pytest.raises(SensorTimeout):
        await first
    results = await asyncio.wait_for(asyncio.gather(*queued), WAIT)
    assert [i for i, _ in results] == [0, 1, 2]
    threads = {t for _, t in results}
    assert len(threads) == 1 and stuck_thread[0] not in threads
    assert worker.abandoned_threads == 1
    assert not gate.is_set(), "the queued calls did not wait for the stuck one to return"


async def test_the_late_result_of_an_abandoned_call_is_discarded(
    shutdown: Any, caplog: pytest.LogCaptureFixture
) -> None:
    worker = BusWorker("b")
    gate = threading.Event()
    returned = threading.Event()
    shutdown[0].append(worker)
    shutdown[1].append(gate)

    def stuck() -> str:
        gate.wait()
        returned.set()
        return "late"

    with pytest.raises(SensorTimeout):
        await worker.call(stuck, timeout_s=0.05)
    with caplog.at_level(logging.DEBUG):
        gate.set()
        assert await asyncio.to_thread(returned.wait, WAIT)
        assert await worker.call(lambda: "mine", timeout_s=WAIT) == "mine"
        await asyncio.sleep(0.01)  # let a stray late callback run, if any
    assert worker.abandoned_threads == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_abandoned_call_returning_after_its_loop_closed_is_harmless(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = threading.Event()
    returned = threading.Event()
    worker = BusWorker("b")

    def stuck() -> str:
        gate.wait()
        returned.set()
        raise OSError(errno.EIO, "too late to matter")

    async def main() -> None:
        with pytest.raises(SensorTimeout):
            await worker.call(stuck, timeout_s=0.05)

    try:
        asyncio.run(main())
        with caplog.at_level(logging.DEBUG):
            gate.set()
            assert returned.wait(WAIT)
            worker.shutdown()
    finally:
        gate.set()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("together", [False, True], ids=["queued-later", "same-batch"])
@pytest.mark.parametrize(
    "running_timeout", [None, WAIT], ids=["running-without-timeout", "running-with-timeout"]
)
async def test_a_waiting_call_gives_up_only_behind_a_call_without_timeout(
    shutdown: Any, running_timeout: float | None, together: bool
) -> None:
    """A call waits behind a running call that has its own timeout, however long that takes; behind one without
    a timeout (nothing else would ever free the bus) it times out after its own timeout and abandons the thread,
    the next call runs on a fresh thread at once, and the held call's caller still gets its late result. The
    same whether the waiting call was queued while the other ran or handed over in the same batch."""
    worker = BusWorker("gpio")
    gate = threading.Event()
    started = threading.Event()
    shutdown[0].append(worker)
    shutdown[1].append(gate)

    def blocker() -> str:
        started.set()
        gate.wait()
        return "late"

    loop = asyncio.get_running_loop()
    held = loop.create_task(worker.call(blocker, timeout_s=running_timeout))
    if not together:
        assert await asyncio.to_thread(started.wait, WAIT)
    waiting = loop.create_task(worker.call(lambda: "quick", timeout_s=0.02))
    await asyncio.wait([waiting], timeout=0.2)  # ten times the waiting call's own timeout
    if running_timeout is None:
        with pytest.raises(CallAbandoned) as info:
            await waiting
        assert info.value.errno == errno.ETIMEDOUT
        assert not info.value.ran, "it never started: no exchange of it is left to complete"
        assert worker.abandoned_threads == 1
        assert await worker.call(lambda: "next", timeout_s=WAIT) == "next"  # on the fresh thread, at once
        assert not held.done()
        gate.set()
        assert await asyncio.wait_for(held, WAIT) == "late", "a caller still waiting gets its own late result"
    else:
        assert not waiting.done(), "it waits for the running call, whose own timeout has not expired"
        gate.set()
        assert await asyncio.wait_for(asyncio.gather(held, waiting), WAIT) == ["late", "quick"]
    assert worker.abandoned_threads == (1 if running_timeout is None else 0)
    assert worker.batches == (1 if together and running_timeout is not None else 2)


@pytest.mark.parametrize("together", [False, True], ids=["queued-later", "same-batch"])
async def test_a_cancelled_waiting_call_never_runs_and_the_queue_moves_on(
    shutdown: Any, together: bool
) -> None:
    """A call cancelled before its turn never runs and the call after it does, whether it waited in the queue
    while another call ran or was handed over in the same batch as the running call."""
    worker = BusWorker("b")
    gate = threading.Event()
    started = threading.Event()
    shutdown[0].append(worker)
    shutdown[1].append(gate)
    ran: list[str] = []

    def first() -> None:
        started.set()
        gate.wait()
        ran.append("first")

    loop = asyncio.get_running_loop()
    running = loop.create_task(worker.call(first, timeout_s=WAIT))
    if not together:
        assert await asyncio.to_thread(started.wait, WAIT)
    cancelled = loop.create_task(worker.call(ran.append, "cancelled", timeout_s=WAIT))
    last = loop.create_task(worker.call(ran.append, "last", timeout_s=WAIT))
    assert await asyncio.to_thread(started.wait, WAIT)
    cancelled.cancel()
    await asyncio.wait([cancelled], timeout=WAIT)
    gate.set()
    await asyncio.wait_for(asyncio.gather(running, last), WAIT)
    assert cancelled.cancelled()
    assert (ran, worker.batches, worker.abandoned_threads) == (["first", "last"], 1 if together else 2, 0)


async def test_a_cancelled_running_call_frees_the_bus_and_a_stuck_one_is_abandoned_later(
    shutdown: Any,
) -> None:
    """The caller of a stuck call goes away (task cancelled, no timeout): the next call times out as a
    *timeout* (never a CancelledError) and the one after runs on a fresh thread."""
    worker = BusWorker("b")
    gate = threading.Event()
    started = threading.Event()
    shutdown[0].append(worker)
    shutdown[1].append(gate)

    def stuck() -> None:
        started.set()
        gate.wait()

    task = asyncio.get_running_loop().create_task(worker.call(stuck))
    assert await asyncio.to_thread(started.wait, WAIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(SensorTimeout):
        await worker.call(lambda: "behind the orphan", timeout_s=0.05)
    assert worker.abandoned_threads == 1
    assert await worker.call(lambda: "fresh", timeout_s=WAIT) == "fresh"


# -- one round trip per batch (issue 13) ---------------------------------------------------------------------


async def test_calls_queued_in_one_loop_iteration_cross_to_the_thread_in_one_round_trip(
    shutdown: Any,
) -> None:
    """Calls queued in the same loop iteration (the sensors of a bus due at one tick) run in order on the bus
    thread in one batch; a call queued while that batch runs goes in the next one."""
    worker = BusWorker("i2c-1")
    shutdown[0].append(worker)
    ran: list[tuple[str, int]] = []

    def job(name: str) -> str:
        ran.append((name, threading.get_ident()))
        return name.upper()

    results = await asyncio.gather(*(worker.call(job, n, timeout_s=WAIT) for n in "abcde"))
    assert (results, worker.batches) == (list("ABCDE"), 1)
    assert [n for n, _ in ran] == list("abcde") and len({t for _, t in ran}) == 1
    assert await worker.call(job, "f", timeout_s=WAIT) == "F"
    assert worker.batches == 2


async def test_a_call_past_its_timeout_inside_a_batch_fails_alone_and_the_rest_run_on_a_fresh_thread(
    shutdown: Any,
) -> None:
    """In one batch, the call before a stuck one keeps its result, the stuck one alone times out (timed from its
    own start), and the calls after it run in order on a fresh thread, each with its full timeout."""
    worker = BusWorker("i2c-1")
    gate = threading.Event()
    shutdown[0].append(worker)
    shutdown[1].append(gate)
    ran: list[tuple[str, int]] = []

    def job(name: str) -> str:
        ran.append((name, threading.get_ident()))
        if name == "stuck":
            gate.wait()
        return name

    names = ["before", "stuck", "after1", "after2"]
    outcomes = await asyncio.gather(
        *(worker.call(job, n, timeout_s=0.1 if n == "stuck" else WAIT) for n in names), return_exceptions=True
    )
    assert [o if isinstance(o, str) else type(o) for o in outcomes] == [
        "before",
        CallAbandoned,  # a SensorTimeout that says the worker gave up on it
        "after1",
        "after2",
    ]
    assert [n for n, _ in ran] == names
    threads = [t for _, t in ran]
    assert threads[0] == threads[1] != threads[2] == threads[3]
    assert (worker.abandoned_threads, worker.batches) == (1, 2)
    assert not gate.is_set(), "the calls after the stuck one did not wait for it to return"


async def test_shutdown_fails_the_calls_still_queued(shutdown: Any) -> None:
    """Calls queued behind a running one when the worker shuts down fail at once (no wait without an end)."""
    worker = BusWorker("b")
    gate = threading.Event()
    started = threading.Event()
    shutdown[1].append(gate)

    def first() -> str:
        started.set()
        gate.wait()
        return "first"

    loop = asyncio.get_running_loop()
    running = loop.create_task(worker.call(first, timeout_s=WAIT))
    assert await asyncio.to_thread(started.wait, WAIT)
    queued = loop.create_task(worker.call(lambda: "never", timeout_s=WAIT))
    await asyncio.sleep(0)
    worker.shutdown()
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(queued, WAIT)
    gate.set()
    assert await asyncio.wait_for(running, WAIT) == "first"
