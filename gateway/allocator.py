"""Hand the C allocator's free pages back to the kernel once a minute (glibc only): ``malloc_trim(0)``.

Why: the gateway's threads (one per bus, the emulators, the history writer) allocate through glibc malloc, which
keeps freed memory in its arenas; over hours of a steady load the free holes inside them add up to resident memory
that nothing uses (issue 20, item 10; figures in docs/benchmarks.md, "Soak"). ``malloc_trim(0)`` returns every
whole free page of every arena (``madvise(MADV_DONTNEED)``), not only the top of the main heap as glibc does by
itself. It moves no live object, so it cannot break anything; it costs well under a millisecond here.

Only on glibc: musl, macOS and others have no ``malloc_trim``; :func:`load_malloc_trim` then returns None and the
timer is not started. ``SENSORCAST_MALLOC_TRIM_S`` (seconds, ``0`` = off) changes the period.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import time
from collections.abc import Callable

from sensors.errors import ConfigError

log = logging.getLogger(__name__)

TRIM_INTERVAL_S = 60.0
"""Seconds between two trims: the growth it undoes is ~kB per minute, and a trim costs < 1 ms on a PC."""

TRIM_ENV = "SENSORCAST_MALLOC_TRIM_S"
"""Environment variable overriding :data:`TRIM_INTERVAL_S` (``0`` turns the trim off)."""

MIN_TRIM_INTERVAL_S = 1.0
"""Shortest period accepted: each trim walks every arena under its lock, so more than once a second only costs."""


def parse_trim_interval(value: str | None) -> float:
    """The trim period in seconds from the environment variable's text (None: the default; ``0``: off).

    Raises:
        ConfigError: not a number, negative, or between 0 and :data:`MIN_TRIM_INTERVAL_S`.
    """
    if value is None or not value.strip():
        return TRIM_INTERVAL_S
    try:
        interval_s = float(value)
    except ValueError:
        interval_s = math.nan
    if interval_s == 0.0:
        return 0.0
    if not math.isfinite(interval_s) or interval_s < MIN_TRIM_INTERVAL_S:
        raise ConfigError(
            TRIM_ENV,
            f"expected seconds between malloc trims: 0 (off) or a number >= {MIN_TRIM_INTERVAL_S:g}, "
            f"got {value[:40]!r}",
            "(environment)",
        )
    return interval_s


def load_malloc_trim(libc_name: str | None = None) -> Callable[[], int] | None:
    """``malloc_trim(0)`` of the C library this process runs on, or None where there is none (not glibc).

    Args:
        libc_name: the library to look in; None is the process itself (the C library it is linked with).
    """
    try:
        fn = ctypes.CDLL(libc_name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int

    def trim() -> int:
        return int(fn(0))

    return trim


async def trim_loop(trim: Callable[[], int], interval_s: float) -> None:
    """Call ``trim`` every ``interval_s`` seconds, on the loop (it is short), until cancelled.

    A call that takes long (a huge heap, a slow board) is logged once, with its duration, at warning level.
    """
    warned = False
    while True:
        await asyncio.sleep(interval_s)
        t0 = time.perf_counter()
        released = trim()
        took_s = time.perf_counter() - t0
        if took_s > 0.01 and not warned:
            warned = True
            log.warning(
                "malloc_trim took %.1f ms (every %g s; %s=0 turns it off)", took_s * 1e3, interval_s, TRIM_ENV
            )
        log.debug(
            "malloc_trim: %s in %.2f ms",
            "released memory" if released else "nothing to release",
            took_s * 1e3,
        )
