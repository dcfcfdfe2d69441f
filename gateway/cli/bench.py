"""``sensorcast bench``: the same reading stream through the WebSocket path and through MQTT, side by side.

For each path a fresh gateway process runs synthetic sensors at ``--rate`` readings/s; ``--clients`` consumers
(WebSocket clients, or paho subscribers behind a Mosquitto broker that this command starts on a free loopback
port unless ``--mqtt URL`` is given) receive everything. One table compares delivered readings/s, one-way
latency (reading timestamp -> consumer), bytes on the wire per reading and consumer, the gateway's CPU and
loss. Everything runs on this machine (127.0.0.1) and is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gateway.cli.bench_clients import Result, format_table, merge, write_png

HELP = "compare the WebSocket and MQTT paths: readings/s, latency, bytes/reading, gateway CPU, loss"
MODES = ("ws", "mqtt-qos1", "mqtt-qos0")
FIELDS = ["temperature_c", "pressure_pa", "humidity_pct"]
DRAIN_S = 3.0
"""After the window, consumers get this long to receive readings stamped inside it."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``bench``'s options."""
    p.add_argument("--rate", type=float, default=1000.0, help="readings per second produced (default 1000)")
    p.add_argument("--clients", type=int, default=10, help="consumers per path (default 10)")
    p.add_argument("--duration", type=float, default=10.0, help="measurement window per path, s (default 10)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds before the window opens (default 2)")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {', '.join(MODES)}")
    p.add_argument("--mqtt", metavar="URL", help="use this broker instead of starting Mosquitto")
    p.add_argument(
        "--payload",
        choices=["msgpack", "json"],
        default="msgpack",
        help="MQTT payload (msgpack: the same bytes as the WebSocket path)",
    )
    p.add_argument("--mosquitto", default="/usr/sbin/mosquitto", help="broker binary to start")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--png", metavar="FILE", help="write a latency/throughput plot (needs matplotlib)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gateway_toml(args: argparse.Namespace, data_dir: Path, mode: str, mqtt_url: str | None) -> str:
    n = max(1, math.ceil(args.rate / 100))  # at most 100 Hz per synthetic sensor
    lines = [
        "[gateway]",
        'id = "bench"',
        f'data_dir = "{data_dir}"',
        "",
        "[limits]",
        f"max_clients = {args.clients + 8}",
        "",
    ]
    for i in range(n):
        lines += [
            "[[sensors]]",
            f'id = "load{i}"',
            'driver = "synthetic"',
            f"interval_s = {n / args.rate!r}",
            f"fields = {json.dumps(FIELDS)}",
            "",
        ]
    if mode.startswith("mqtt"):
        lines += [
            "[mqtt]",
            f'url = "{mqtt_url}"',
            f"qos = {1 if mode == 'mqtt-qos1' else 0}",
            f'payload = "{args.payload}"',
            "discovery = false",
            "max_rate_hz = 0",  # the pipeline's throughput, not the Home Assistant rate limit
            "",
        ]
    return "\n".join(lines)


async def _start_gateway(config: Path, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        "run",
        "--config",
        str(config),
        "--port",
        "0",
        "--log-level",
        "warning",
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("wb"),
    )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while line := (await proc.stdout.readline()).decode():
            if line.startswith("WebSocket: "):
                return proc, line.split(" ", 1)[1].strip()
    raise RuntimeError(f"the gateway did not start; see {log}")


def _start_mosquitto(binary: str, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"user {pwd.getpwuid(os.getuid()).pw_name}\nlistener {port} 127.0.0.1\n"
        "allow_anonymous true\npersistence false\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, port
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    _stop(proc.pid)
    raise RuntimeError(f"{binary} did not start")


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


async def _gateway_seq(health_url: str) -> int:
    """The last seq the gateway handed to its consumers (from /healthz), so lagging consumers cannot hide
    readings from the count."""
    import urllib.error
    import urllib.request

    def fetch() -> int:
        try:
            with urllib.request.urlopen(health_url, timeout=5) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:  # 503 "degraded" still carries the document
            body = exc.read()
        return int(json.loads(body)["seq"])

    return await asyncio.to_thread(fetch)


def _cpu_s(pid: int | None) -> float:
    if pid is None:
        return 0.0
    import psutil

    with contextlib.suppress(psutil.Error):
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    return 0.0


async def _consumers(mode: str, target: str, args: argparse.Namespace, log: Path) -> list[Any]:
    """Start the consumers in their own processes (one per CPU at most), so their work neither shares the
    gateway's CPU accounting nor serialises on one interpreter; return once every consumer receives data."""
    nproc = max(1, min(args.clients, os.cpu_count() or 1))
    counts = [args.clients // nproc + (1 if i < args.clients % nproc else 0) for i in range(nproc)]
    procs = []
    for k in counts:
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway.cli.bench_clients",
                mode,
                target,
                str(k),
                args.payload,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log.open("ab"),
                limit=64 * 1024 * 1024,  # the summary line carries latency samples
            )
        )
    for p in procs:
        assert p.stdout is not None
        async with asyncio.timeout(40):
            if (await p.stdout.readline()).strip() != b"ready":
                raise RuntimeError(f"a {mode} consumer failed to start; see {log}")
    return procs


async def _collect(procs: list[Any], lo: int, hi: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in procs:
        p.stdin.write(f"{lo} {hi}\n".encode())
        await p.stdin.drain()
    for p in procs:
        async with asyncio.timeout(30):
            out += json.loads(await p.stdout.readline())
        await p.wait()
    return out


async def run_mode(
    mode: str, args: argparse.Namespace, workdir: Path, broker: tuple[str, int, int | None]
) -> Result:
    """Run one path: start its gateway and consumers, measure, stop everything it started (by PID)."""
    host, port, broker_pid = broker
    data_dir = workdir / f"data-{mode}"
    config = workdir / f"{mode}.toml"
    config.write_text(_gateway_toml(args, data_dir, mode, f"mqtt://{host}:{port}"))
    proc, url = await _start_gateway(config, workdir / f"{mode}.log")
    consumers: list[Any] = []
    try:
        consumers = await _consumers(
            mode, url if mode == "ws" else f"mqtt://{host}:{port}", args, workdir / f"{mode}-consumers.log"
        )
        await asyncio.sleep(args.warmup)
        health_url = url.replace("ws://", "http://").replace("wss://", "https://") + "healthz"
        lo = await _gateway_seq(health_url) + 1
        t0, cpu0, bcpu0 = time.monotonic(), _cpu_s(proc.pid), _cpu_s(broker_pid)
        while (elapsed := time.monotonic() - t0) < args.duration:
            await asyncio.sleep(min(1.0, args.duration - elapsed))
            rate = (await _gateway_seq(health_url) - lo + 1) / max(1e-9, time.monotonic() - t0)
            print(
                f"  [{mode}] {time.monotonic() - t0:4.1f}/{args.duration:g} s  gateway produces "
                f"{rate:7.0f} readings/s to {args.clients} consumers",
                file=sys.stderr,
                flush=True,
            )
        hi = await _gateway_seq(health_url)
        wall_s = time.monotonic() - t0
        cpu = (_cpu_s(proc.pid) - cpu0) / wall_s * 100
        bcpu = (_cpu_s(broker_pid) - bcpu0) / wall_s * 100 if broker_pid and mode != "ws" else None
        await asyncio.sleep(DRAIN_S)
        clients = await _collect(consumers, lo, hi)
    finally:
        for c in consumers:
            if c.returncode is None:
                _stop(c.pid)
                await c.wait()
        _stop(proc.pid)
        await proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
    return merge(mode, clients, lo, hi, wall_s, cpu, bcpu)


async def _bench(args: argparse.Namespace, modes: list[str]) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="sensorcast-bench-") as tmp:
        workdir = Path(tmp)
        broker_proc = None
        host, port, broker_pid = "127.0.0.1", 0, None
        try:
            if any(m.startswith("mqtt") for m in modes):
                if args.mqtt:
                    from bridges.mqtt.config import config_from_url

                    cfg = config_from_url(args.mqtt)
                    host, port = cfg.host, cfg.broker_port
                else:
                    broker_proc, port = _start_mosquitto(args.mosquitto, workdir)
                    broker_pid = broker_proc.pid
                    print(f"  Mosquitto (pid {broker_pid}) on 127.0.0.1:{port}", file=sys.stderr)
            for mode in modes:
                print(
                    f"{mode}: {args.rate:g} readings/s to {args.clients} clients for {args.duration:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(await run_mode(mode, args, workdir, (host, port, broker_pid)))
        finally:
            if broker_proc is not None:
                _stop(broker_proc.pid)
                broker_proc.wait(10)
    return results


def main(args: argparse.Namespace, into: list[Result] | None = None) -> int:
    """Entry point of ``sensorcast bench``; ``into`` (for scripts) receives the result rows."""
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        print(
            f"sensorcast bench: --modes: expected a subset of {', '.join(MODES)}, got {args.modes!r}",
            file=sys.stderr,
        )
        return 2
    if args.rate <= 0 or args.clients < 1 or args.duration <= 0 or args.warmup < 0:
        print("sensorcast bench: --rate, --clients and --duration must be positive", file=sys.stderr)
        return 2
    if any(m.startswith("mqtt") for m in modes) and not args.mqtt and not os.access(args.mosquitto, os.X_OK):
        print(
            f"sensorcast bench: {args.mosquitto} not found; install mosquitto or pass --mqtt URL",
            file=sys.stderr,
        )
        return 2
    try:
        import psutil  # noqa: F401 - the gateway's CPU time, read after the run
    except ModuleNotFoundError:
        print("sensorcast bench: needs psutil (pip install 'sensorcast[bench]')", file=sys.stderr)
        return 2
    if args.png:
        try:
            import matplotlib  # noqa: F401
        except ModuleNotFoundError:
            print(
                "sensorcast bench: --png needs matplotlib (pip install 'sensorcast[plot]')", file=sys.stderr
            )
            return 2
    try:
        results = asyncio.run(_bench(args, modes))
    except (RuntimeError, OSError) as exc:
        print(f"sensorcast bench: {exc}", file=sys.stderr)
        return 1
    print(format_table(results))
    if into is not None:
        into.extend(results)
    title = (
        f"{args.rate:g} readings/s, {args.clients} clients, {args.duration:g} s, MQTT payload {args.payload}"
    )
    if args.json:
        doc = {
            "command": "sensorcast bench " + " ".join(sys.argv[2:]),
            "title": title,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "results": [asdict(r) for r in results],
        }
        Path(args.json).write_text(json.dumps(doc, indent=1, default=str) + "\n")
    if args.png:
        write_png(args.png, results, title)
    return 0
