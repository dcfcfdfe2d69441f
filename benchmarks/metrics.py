"""/metrics cost: scrape latency of the real `sensorcast run` demo, and (inner component, second table) the
per-``inc`` cost on the hot path and the render time of :class:`gateway.metrics.Metrics`.

    python benchmarks/metrics.py [--scrapes 50]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
import timeit
import urllib.request

from gateway.metrics import Metrics


def scrape_ms(scrapes: int) -> list[float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = 0
        deadline = time.monotonic() + 30
        while not port and time.monotonic() < deadline:
            m = re.match(r"Dashboard: http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
            port = int(m.group(1)) if m else 0
        time.sleep(1.0)
        out = []
        for _ in range(scrapes):
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                r.read()
            out.append((time.perf_counter() - t0) * 1e3)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def inner() -> tuple[float, float, float]:
    m = Metrics()
    m.describe("sensorcast_readings_dropped_total", "counter", "d")
    m.describe("sensorcast_sensor_errors_total", "counter", "e", ("sensor",))
    for s in range(20):
        m.inc("sensorcast_sensor_errors_total", 0, sensor=f"s{s}")
    n = 200_000
    inc = timeit.timeit(lambda: m.inc("sensorcast_readings_dropped_total", 3), number=n) / n
    lab = timeit.timeit(lambda: m.inc("sensorcast_sensor_errors_total", sensor="s3"), number=n) / n
    render = min(timeit.repeat(m.render, number=200, repeat=5)) / 200
    return inc * 1e9, lab * 1e9, render * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scrapes", type=int, default=50)
    args = ap.parse_args()
    ms = sorted(scrape_ms(args.scrapes))
    print("| `sensorcast run` demo | median | p90 |")
    print("|---|---|---|")
    print(
        f"| GET /metrics ({args.scrapes} scrapes) | {statistics.median(ms):.2f} ms | {ms[int(len(ms) * 0.9)]:.2f} ms |"
    )
    inc, lab, render = inner()
    print("\n| inner component: gateway.metrics.Metrics | value |")
    print("|---|---|")
    print(f"| inc (unlabelled) | {inc:.0f} ns |")
    print(f"| inc (one label) | {lab:.0f} ns |")
    print(f"| render (20 labelled series) | {render:.0f} us |")


if __name__ == "__main__":
    main()
