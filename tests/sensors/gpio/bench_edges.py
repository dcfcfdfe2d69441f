"""Throughput of the GPIO edge path on MockFactory (a benchmark, not a test): edges/s through the pulse counter
and how close an edge timestamp is to the instant the pin changed.

Run: PYTHONPATH=. .venv/bin/python tests/sensors/gpio/bench_edges.py
"""

from __future__ import annotations

import time

from gpiozero.pins.mock import MockFactory, MockPWMPin

from sensors.sim.emulators import context_with_emulators
from tests.sensors.gpio.helpers import Recorder, build_sensor


def main() -> None:
    """Print the two figures."""
    f = MockFactory(pin_class=MockPWMPin)
    ctx = context_with_emulators()
    ctx.resources["gpio-factory"] = f
    c = build_sensor(ctx, "pulse_counter", pin=20, bounce_time_s=0.0, window_s=60, backend="gpiozero")
    c.open()
    pin = f.pin(20)
    N = 20000
    t0 = time.perf_counter()
    for _ in range(N):
        pin.drive_low()
        pin.drive_high()
    dt = time.perf_counter() - t0
    print(
        f"pulse counter: {N} pulses ({2 * N} edges) in {dt:.3f}s = {2 * N / dt:,.0f} edges/s, "
        f"pulses={c.read()['pulses']}"
    )
    b = build_sensor(ctx, "button", pin=21, bounce_time_s=0.0, backend="gpiozero")
    rec = Recorder()
    b.attach(rec)
    b.open()
    p2 = f.pin(21)
    lat = []
    for _ in range(2000):
        t = time.time_ns()
        p2.drive_low()
        ts_ns = rec.events[-1][1]
        assert ts_ns is not None
        lat.append(ts_ns - t)
        p2.drive_high()
    lat.sort()
    print(
        f"edge timestamp minus time just before drive: p50 {lat[len(lat) // 2] / 1000:.1f} us, "
        f"p99 {lat[int(len(lat) * 0.99)] / 1000:.1f} us"
    )


if __name__ == "__main__":
    main()
