"""Slowly varying, plausible physical signals for the chip emulators, and integer inversion of codecs."""

from __future__ import annotations

import math
from collections.abc import Callable


def slow_wave(t_s: float, mean: float, amplitude: float, period_s: float, phase: float = 0.0) -> float:
    """Return a smooth value around ``mean``: a main wave plus an incommensurate ripple, never periodic.

    Args:
        t_s: time in seconds.
        mean: centre value.
        amplitude: peak deviation (the sum of both waves stays within it).
        period_s: period of the main wave.
        phase: phase offset in radians (decorrelates several signals).
    """
    main = math.sin(2 * math.pi * t_s / period_s + phase)
    ripple = math.sin(2 * math.pi * t_s / (period_s * 0.137) + 2.1 * phase + 1.0)
    return mean + amplitude * (0.85 * main + 0.15 * ripple)


def invert(decode: Callable[[int], float], target: float, lo: int, hi: int) -> int:
    """Return the raw code in [lo, hi] whose ``decode`` is closest to ``target`` (``decode`` monotonic).

    The emulators use this to encode a physical value through the driver's own codec, so what the driver reads
    back is a true round trip through the datasheet math.
    """
    increasing = decode(hi) >= decode(lo)
    a, b = lo, hi
    while b - a > 1:
        mid = (a + b) // 2
        if (decode(mid) < target) == increasing:
            a = mid
        else:
            b = mid
    return a if abs(decode(a) - target) <= abs(decode(b) - target) else b
