"""Consumers and statistics for ``sensorcast bench``: WebSocket clients, paho subscribers, table and plot.

Kept apart from :mod:`gateway.cli.bench` (which starts and stops the processes) so each stays small; run
as ``python -m gateway.cli.bench_clients`` it is one consumer process. Nothing here uses the gateway's code: the
consumers are ordinary clients of the two paths, as a user's would be.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """What one consumer received: latency per reading and bytes on the wire."""

    seqs: set[int] = field(default_factory=set)
    latency_ms: list[float] = field(default_factory=list)
    stamped: list[int] = field(default_factory=list)
    """seq for each latency entry (to keep only readings inside the window)."""
    nbytes: list[int] = field(default_factory=list)
    """Bytes of each received frame/message and the first seq it carried."""
    max_seq: int = 0

    def add(self, seq: int, ts_ns: int, now_ns: int) -> None:
        self.seqs.add(seq)
        self.latency_ms.append((now_ns - ts_ns) / 1e6)
        self.stamped.append(seq)
        self.max_seq = max(self.max_seq, seq)

    def summary(self, lo: int, hi: int, points: int = 1000) -> dict[str, Any]:
        """What the parent needs, compactly: counts in the window ``[lo, hi]`` and a quantile sample of the
        latencies of the readings stamped inside it."""
        lat = sorted(ms for ms, s in zip(self.latency_ms, self.stamped, strict=True) if lo <= s <= hi)
        step = max(1, len(lat) // points)
        return {
            "delivered": sum(1 for s in self.seqs if lo <= s <= hi),
            "received": len(self.seqs),
            "nbytes": sum(self.nbytes),
            "lat": lat[::step],
        }


@dataclass
class Result:
    """One row of the table."""

    mode: str
    produced_per_s: float
    delivered_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    bytes_per_reading: float
    gateway_cpu_pct: float
    broker_cpu_pct: float | None
    loss_pct: float
    latency_sample_ms: list[float] = field(repr=False, default_factory=list)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def ws_client(url: str, tally: Tally, stop: asyncio.Event) -> None:
    import msgpack
    from websockets.asyncio.client import connect

    async with connect(url, compression=None, max_size=None) as ws:
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time_ns()
            assert isinstance(frame, bytes)
            msg = msgpack.unpackb(frame)
            if msg.get("t") != "data" or not msg["r"]:
                continue
            size = len(frame)
            tally.nbytes.append(size + (2 if size < 126 else 4 if size < 65536 else 10))  # + frame header
            for r in msg["r"]:
                tally.add(r[0], r[2], now)


BOOT_PROPERTY_BYTES = 1 + 1 + 2 + len("boot") + 2 + 16
"""MQTT 5 properties of a data message: length, user-property id, "boot" and a 16-hex-digit boot id."""


async def mqtt_clients(url: str, n: int, qos: int, fmt: str, tallies: list[Tally]) -> list[Any]:
    """Connect ``n`` subscribers (each its own MQTT connection, all on this loop: no GIL convoy between paho
    threads skews the comparison) to every data topic of the bench gateway."""
    import msgpack

    from bridges.mqtt.client import PahoConnection
    from bridges.mqtt.config import config_from_url

    cfg = config_from_url(url)
    conns = []
    for i in range(n):
        tally = tallies[i]

        def on_message(topic: str, payload: bytes, tally: Tally = tally) -> None:
            now = time.time_ns()
            if fmt == "msgpack":
                r = msgpack.unpackb(payload)
                seq, ts_ns = r[0], r[2]
            else:
                doc = json.loads(payload)
                seq, ts_ns = doc["seq"], doc["ts_ns"]
            rem = 2 + len(topic.encode()) + (2 if qos else 0) + BOOT_PROPERTY_BYTES + len(payload)
            header = 1 + (1 if rem < 128 else 2 if rem < 16384 else 3)
            tally.nbytes.append(header + rem + (4 if qos else 0))  # + the PUBACK the consumer sends
            tally.add(seq, ts_ns, now)

        conn = PahoConnection(cfg, f"bench-{i}-{os.getpid()}", on_message=on_message)
        await conn.connect()
        conn.subscribe("sensorcast/bench/+/data", qos)
        conns.append(conn)
    return conns


def summarise(
    mode: str, tallies: list[Tally], lo: int, hi: int, wall_s: float, cpu: float, bcpu: float | None
) -> Result:
    """One table row from in-process consumers (see :func:`merge`)."""
    return merge(mode, [t.summary(lo, hi) for t in tallies], lo, hi, wall_s, cpu, bcpu)


def merge(
    mode: str, clients: list[dict[str, Any]], lo: int, hi: int, wall_s: float, cpu: float, bcpu: float | None
) -> Result:
    """One table row from per-consumer summaries; latency percentiles pool the consumers' quantile samples."""
    expected = max(0, hi - lo + 1)
    delivered = sum(c["delivered"] for c in clients)
    received = sum(c["received"] for c in clients)
    lat = sorted(ms for c in clients for ms in c["lat"])
    loss = 100 * (1 - delivered / (expected * len(clients))) if expected else 100.0
    step = max(1, len(lat) // 2000)
    return Result(
        mode,
        expected / wall_s,
        delivered / wall_s,
        percentile(lat, 0.5),
        percentile(lat, 0.95),
        percentile(lat, 0.99),
        sum(c["nbytes"] for c in clients) / max(1, received),
        cpu,
        bcpu,
        max(0.0, loss),
        lat[::step],
    )


def format_table(results: list[Result]) -> str:
    """Render the results as a fixed-width table."""
    head = (
        "path",
        "produced/s",
        "delivered/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "B/reading",
        "gw CPU %",
        "broker CPU %",
        "loss %",
    )
    rows = [head]
    for r in results:
        rows.append(
            (
                r.mode,
                f"{r.produced_per_s:.0f}",
                f"{r.delivered_per_s:.0f}",
                f"{r.p50_ms:.2f}",
                f"{r.p95_ms:.2f}",
                f"{r.p99_ms:.2f}",
                f"{r.bytes_per_reading:.1f}",
                f"{r.gateway_cpu_pct:.1f}",
                "-" if r.broker_cpu_pct is None else f"{r.broker_cpu_pct:.1f}",
                f"{r.loss_pct:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    )


def write_png(path: str, results: list[Result], title: str) -> None:
    """Plot the latency distribution (CDF) and delivered throughput per path (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in results:
        lat = r.latency_sample_ms
        if lat:
            ax1.plot(lat, [i / len(lat) for i in range(len(lat))], label=r.mode)
    ax1.set(xscale="log", xlabel="one-way latency (ms)", ylabel="fraction of readings", title="latency CDF")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend()
    ax2.bar([r.mode for r in results], [r.delivered_per_s for r in results], color="tab:blue")
    ax2.set(ylabel="delivered readings/s (all clients)", title="throughput")
    for i, r in enumerate(results):
        ax2.annotate(f"CPU {r.gateway_cpu_pct:.0f} %", (i, r.delivered_per_s), ha="center", va="bottom")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def consume(mode: str, url: str, n: int, fmt: str) -> None:
    """Consumer process: run ``n`` consumers, say ``ready``; on ``lo hi`` from stdin, print summaries."""
    import sys

    tallies = [Tally() for _ in range(n)]
    stop = asyncio.Event()
    tasks: list[asyncio.Future[None]] = []
    conns: list[Any] = []
    try:
        if mode == "ws":
            tasks = [asyncio.ensure_future(ws_client(url, t, stop)) for t in tallies]
        else:
            conns = await mqtt_clients(url, n, 1 if mode == "mqtt-qos1" else 0, fmt, tallies)
        for _ in range(600):  # 30 s for every consumer to receive its first reading
            if all(t.max_seq for t in tallies):
                break
            await asyncio.sleep(0.05)
        else:
            raise TimeoutError(f"{mode} consumers received nothing from {url}")
        print("ready", flush=True)
        lo, hi = map(int, (await asyncio.to_thread(sys.stdin.readline)).split())
    finally:
        stop.set()
        for c in conns:
            c.close()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps([t.summary(lo, hi) for t in tallies]), flush=True)


def main() -> int:
    """``python -m gateway.cli.bench_clients MODE URL CLIENTS PAYLOAD``: one consumer process of the bench."""
    import sys

    mode, url, n, fmt = sys.argv[1:5]
    asyncio.run(consume(mode, url, int(n), fmt))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
