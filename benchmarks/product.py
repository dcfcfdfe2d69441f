"""Product benchmark: the real ``sensorcast run`` process (``python -m gateway run``) with sensors polled
through the poller, next to a raw baseline that produces the same readings from tasks in its own event loop
(same batching: a 20 ms flush window, ``websockets.broadcast()``), measured in one run.

    .venv/bin/python benchmarks/product.py              # rates 1000 and 5000 r/s, saturation, idle latency
    .venv/bin/python benchmarks/product.py --rates 500,1000,2000,5000,10000 --runs 3
    .venv/bin/python benchmarks/product.py --rates "" --client-rows 1,100,200 --idle-rate 0 --no-saturation

``benchmarks/fanout.py`` measures the hub and the fan-out fed directly (the second, inner table); this one
measures what a user starts. (Not named ``gateway.py``: a script in benchmarks/ of that name would shadow the
``gateway`` package for the other benchmarks, which run with benchmarks/ first on ``sys.path``.) Each row
alternates product and raw runs and shows the median of ``--runs``. CPU is user + system time of the server
process over the window; context switches are the sum of ``voluntary_ctxt_switches`` over the process's threads
(``/proc/PID/task/*/status``). Loopback only; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import psutil
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _clients
from _clients import DATA_PREFIX, ROOT, expect, free_port, go, result, spawn_clients, stop, wait_listening

SENSORS = 10
"""Synthetic sensors sharing the rate (each polls at rate / SENSORS Hz): 10, as in issue 13's measurements."""
FIELDS = ["temperature_c", "pressure_pa", "humidity_pct"]
SATURATION_RATE = 40000.0
"""Asked-for rate of the saturation row (readings/s): well above what either server delivers here."""
SATURATION_SENSORS = 100
"""Sensors of the saturation row (400 Hz each): a poll grid of 2.5 ms, above the event loop's timer resolution
(epoll waits in whole milliseconds), so what limits the rate is CPU, not the timers."""


def sensor_count(rate: float) -> int:
    return SATURATION_SENSORS if rate >= SATURATION_RATE else SENSORS


def product_config(path: Path, rate: float, i2c: str) -> None:
    """A TOML config: synthetic sensors sharing ``rate``; with ``i2c``, emulated BME280s on one bus."""
    lines = ['[gateway]\nid = "bench"\n', "[limits]\nmax_clients = 500\n"]
    n = sensor_count(rate)
    interval = n / rate
    for i in range(n):
        lines.append(
            f'[[sensors]]\nid = "s{i}"\ndriver = "synthetic"\ninterval_s = {interval!r}\n'
            f"fields = {json.dumps(FIELDS)}\n"
        )
    if i2c:
        for i, addr in enumerate((0x76, 0x77)):
            lines.append(
                f'[[sensors]]\nid = "env{i}"\ndriver = "bme280"\ninterval_s = 0.02\nbus = 1\naddress = {addr}\n'
                "simulate = true\n"
            )
    path.write_text("\n".join(lines))


async def serve_raw(port: int, rate: float, flush_ms: int, i2c: str) -> None:
    """The baseline: ``SENSORS`` tasks on a fixed poll grid, one reading each per tick, batched per flush window.
    ``i2c`` "tasks": two more tasks at 50 Hz in the loop; "chips": the same two emulated BME280s as the product,
    read by a thread of its own on a 20 ms grid that hands each tick's readings to the loop at once."""
    loop = asyncio.get_running_loop()

    async def sensor(server: _clients.RawServer, sid: str, interval: float) -> None:
        n = 0
        due = loop.time()
        while True:
            n += 1
            t = time.monotonic()
            values = {f: round(math.sin(2 * math.pi * t / (10.0 * (i + 1))), 6) for i, f in enumerate(FIELDS)}
            values["n"] = n
            server.publish(values, sid)
            due += interval
            now = loop.time()
            due = max(due, now)
            await asyncio.sleep(due - now)

    def publish_tick(server: _clients.RawServer, readings: list[tuple[str, dict[str, Any], int]]) -> None:
        for sid, values, ts_ns in readings:
            server.publish(values, sid, ts_ns)

    def read_chips(server: _clients.RawServer) -> None:
        from sensors.registry import sensor_factory
        from sensors.sim.emulators import context_with_emulators
        from sensors.spec import DeviceSpec

        ctx = context_with_emulators(simulate=True)
        factory = sensor_factory("bme280")
        assert factory is not None
        chips = [
            (sid, factory(DeviceSpec(sid, "bme280", f"sensors[{i}]", 0.02, True, {"address": addr}), ctx))
            for i, (sid, addr) in enumerate((("env0", 0x76), ("env1", 0x77)))
        ]
        for _, chip in chips:
            chip.open()
        due = time.monotonic()
        while True:
            tick = [(sid, dict(chip.read()), time.time_ns()) for sid, chip in chips]
            loop.call_soon_threadsafe(publish_tick, server, tick)
            due += 0.02
            now = time.monotonic()
            due = max(due, now)
            time.sleep(due - now)

    async def produce(server: _clients.RawServer) -> None:
        n = sensor_count(rate)
        specs = [(f"s{i}", n / rate) for i in range(n)]
        if i2c == "tasks":
            specs += [("env0", 0.02), ("env1", 0.02)]
        elif i2c == "chips":
            threading.Thread(target=read_chips, args=(server,), name="raw-bus", daemon=True).start()
        tasks = [asyncio.create_task(sensor(server, s, iv)) for s, iv in specs]
        await asyncio.Event().wait()
        for t in tasks:  # pragma: no cover - SIGTERM ends the process
            t.cancel()

    await _clients.raw_server(port, flush_ms, produce)


async def count_per_sensor(port: int, seconds: float) -> dict[str, tuple[float | None, float]]:
    """One client on the demo: each sensor's advertised ``rate_hz`` and the readings/s it delivered."""
    counts: dict[str, int] = {}
    async with connect(f"ws://127.0.0.1:{port}/", max_size=2**24, compression=None) as ws:
        hello = msgpack.unpackb(await ws.recv())
        advertised = {s["id"]: s["rate_hz"] for s in hello["sensors"]}
        # Count the readings stamped within a window that starts once the sensors are up (open, conversions).
        t0_ns = time.time_ns() + 2_000_000_000
        t1_ns = t0_ns + int(seconds * 1e9)
        async with asyncio.timeout(seconds + 8):
            while time.time_ns() < t1_ns + 500_000_000:  # readings stamped before t1 may still be in flight
                msg = await ws.recv()
                if isinstance(msg, bytes) and msg.startswith(DATA_PREFIX):
                    for r in msgpack.unpackb(msg)["r"]:
                        if t0_ns <= r[2] < t1_ns:
                            counts[r[3]] = counts.get(r[3], 0) + 1
    return {sid: (rate, counts.get(sid, 0) / seconds) for sid, rate in advertised.items()}


def demo_rates(seconds: float) -> None:
    """Start the real demo (``sensorcast run`` without a config) and print each sensor's rates."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "run", "--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        ps = psutil.Process(server.pid)
        cpu0, cs0, t0 = ps.cpu_times(), ctx_switches(server.pid), time.perf_counter()
        rates = asyncio.run(count_per_sensor(port, seconds))
        cpu1, cs1, wall = ps.cpu_times(), ctx_switches(server.pid), time.perf_counter() - t0
    finally:
        stop(server)
    cpu = 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall
    print(f"# the demo, one client, {seconds:g} s: CPU {cpu:.1f} %, {(cs1 - cs0) / wall:.0f} ctx switches/s")
    print(f"{'sensor':12} {'rate_hz (hello)':>16} {'delivered r/s':>14}")
    for sid, (rate, got) in sorted(rates.items()):
        print(f"{sid:12} {'-' if rate is None else f'{rate:.2f}':>16} {got:14.2f}")


def ctx_switches(pid: int) -> int:
    """Voluntary context switches of every live thread of ``pid``."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except OSError:
            pass  # the thread ended meanwhile
    return total


def measure(kind: str, rate: float, clients: int, seconds: float, i2c: str = "") -> dict[str, Any]:
    """One run of ``kind`` (``sensorcast`` or ``raw``): CPU %, ctx switches/s, delivered rate, latency."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if kind == "sensorcast":
            cfg = Path(tmp) / "bench.toml"
            product_config(cfg, rate, i2c)
            argv = [sys.executable, "-m", "gateway", "run", "--config", str(cfg), "--port", str(port)]
            argv += ["--log-level", "warning"]
        else:
            argv = [sys.executable, __file__, "--serve-raw", "--port", str(port), "--rate", str(rate)]
            argv += ["--i2c", i2c] if i2c else []
        server = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = None
        try:
            wait_listening(port)
            client = spawn_clients(port, clients, seconds)
            expect(client, "CONNECTED")
            time.sleep(1.0)  # warm-up
            ps = psutil.Process(server.pid)
            cpu0, cs0, t0 = ps.cpu_times(), ctx_switches(server.pid), time.perf_counter()
            go(client)
            out = result(client)
            cpu1, cs1, wall = ps.cpu_times(), ctx_switches(server.pid), time.perf_counter() - t0
            out["cpu_pct"] = 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / wall
            out["ctx_per_s"] = (cs1 - cs0) / wall
            out["readings_per_s"] /= clients  # per client
            return out
        finally:
            stop(client, server)


def median_of(kind_runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r.get(key, float("nan")) for r in kind_runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="1000,5000", help="comma-separated readings/s rows (10 clients)")
    ap.add_argument("--clients", type=int, default=10, help="clients of the rate rows")
    ap.add_argument(
        "--client-rows", default="", help="comma-separated client counts: rows at 1000 r/s (e.g. 1,100,200)"
    )
    ap.add_argument("--runs", type=int, default=3, help="alternated runs per row and server (median shown)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--no-saturation", action="store_true")
    ap.add_argument("--idle-rate", type=float, default=100.0, help="the low-rate latency row (0: skip)")
    ap.add_argument(
        "--i2c",
        nargs="?",
        const="both",
        default="",
        help="also rows with 2 emulated BME280s at 50 Hz on one bus; the raw server runs 2 more tasks (tasks),"
        " or reads the same emulated chips in a thread (chips), or both rows (the default)",
    )
    ap.add_argument(
        "--demo-rates", action="store_true", help="only: each demo sensor's advertised and real rate"
    )
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--serve-raw", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_raw:
        asyncio.run(serve_raw(args.port, args.rate, 20, args.i2c))
        return 0
    if args.demo_rates:
        demo_rates(max(args.seconds, 10.0))
        return 0

    n = args.clients
    rows: list[tuple[str, float, int, str]] = []
    if args.idle_rate:
        rows.append((f"{args.idle_rate:g} r/s", args.idle_rate, n, ""))
    rows += [(f"{r} r/s", float(r), n, "") for r in args.rates.split(",") if r]
    rows += [(f"1000 r/s x {c} clients", 1000.0, int(c), "") for c in args.client_rows.split(",") if c]
    if args.i2c in ("tasks", "both"):
        rows.append(("1000 r/s + 2 I2C @50 Hz", 1000.0, n, "tasks"))
    if args.i2c in ("chips", "both"):
        rows.append(("same, raw reads the chips", 1000.0, n, "chips"))
    if not args.no_saturation:
        rows.append(("saturation (100 x 400 Hz)", SATURATION_RATE, n, ""))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    header = (
        f"{'row':28} {'server':10} {'r/s/client':>10} {'CPU %':>7} {'ctx/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
    )
    print(f"# {n} clients unless said, median of {args.runs} alternated runs, {args.seconds:g} s windows")
    print(header)
    for name, rate, clients, i2c in rows:
        runs: dict[str, list[dict[str, Any]]] = {"sensorcast": [], "raw": []}
        for _ in range(args.runs):
            for kind in ("sensorcast", "raw"):
                runs[kind].append(measure(kind, rate, clients, args.seconds, i2c))
        results[name] = runs
        for kind in ("sensorcast", "raw"):
            r = runs[kind]
            cpus = sorted(x["cpu_pct"] for x in r)
            ctxs = sorted(x["ctx_per_s"] for x in r)
            print(
                f"{name:28} {kind:10} {median_of(r, 'readings_per_s'):10.0f} {median_of(r, 'cpu_pct'):7.1f}"
                f" {median_of(r, 'ctx_per_s'):8.0f} {median_of(r, 'p50_ms'):7.2f} {median_of(r, 'p99_ms'):7.2f}"
                f"   (CPU runs {', '.join(f'{c:.1f}' for c in cpus)}; ctx/s {', '.join(f'{c:.0f}' for c in ctxs)})"
            )
        s, b = runs["sensorcast"], runs["raw"]
        print(
            f"{name:28} {'ratio':10} {median_of(s, 'readings_per_s') / median_of(b, 'readings_per_s'):10.2f}x"
            f"{median_of(s, 'cpu_pct') / median_of(b, 'cpu_pct'):6.2f}x"
            f" {median_of(s, 'ctx_per_s') / max(1.0, median_of(b, 'ctx_per_s')):7.2f}x",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
