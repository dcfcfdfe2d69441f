"""BusThread: the bus's worker thread, a daemon so that a driver stuck for good cannot keep the gateway from
exiting after SIGTERM (a ThreadPoolExecutor's threads are joined at interpreter exit)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from gateway.buses import BusThread

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
