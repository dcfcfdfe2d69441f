"""`sensorcast run` trims the C allocator every SENSORCAST_MALLOC_TRIM_S seconds; a bad value is a config error."""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway.allocator import TRIM_ENV
from gateway.cli import run as cmd_run
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[3]
ON_GLIBC = cmd_run.load_malloc_trim() is not None


def start(env_value: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{TRIM_ENV: env_value})
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--port", "0", "--log-level", "debug"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.skipif(
    not ON_GLIBC, reason="malloc_trim is a glibc function; elsewhere the timer is not started"
)
def test_the_running_gateway_trims_once_per_period() -> None:
    """The demo started with a 1 s period logs a malloc_trim each second, and stops cleanly on SIGTERM."""
    proc = start("1")
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr or ()], daemon=True).start()
    trims: list[float] = []
    try:
        deadline = time.monotonic() + scaled(60)
        while len(trims) < 3 and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if "gateway.allocator: malloc_trim: " in line:
                trims.append(time.monotonic())
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(scaled(30))
    assert len(trims) == 3
    assert all(b - a > 0.5 for a, b in itertools.pairwise(trims))
    assert code == 0


def test_a_bad_period_stops_the_start_naming_the_variable() -> None:
    """SENSORCAST_MALLOC_TRIM_S=soon: exit 2 (a config error) with one line naming the variable and what it takes."""
    proc = start("soon")
    _, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 2
    assert err.splitlines()[-2:] == [
        "sensorcast: configuration error:",
        f"  (environment): {TRIM_ENV}: expected seconds between malloc trims: 0 (off) or a number >= 1, "
        "got 'soon'",
    ]


def test_no_timer_when_off_or_not_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    """A period of 0, or a C library without malloc_trim, starts no task; otherwise one task named malloc-trim."""

    async def started(interval_s: float) -> str | None:
        task = cmd_run.start_malloc_trim(interval_s)
        if task is None:
            return None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return task.get_name()

    assert asyncio.run(started(0.0)) is None
    assert asyncio.run(started(60.0)) == ("malloc-trim" if ON_GLIBC else None)
    monkeypatch.setattr(cmd_run, "load_malloc_trim", lambda: None)
    assert asyncio.run(started(60.0)) is None
