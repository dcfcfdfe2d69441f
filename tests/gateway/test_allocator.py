"""The periodic malloc_trim: its period from the environment, the glibc guard, the loop, and that it frees."""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import platform
import time
from typing import Any

import pytest

from gateway import allocator
from gateway.allocator import (
    MIN_TRIM_INTERVAL_S,
    TRIM_ENV,
    TRIM_INTERVAL_S,
    load_malloc_trim,
    parse_trim_interval,
    trim_loop,
)
from sensors.errors import ConfigError
from tests.conftest import scaled

ON_GLIBC = platform.libc_ver()[0] == "glibc"


def test_interval_defaults_off_and_numbers() -> None:
    """Unset or blank is the 60 s default, 0 is off, a number >= 1 s is taken as is."""
    assert [parse_trim_interval(v) for v in (None, "", "  ", "0", "0.0", "1", "30", "600.5")] == [
        TRIM_INTERVAL_S,
        TRIM_INTERVAL_S,
        TRIM_INTERVAL_S,
        0.0,
        0.0,
        1.0,
        30.0,
        600.5,
    ]
    assert TRIM_INTERVAL_S == 60.0 and MIN_TRIM_INTERVAL_S == 1.0


@pytest.mark.parametrize("text", ["abc", "-1", "0.5", "nan", "inf", "1e999", "60s"])
def test_bad_interval_names_the_variable_and_the_expectation(text: str) -> None:
    """Not a number, negative, below 1 s or not finite: a ConfigError naming the variable and what is expected."""
    with pytest.raises(ConfigError) as info:
        parse_trim_interval(text)
    assert (info.value.key, info.value.file) == (TRIM_ENV, "(environment)")
    assert info.value.message == (
        f"expected seconds between malloc trims: 0 (off) or a number >= 1, got {text!r}"
    )


def test_no_c_library_means_no_trim() -> None:
    """A library that cannot be loaded gives None (the timer is then not started)."""
    assert load_malloc_trim("libdoes-not-exist-sensorcast.so.0") is None


def test_a_c_library_without_malloc_trim_means_no_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    """A C library without malloc_trim (musl, macOS) gives None instead of failing."""

    class Musl:
        def __getattr__(self, name: str) -> Any:
            raise AttributeError(name)

    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: Musl())
    assert load_malloc_trim() is None


@pytest.mark.skipif(
    not ON_GLIBC, reason="malloc_trim is a glibc function; elsewhere load_malloc_trim is None"
)
def test_trim_gives_free_holes_back_to_the_kernel() -> None:
    """On glibc, ~20 MB freed in holes between live blocks (which glibc keeps) leave RssAnon after one trim."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    trim = load_malloc_trim()
    assert trim is not None
    trim()
    blocks = [
        libc.malloc(16 * 1024) for _ in range(1280)
    ]  # 20 MiB of 16 KiB blocks: below the mmap threshold
    for b in blocks:
        ctypes.memset(b, 1, 16 * 1024)  # touched: resident
    kept = blocks[
        63::64
    ]  # one live block per MiB pins every hole: glibc's own top-of-heap trim cannot reach them
    for b in blocks:
        if b not in kept:
            libc.free(b)
    before_kib = rss_anon_kib()
    assert trim() == 1
    released_kib = before_kib - rss_anon_kib()
    for b in kept:
        libc.free(b)
    assert released_kib > 15 * 1024


def rss_anon_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))


def test_loop_trims_every_interval_and_warns_once_when_slow(caplog: pytest.LogCaptureFixture) -> None:
    """The loop calls trim once per period until cancelled; a slow trim (> 10 ms) is logged once, not each time."""
    calls: list[float] = []
    tasks: list[asyncio.Task[None]] = []

    def slow_trim() -> int:  # runs on the loop: cancelling here stops the loop at its next sleep
        calls.append(time.monotonic())
        time.sleep(0.015)
        if len(calls) == 5:
            tasks[0].cancel()
        return 1

    async def main() -> None:
        tasks.append(asyncio.create_task(trim_loop(slow_trim, 0.05)))
        async with asyncio.timeout(scaled(10)):
            await asyncio.wait(tasks)
        task = tasks[0]
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.DEBUG, logger="gateway.allocator"):
        asyncio.run(main())
    assert len(calls) == 5
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert all(g >= 0.05 for g in gaps)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("malloc_trim took ")
    assert warnings[0].endswith(f"(every 0.05 s; {TRIM_ENV}=0 turns it off)")
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == len(calls) and all(m.startswith("malloc_trim: released memory in ") for m in debug)
