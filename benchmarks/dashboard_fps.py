"""Dashboard benchmark: frame rate and JS heap of the real page in headless Chromium under a 50 Hz x 20 load.

    .venv/bin/python benchmarks/dashboard_fps.py                  # the recorded run: 5 minutes
    .venv/bin/python benchmarks/dashboard_fps.py --duration-s 60  # shorter

A `sensorcast run` subprocess serves 20 `synthetic` sensors at 50 Hz (fields a, b and the counter n) on
127.0.0.1; Debian's Chromium opens the dashboard (default view: every card with its sparkline, the charts of
the first sensor over 1 minute). The script counts requestAnimationFrame callbacks (fps per second), samples
the V8 heap after a forced GC every `--sample-s`, and reads the page's own counters (readings received,
drops, points held per chart). The baseline, measured in the same run and the same browser, is the rAF rate of
an empty page: the ratio shows what the dashboard costs. Targets (issue 5): >= 30 fps, heap not growing.
Traffic goes to 127.0.0.1 only; the run is bounded by --duration-s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.browser.gateway_proc import (  # noqa: E402 - after the path tweak
    CHROMIUM,
    CHROMIUM_ARGS,
    GatewayProcess,
    synthetic,
    write_config,
)

FPS_PROBE = """() => {
  window.benchFrames = [];
  let count = 0, start = performance.now();
  const tick = (t) => {
    count += 1;
    if (t - start >= 1000) { benchFrames.push(count * 1000 / (t - start)); count = 0; start = t;
      if (benchFrames.length > 4000) benchFrames.shift(); }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""

PAGE_STATE = """() => {
  const d = sensorcast.dashboard, c = d.client;
  let held = 0, ringBytes = 0, ringBytesFull = 0, maxPoints = 0;
  for (const r of d.rings.values()) {
    held += r.length; maxPoints = Math.max(maxPoints, r.length);
    const cols = 1 + r.v.length * (r.lo ? 3 : 1);
    ringBytes += r.t.length * 8 * cols; ringBytesFull += r.capacity * 8 * cols;
  }
  return {readings: c.stats.readings, agg: d.aggReadings, messages: c.stats.messages, dropped: c.stats.dropped,
          lost: c.stats.lost, gaps: d.gapCount + d.lossCount, held, maxPoints, ringBytes, ringBytesFull,
          capacity: [...d.rings.values()][0]?.capacity ?? 0, mode: document.querySelector('#mode').textContent,
          chartPoints: [...document.querySelectorAll('.chart')].map(e => +e.dataset.points),
          conn: document.querySelector('#conn').dataset.state};
}"""


def heap_mib(cdp: CDPSession) -> float:
    """V8 heap in use after a forced garbage collection, MiB."""
    cdp.send("HeapProfiler.collectGarbage")
    usage: dict[str, Any] = cdp.send("Runtime.getHeapUsage")
    return float(usage["usedSize"]) / 2**20


def slope_per_min(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (seconds), per minute."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def frames(page: Page) -> list[float]:
    """Per-second fps values recorded so far (and reset)."""
    out: list[float] = page.evaluate("() => benchFrames.splice(0)")
    return out


def baseline_fps(page: Page, seconds: float) -> float:
    """rAF rate of an empty page in the same browser."""
    page.set_content("<!doctype html><title>baseline</title>")
    page.evaluate(FPS_PROBE)
    time.sleep(seconds)
    return statistics.fmean(frames(page) or [0.0])


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    with tempfile.TemporaryDirectory(prefix="sensorcast-bench-") as tmp:
        cfg = write_config(
            Path(tmp) / "bench.toml",
            sensors=[synthetic(f"s{i:02d}", 1 / args.rate_hz, ["a", "b"]) for i in range(args.sensors)],
        )
        gw = GatewayProcess(cfg, Path(tmp))
        url = gw.start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ctx = browser.new_context(viewport={"width": args.width, "height": args.height})
                page = ctx.new_page()
                base = baseline_fps(page, args.baseline_s)
                if args.points:
                    page.add_init_script(f"window.SENSORCAST_POINTS = {int(args.points)};")
                page.goto(url)
                page.wait_for_function("() => sensorcast.dashboard.client.state === 'open'", timeout=20_000)
                cdp = ctx.new_cdp_session(page)
                print(f"[bench] warm-up {args.warmup_s:g} s", file=sys.stderr)
                time.sleep(args.warmup_s)
                page.evaluate(FPS_PROBE)
                t0 = time.monotonic()
                s0 = page.evaluate(PAGE_STATE)
                heap = [(0.0, heap_mib(cdp))]
                fps: list[float] = []
                while (elapsed := time.monotonic() - t0) < args.duration_s:
                    time.sleep(min(args.sample_s, args.duration_s - elapsed))
                    fps += frames(page)
                    heap.append((time.monotonic() - t0, heap_mib(cdp)))
                    print(
                        f"[bench] {heap[-1][0]:6.0f} s  fps {statistics.fmean(fps[-10:] or [0]):5.1f}  "
                        f"heap {heap[-1][1]:6.2f} MiB",
                        file=sys.stderr,
                    )
                s1 = page.evaluate(PAGE_STATE)
                browser.close()
        finally:
            gw.stop()
    secs = time.monotonic() - t0
    # The forced GCs in the samples stall a frame or two; the worst second is reported as it is.
    xs, ys = [t for t, _ in heap], [h for _, h in heap]
    return {
        "sensors": args.sensors,
        "rate_hz": args.rate_hz,
        "duration_s": round(secs, 1),
        "viewport": f"{args.width}x{args.height}",
        "baseline_fps": round(base, 1),
        "fps_mean": round(statistics.fmean(fps), 1) if fps else 0.0,
        "fps_p5": round(sorted(fps)[max(0, len(fps) // 20 - 1)], 1) if fps else 0.0,
        "fps_min_1s": round(min(fps), 1) if fps else 0.0,
        "heap_start_mib": round(ys[0], 2),
        "heap_end_mib": round(ys[-1], 2),
        "heap_max_mib": round(max(ys), 2),
        "heap_slope_mib_per_min": round(slope_per_min(xs, ys), 3),
        "readings_per_s": round((s1["readings"] - s0["readings"]) / secs, 1),
        "aggregated_per_s": round((s1["agg"] - s0["agg"]) / secs, 1),
        "messages_per_s": round((s1["messages"] - s0["messages"]) / secs, 1),
        "dropped": s1["dropped"],
        "gaps": s1["gaps"],
        "connection": s1["conn"],
        "points_held_max": s1["maxPoints"],
        "points_capacity": s1["capacity"],
        "ring_mib": round(s1["ringBytes"] / 2**20, 1),
        "ring_mib_when_full": round(s1["ringBytesFull"] / 2**20, 1),
        "chart_points": s1["chartPoints"],
        "chart_mode": s1["mode"],
    }


def main() -> int:
    """Parse flags, run, print the table (and JSON with --json)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration-s", type=float, default=300.0, help="measured run length (default 300)")
    ap.add_argument("--sensors", type=int, default=20)
    ap.add_argument("--rate-hz", type=float, default=50.0)
    ap.add_argument("--sample-s", type=float, default=10.0, help="heap sampling period")
    ap.add_argument("--warmup-s", type=float, default=10.0)
    ap.add_argument("--baseline-s", type=float, default=5.0)
    ap.add_argument("--points", type=int, default=0, help="points per ring (default: the page's 100 000)")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args()
    res = run(args)
    rows = [
        (
            "rAF fps, mean (target >= 30)",
            f"{res['fps_mean']}",
            f"{res['fps_mean'] / res['baseline_fps']:.2f} x empty page" if res["baseline_fps"] else "-",
        ),
        ("rAF fps, 5th percentile / worst second", f"{res['fps_p5']} / {res['fps_min_1s']}", ""),
        ("empty page rAF fps (baseline)", f"{res['baseline_fps']}", ""),
        (
            "JS heap after GC, start -> end (max)",
            f"{res['heap_start_mib']} -> {res['heap_end_mib']} ({res['heap_max_mib']}) MiB",
            f"slope {res['heap_slope_mib_per_min']:+} MiB/min",
        ),
        (
            "readings/s to the page (+ aggregated)",
            f"{res['readings_per_s']} (+{res['aggregated_per_s']})",
            f"{res['messages_per_s']} frames/s",
        ),
        ("dropped / gaps", f"{res['dropped']} / {res['gaps']}", res["connection"]),
        (
            "points held per sensor (capacity)",
            f"{res['points_held_max']} ({res['points_capacity']})",
            f"rings {res['ring_mib']} MiB, {res['ring_mib_when_full']} MiB when full",
        ),
        ("selected chart", ", ".join(map(str, res["chart_points"])) + " points", res["chart_mode"]),
    ]
    print(
        f"dashboard: {res['sensors']} sensors x {res['rate_hz']:g} Hz, {res['duration_s']} s, "
        f"viewport {res['viewport']}, headless Chromium"
    )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
