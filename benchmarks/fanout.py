"""Fan-out benchmark: sensorcast's data path vs a raw ``websockets.broadcast()`` loop, measured in one run.

    .venv/bin/python benchmarks/fanout.py            # full run, ~3 minutes on 2 cores
    .venv/bin/python benchmarks/fanout.py --quick    # shorter windows
    .venv/bin/python benchmarks/fanout.py --rules    # only the rows with 50 local rules configured (issue 15)
    SENSORCAST_BENCH_HISTORY=off .venv/bin/python benchmarks/fanout.py    # without the history store

Each server runs in its own process (so its CPU time is its own); clients run in another process
(``benchmarks/_clients.py``, shared with ``benchmarks/product.py``) and count readings from each frame's header;
for the latency rows client 0 decodes every frame. Both servers get the same batching: ``batch`` readings per
frame.

Prints one table with the ratio sensorcast / raw per row and the targets from issue 2. Results for this machine
are recorded in docs/benchmarks.md. Traffic goes to 127.0.0.1 only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _clients
from _clients import DATA_PREFIX, ROOT, can_pin, expect, free_port, go, pinned, result, spawn_clients, stop

VALUES = {"temperature_c": 21.53, "pressure_pa": 100653.27, "humidity_pct": 45.2}
RUNS = 3
"""Throughput runs per row and server; the table shows their median (one run moves by a few %: 2 cores)."""
RULES_RUNS = 5
"""Runs per variant for ``--rules``: four variants whose differences are smaller than one run's spread."""
PIN = [False]
"""Whether servers run on CPU 0 and the clients on CPU 1 (``--pin``, the default where possible)."""


RULES = 50
"""Local rules configured for the rules rows (issue 15: the fan-out ratio with 50 rules stays >= 0.87x raw)."""
IDLE_SENSORS = 10
"""Configured sensors that hold the rules not on the published sensor (polled once a day: no readings)."""


def rules_config(on_env: int) -> dict[str, Any]:
    """Sensors and ``RULES`` rules, ``on_env`` of them on the published sensor ``env`` (thresholds it never
    crosses: the steady cost of evaluating, not of firing), the others spread over idle sensors."""
    fields = list(VALUES)
    sensors = [
        {"id": sid, "driver": "synthetic", "interval_s": 86400, "fields": fields}
        for sid in ["env", *(f"idle{i}" for i in range(IDLE_SENSORS))]
    ]
    kinds = [("above", {"threshold": 1e9}), ("below", {"threshold": -1e9}), ("outside", {"low": -1e9, "high": 1e9}),
             ("rate", {"rate_per_s": 1e12}), ("stale", {"after_s": 3600})]  # fmt: skip
    rules = []
    for i in range(RULES):
        kind, level = kinds[i % len(kinds)]
        sensor = "env" if i < on_env else f"idle{i % IDLE_SENSORS}"
        rules.append({"id": f"r{i}", "sensor": sensor, "field": fields[i % len(fields)], "when": kind,
                      "hysteresis": 0.5, "for_s": 5, **level})  # fmt: skip
    return {"sensors": sensors, "rules": rules}


# -- servers (run in a child process) ------------------------------------------------------------------------


async def producer(publish: Any, flush: Any, rate: float, batch: int, duration_s: float) -> None:
    """Publish ``rate`` readings/s (0: as fast as possible) in groups of ``batch``, for ``duration_s``.

    Both servers' ``publish`` take the reading's values as their argument, as a driver hands them over."""
    loop = asyncio.get_running_loop()
    end = loop.time() + duration_s
    period = batch / rate if rate else 0.0
    nxt = loop.time()
    while loop.time() < end:
        for _ in range(batch):
            publish(VALUES)
        flush()
        if period:
            nxt += period
            await asyncio.sleep(max(0.0, nxt - loop.time()))
        else:
            await asyncio.sleep(0)


async def serve_sensorcast(
    port: int, rate: float, batch: int, duration_s: float, flush_ms: int, rules_on_env: int = -1
) -> None:
    import tempfile

    from gateway.app import GatewayApp
    from gateway.config import parse_config

    # Throughput runs (rate 0) batch by size: batch_size readings per frame, the timer never due. History is on
    # (the default), in a throwaway directory.
    cfg = parse_config(
        {
            "gateway": {
                "id": "bench",
                "data_dir": tempfile.mkdtemp(prefix="sensorcast-bench-fanout-"),
                "port": port,
                "flush_interval_ms": flush_ms if rate else 10000,
                "batch_size": batch if not rate else 10000,
                "ring_size": 4096,
            },
            # SENSORCAST_BENCH_HISTORY=off: the same run without the history store, to compare the live path.
            "history": {"enabled": os.environ.get("SENSORCAST_BENCH_HISTORY", "on") != "off"},
            "limits": {
                "max_clients": 500,
                "client_buffer_frames": 100000,
                "client_hard_limit_bytes": 2**31,
                "client_stall_s": 3600.0,
            },
            **(rules_config(rules_on_env) if rules_on_env >= 0 else {}),
        }
    )
    async with GatewayApp(cfg) as app:
        hub = app.hub
        print("READY", flush=True)
        await wait_for_go()
        await producer(
            hub.publisher("env"),  # what a SensorRunner calls, once per reading
            lambda: None,  # the hub flushes by itself: at batch_size readings, or when the flush timer is due
            rate,
            batch,
            duration_s,
        )
        await asyncio.sleep(0.5)


async def serve_raw(port: int, rate: float, batch: int, duration_s: float, flush_ms: int) -> None:
    """The baseline: the same readings, batched the same way, pushed with websockets.broadcast()."""
    explicit = flush_ms == 0 or rate == 0

    async def produce(server: _clients.RawServer) -> None:
        await wait_for_go()
        await producer(server.publish, server.flush if explicit else (lambda: None), rate, batch, duration_s)
        await asyncio.sleep(0.5)

    await _clients.raw_server(port, 0 if explicit else flush_ms, produce)


async def wait_for_go() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


# -- orchestration -------------------------------------------------------------------------------------------


def spawn(*args: str) -> subprocess.Popen[str]:
    """A server process (on CPU 0 alone with ``--pin``: its threads - the history writer too - share that core)."""
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=pinned(0 if PIN[0] else None),
    )


def measure(
    kind: str,
    clients: int,
    rate: float,
    batch: int,
    seconds: float,
    flush_ms: int,
    decode: bool,
    rules_on_env: int = -1,
) -> dict[str, Any]:
    """One run: a server of ``kind``, ``clients`` clients, for ``seconds``; returns rates, CPU and latency.
    ``rules_on_env`` >= 0: sensorcast runs with :data:`RULES` rules, that many on the published sensor."""
    port = free_port()
    server = spawn(
        "--serve",
        kind,
        "--port",
        str(port),
        "--rate",
        str(rate),
        "--batch",
        str(batch),
        "--duration",
        str(seconds + 3),
        "--flush-ms",
        str(flush_ms),
        "--rules-on-env",
        str(rules_on_env),
    )
    expect(server, "READY")
    client = spawn_clients(port, clients, seconds, latency=decode, cpu=1 if PIN[0] else None)
    try:
        expect(client, "CONNECTED")
        ps = psutil.Process(server.pid)
        go(server)
        time.sleep(1.0)  # warm-up: producer running, buffers filled
        cpu0 = ps.cpu_times()
        t0 = time.perf_counter()
        go(client)
        out = result(client)
        cpu1 = ps.cpu_times()
        wall = time.perf_counter() - t0
        out["cpu_pct"] = 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall
        return out
    finally:
        stop(client, server)


def demo_footprint(clients: int) -> dict[str, float]:
    """Start the real demo; time to first data frame, then RSS with ``clients`` clients connected."""
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    async def first_frame() -> float:
        while True:
            try:
                async with connect(f"ws://127.0.0.1:{port}/") as ws:
                    async for msg in ws:
                        if isinstance(msg, bytes) and msg.startswith(DATA_PREFIX):
                            return time.perf_counter() - t0
            except OSError:
                await asyncio.sleep(0.02)
        raise AssertionError("unreachable")

    async def hold(n: int) -> float:
        conns = [await connect(f"ws://127.0.0.1:{port}/") for _ in range(n)]

        async def drain(ws: Any) -> None:
            async for _ in ws:
                pass

        tasks = [asyncio.create_task(drain(c)) for c in conns]
        await asyncio.sleep(5)
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
        for t in tasks:
            t.cancel()
        for c in conns:
            await c.close()
        return float(rss)

    try:
        first = asyncio.run(asyncio.wait_for(first_frame(), 30))
        rss = asyncio.run(hold(clients))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    return {"first_frame_s": first, "rss_mib": rss}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter measurement windows")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--serve", choices=["sensorcast", "raw"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=50, help=argparse.SUPPRESS)
    ap.add_argument("--duration", type=float, default=10, help=argparse.SUPPRESS)
    ap.add_argument("--flush-ms", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--rules", action="store_true", help=f"only the rows with {RULES} local rules configured")
    ap.add_argument("--rules-on-env", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=can_pin(),
        help="servers on CPU 0, clients on CPU 1 (default where there are two CPUs; --no-pin: as before 2026-12-05)",
    )
    args = ap.parse_args()
    PIN[0] = args.pin and not args.serve
    if args.serve == "sensorcast":
        asyncio.run(
            serve_sensorcast(
                args.port, args.rate, args.batch, args.duration, args.flush_ms, args.rules_on_env
            )
        )
        return 0
    if args.serve:
        asyncio.run(serve_raw(args.port, args.rate, args.batch, args.duration, args.flush_ms))
        return 0
    secs = 3.0 if args.quick else 6.0
    rows: list[tuple[str, str, str, str, str]] = []
    results: dict[str, Any] = {}

    def row(name: str, ours: float, raw: float | None, unit: str, target: str) -> None:
        ratio = f"{ours / raw:.2f}x" if raw else "-"
        rows.append(
            (name, f"{ours:,.1f} {unit}", f"{raw:,.1f} {unit}" if raw is not None else "-", ratio, target)
        )
        results[name] = {"sensorcast": ours, "raw": raw, "unit": unit, "target": target}
        print(
            f"  {name}: sensorcast {ours:,.1f} {unit}" + (f", raw {raw:,.1f} ({ratio})" if raw else ""),
            file=sys.stderr,
            flush=True,
        )

    if args.rules:
        print(
            f"[bench] fan-out with {RULES} rules, 10 clients, batch 50, {secs:g} s per run, {RULES_RUNS} runs,"
            f" {'pinned (servers CPU 0, clients CPU 1)' if PIN[0] else 'unpinned'}",
            file=sys.stderr,
        )
        variants = {
            "no rules": -1,
            f"{RULES} rules, none on the sensor": 0,
            f"{RULES} rules, 5 on the sensor": 5,
        }
        runs = {name: [] for name in [*variants, "raw"]}
        for _ in range(RULES_RUNS):  # alternated, so a change in the machine's load hits every variant alike
            for name, on_env in variants.items():
                runs[name].append(measure("sensorcast", 10, 0, 50, secs, 0, False, on_env)["readings_per_s"])
            runs["raw"].append(measure("raw", 10, 0, 50, secs, 0, False)["readings_per_s"])
        raw = statistics.median(runs["raw"])
        for name, rates in runs.items():  # the spread behind each median
            print(f"  {name}: runs {', '.join(f'{r / 1e6:.2f}' for r in rates)} M r/s", file=sys.stderr)
        for name in variants:
            row(
                f"delivered readings/s, 10 clients, {name}",
                statistics.median(runs[name]),
                raw,
                "r/s",
                ">= 0.87x raw",
            )
        print_table(rows)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
        return 0

    print(
        f"[bench] fan-out throughput, batch 50 readings/frame, {secs:g} s per run,"
        f" {'pinned (servers CPU 0, clients CPU 1)' if PIN[0] else 'unpinned'}",
        file=sys.stderr,
    )
    for n in (1, 10, 100):
        runs: dict[str, list[float]] = {"sensorcast": [], "raw": []}
        for _ in range(RUNS):  # alternated, so a change in the machine's load hits both alike
            for kind, rates in runs.items():
                rates.append(measure(kind, n, 0, 50, secs, 0, False)["readings_per_s"])
        ours, raw = statistics.median(runs["sensorcast"]), statistics.median(runs["raw"])
        row(f"delivered readings/s, {n} client(s)", ours, raw, "r/s", ">= 0.87x raw")
    print("[bench] 1000 readings/s to 10 clients, flush_interval_ms=20", file=sys.stderr)
    ours_r = measure("sensorcast", 10, 1000, 10, secs * 2, 20, True)
    raw_r = measure("raw", 10, 1000, 10, secs * 2, 20, True)
    row("server CPU, 1000 r/s to 10 clients", ours_r["cpu_pct"], raw_r["cpu_pct"], "% core", "<= 7 %")
    row("one-way latency p50", ours_r["p50_ms"], raw_r["p50_ms"], "ms", "-")
    row("one-way latency p99", ours_r["p99_ms"], raw_r["p99_ms"], "ms", "<= 22 ms (flush + 2)")
    print("[bench] demo footprint", file=sys.stderr)
    fp = demo_footprint(10)
    row("demo RSS with 10 clients", fp["rss_mib"], None, "MiB", "<= 40 MiB")
    row("demo start to first data frame", fp["first_frame_s"], None, "s", "<= 1.5 s")

    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    header = ("measure", "sensorcast", "raw broadcast", "ratio", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    raise SystemExit(main())
