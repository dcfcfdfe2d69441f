"""QoS 1 publish-first vs QoS 0, on the real gateway: one-way latency and bytes written to disk.

    .venv/bin/python benchmarks/mqtt_qos1.py                      # 500 readings/s, 2 subscribers, 10 s, 3 rounds
    .venv/bin/python benchmarks/mqtt_qos1.py --rate 1000 --duration 5 --rounds 2
    .venv/bin/python benchmarks/mqtt_qos1.py --settings qos0,qos1 --duration 300 --rounds 1   # disk over 5 min

Per round and setting, a fresh ``python -m gateway run`` (synthetic sensors at ``--rate``, history off so the
only writer is the MQTT bridge), ``--clients`` MQTT 5 subscribers in their own processes (``sensorcast
bench``'s consumers) and one Mosquitto (started on a free loopback port, stopped by PID). The settings run
alternately in every round (QoS 0 is the baseline of the same run): QoS 0; QoS 1 with the default
``ack_window_ms``; QoS 1 with ``ack_window_ms = 0`` (every reading unacknowledged at a commit is written).
Columns: latency reading timestamp -> subscriber (p50/p99), loss, the gateway's ``write_bytes`` from
``/proc/PID/io`` over the window (what it sent to the block layer) as MB per hour, and readings the bridge
wrote to its outbox (``sensorcast_mqtt_outbox_written_total``) per hour. Bounded by --duration per setting.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.cli import bench
from gateway.cli.bench_clients import Result, merge

SETTINGS: dict[str, tuple[str, str]] = {
    "qos0": ("mqtt-qos0", ""),
    "qos1": ("mqtt-qos1", ""),
    "qos1 window 0": ("mqtt-qos1", "ack_window_ms = 0\n"),
}
"""Label -> (``sensorcast bench`` mode, extra [mqtt] keys)."""


def _write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/PID/io")


def _metric(metrics_url: str, name: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


async def run_setting(
    label: str, args: argparse.Namespace, workdir: Path, port: int, broker_pid: int
) -> tuple[Result, float, float]:
    """One gateway with one setting; returns its row, MB written per hour and outbox rows written per hour."""
    mode, extra = SETTINGS[label]
    tag = label.replace(" ", "-")
    data_dir = workdir / f"data-{tag}"
    config = workdir / f"{tag}.toml"
    config.write_text(
        bench._gateway_toml(args, data_dir, mode, f"mqtt://127.0.0.1:{port}")
        + extra
        + "\n[history]\nenabled = false\n"
    )
    proc, url = await bench._start_gateway(config, workdir / f"{tag}.log")
    consumers = []
    try:
        consumers = await bench._consumers(
            mode, f"mqtt://127.0.0.1:{port}", args, workdir / f"{tag}-consumers.log"
        )
        await asyncio.sleep(args.warmup)
        http = url.replace("ws://", "http://")
        lo = await bench._gateway_seq(http + "healthz") + 1
        t0, cpu0, io0 = time.monotonic(), bench._cpu_s(proc.pid), _write_bytes(proc.pid)
        w0 = await asyncio.to_thread(_metric, http + "metrics", "sensorcast_mqtt_outbox_written_total")
        await asyncio.sleep(args.duration)
        hi = await bench._gateway_seq(http + "healthz")
        wall_s = time.monotonic() - t0
        io1, cpu1 = _write_bytes(proc.pid), bench._cpu_s(proc.pid)
        w1 = await asyncio.to_thread(_metric, http + "metrics", "sensorcast_mqtt_outbox_written_total")
        await asyncio.sleep(bench.DRAIN_S)
        clients = await bench._collect(consumers, lo, hi)
    finally:
        for c in consumers:
            if c.returncode is None:
                bench._stop(c.pid)
                await c.wait()
        bench._stop(proc.pid)
        await proc.wait()
    row = merge(label, clients, lo, hi, wall_s, (cpu1 - cpu0) / wall_s * 100, None)
    return row, (io1 - io0) / wall_s * 3600 / 1e6, (w1 - w0) / wall_s * 3600


async def main_async(args: argparse.Namespace) -> int:
    rows: list[tuple[int, Result, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="sensorcast-qos1-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        broker, port = bench._start_mosquitto(args.mosquitto, workdir)
        try:
            for rnd in range(1, args.rounds + 1):
                order = (
                    args.settings if rnd % 2 else list(reversed(args.settings))
                )  # alternate who goes first
                for label in order:
                    print(f"round {rnd}: {label}", file=sys.stderr, flush=True)
                    row, mb_h, written_h = await run_setting(label, args, workdir, port, broker.pid)
                    rows.append((rnd, row, mb_h, written_h))
        finally:
            bench._stop(broker.pid)
            broker.wait(10)
    head = f"{'round':>5}  {'setting':<14}{'produced/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'loss %':>8}"
    print(f"{head}{'gw CPU %':>9}{'disk MB/h':>11}{'outbox rows/h':>15}")
    for rnd, r, mb_h, written_h in rows:
        print(
            f"{rnd:>5}  {r.mode:<14}{r.produced_per_s:>11.0f}{r.p50_ms:>8.2f}{r.p99_ms:>8.2f}{r.loss_pct:>8.2f}"
            f"{r.gateway_cpu_pct:>9.1f}{mb_h:>11.2f}{written_h:>15.0f}"
        )
    print()
    print(f"{'setting':<14}{'p50 ms median (min-max)':>26}{'disk MB/h median (min-max)':>30}")
    for label in args.settings:
        p50 = [r.p50_ms for _, r, _, _ in rows if r.mode == label]
        mb = [m for _, r, m, _ in rows if r.mode == label]
        print(
            f"{label:<14}{statistics.median(p50):>10.2f} ({min(p50):.2f}-{max(p50):.2f}){'':>4}"
            f"{statistics.median(mb):>12.2f} ({min(mb):.2f}-{max(mb):.2f})"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="readings per second (default 500)")
    parser.add_argument("--clients", type=int, default=2, help="MQTT subscribers (default 2)")
    parser.add_argument("--duration", type=float, default=10.0, help="window per setting, s (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before the window (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every setting (default 3)")
    parser.add_argument("--payload", choices=["msgpack", "json"], default="msgpack")
    parser.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    parser.add_argument("--workdir", help="where the data directories go (a real disk, not tmpfs)")
    parser.add_argument(
        "--settings", default=",".join(SETTINGS), help=f"comma-separated subset of: {', '.join(SETTINGS)}"
    )
    args = parser.parse_args()
    args.settings = [x.strip() for x in args.settings.split(",") if x.strip()]
    if not args.settings or any(x not in SETTINGS for x in args.settings):
        parser.error(f"--settings: expected a subset of {', '.join(SETTINGS)}, got {args.settings}")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
