"""The WebSocket clients of the benchmarks (benchmarks/fanout.py, benchmarks/product.py), in a process of their own,
and the raw baseline server both benchmarks measure against (:func:`raw_server`).

    python benchmarks/_clients.py --port P --clients N --seconds S [--no-latency]

Connects ``N`` clients to 127.0.0.1:P, prints ``CONNECTED``, waits for a line on stdin (``GO``), counts the data
readings delivered for ``S`` seconds and prints one JSON line: ``readings_per_s`` (all clients together) and,
unless ``--no-latency``, ``p50_ms`` / ``p99_ms`` (one-way: reading stamp to receive, from client 0, which decodes
every frame). The other clients count readings from the frame's msgpack array header alone (no decode: they
stay cheap, so the client process limits the rate as little as it can).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, broadcast, serve

ROOT = Path(__file__).resolve().parent.parent
DATA_PREFIX = b"\x82\xa1t\xa4data"
"""msgpack ``{"t": "data", ...}`` with 2 keys: how every server of the benchmarks starts a data frame."""
CONNECT_TIMEOUT_S = 30.0
"""How long all clients may take to connect (200 clients on a loaded 2-core machine: a few seconds)."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_listening(port: int, timeout_s: float = 30.0) -> None:
    """Return once something accepts connections on 127.0.0.1:``port`` (a server process came up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s} s")


def count_readings(frame: bytes) -> int:
    """Readings in a ``data`` frame, from its msgpack array header alone (no decode)."""
    i = len(DATA_PREFIX) + 2  # then "r" (0xa1 0x72) and the array header
    head = frame[i]
    if head & 0xF0 == 0x90:
        return head & 0x0F
    if head == 0xDC:
        return int.from_bytes(frame[i + 1 : i + 3], "big")
    return int.from_bytes(frame[i + 1 : i + 5], "big")  # 0xdd


async def run_clients(port: int, n: int, seconds: float, latency: bool = True) -> dict[str, Any]:
    """``n`` clients counting readings; with ``latency``, client 0 decodes every frame for one-way latencies."""
    counts = [0] * n
    lat: list[float] = []
    ready = asyncio.Event()
    connected = [0]

    async def one(i: int) -> None:
        async with connect(f"ws://127.0.0.1:{port}/", max_size=2**24, compression=None, max_queue=None) as ws:
            connected[0] += 1
            if connected[0] == n:
                ready.set()
            decode = latency and i == 0
            async for msg in ws:
                if not isinstance(msg, bytes) or not msg.startswith(DATA_PREFIX):
                    continue
                if decode:
                    now = time.time_ns()
                    readings = msgpack.unpackb(msg)["r"]
                    counts[0] += len(readings)
                    lat.extend((now - r[2]) / 1e6 for r in readings)
                else:
                    counts[i] += count_readings(msg)

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.wait_for(ready.wait(), CONNECT_TIMEOUT_S)
    print("CONNECTED", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # GO
    start, lat_start = sum(counts), len(lat)
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    delivered, elapsed = sum(counts) - start, time.perf_counter() - t0
    window = sorted(lat[lat_start:])
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out: dict[str, Any] = {"readings_per_s": delivered / elapsed}
    if window:
        out["p50_ms"] = window[len(window) // 2]
        out["p99_ms"] = window[min(len(window) - 1, int(len(window) * 0.99))]
    return out


def spawn_clients(
    port: int, n: int, seconds: float, latency: bool = True, cpu: int | None = None
) -> subprocess.Popen[str]:
    """Start the client process (on CPU ``cpu`` alone when given, see :func:`pinned`); it prints ``CONNECTED``
    once every client is connected (see :func:`expect`)."""
    argv = [sys.executable, __file__, "--port", str(port), "--clients", str(n), "--seconds", str(seconds)]
    return subprocess.Popen(
        [*argv, *([] if latency else ["--no-latency"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=pinned(cpu),
    )


def can_pin() -> bool:
    """Whether processes can be pinned to CPUs 0 and 1 (Linux, two CPUs or more this process may use)."""
    return hasattr(os, "sched_setaffinity") and {0, 1} <= os.sched_getaffinity(0)


def pinned(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that runs the child (and every thread it starts) on CPU ``cpu`` only; None: unpinned.

    With the server on one core and the clients on the other, the kernel no longer decides run by run how the two
    busy processes share the two cores of a small machine - which moved single fan-out runs by +-15 %."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def expect(proc: subprocess.Popen[str], word: str) -> None:
    """Read one line of ``proc``; it must be ``word``."""
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != word:
        raise RuntimeError(f"expected {word}, got {line!r}")


def go(proc: subprocess.Popen[str]) -> None:
    """Tell ``proc`` to start (a line on its stdin)."""
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The JSON line the client process prints at the end of its window."""
    assert proc.stdout is not None
    out: dict[str, Any] = json.loads(proc.stdout.readline())
    return out


def stop(*procs: subprocess.Popen[Any] | None) -> None:
    """SIGTERM each process still running, then wait for it (SIGKILL after 10 s)."""
    for p in procs:
        if p is None or p.poll() is not None:
            continue
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class RawServer:
    """The baseline's data path: readings numbered and batched as sensorcast does, one msgpack frame per batch,
    pushed with ``websockets.broadcast()`` to every client.

    Args:
        flush_ms: the flush window, armed by a batch's first reading; 0: the producer calls :meth:`flush`.
    """

    __slots__ = ("_flush_ms", "_loop", "_pending", "_seq", "_timer", "clients")

    def __init__(self, flush_ms: int) -> None:
        self.clients: set[ServerConnection] = set()
        self._flush_ms = flush_ms
        self._loop = asyncio.get_running_loop()
        self._pending: list[list[Any]] = []
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None

    async def handler(self, ws: ServerConnection) -> None:
        """Hold a client until it goes."""
        self.clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            self.clients.discard(ws)

    def publish(self, values: dict[str, Any], sid: str = "env", ts_ns: int | None = None) -> None:
        """Add a reading of ``sid`` (stamped now unless ``ts_ns``) to the batch."""
        self._seq += 1
        ts = time.time_ns() if ts_ns is None else ts_ns
        self._pending.append([self._seq, self._seq - 1, ts, sid, values, 0])
        if self._timer is None and self._flush_ms:
            self._timer = self._loop.call_later(self._flush_ms / 1000, self.flush)

    def flush(self) -> None:
        """Send the batch as one frame to every client."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            frame = msgpack.packb({"t": "data", "r": self._pending})
            self._pending.clear()
            broadcast(self.clients, frame)


async def raw_server(port: int, flush_ms: int, produce: Callable[[RawServer], Awaitable[None]]) -> None:
    """Serve the baseline on 127.0.0.1:``port``, print ``READY``, and run ``produce`` (what makes the readings:
    each benchmark its own) until it returns."""
    server = RawServer(flush_ms)
    async with serve(server.handler, "127.0.0.1", port, compression=None, max_size=2**20):
        print("READY", flush=True)
        await produce(server)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--no-latency", action="store_true")
    args = ap.parse_args()
    res = asyncio.run(run_clients(args.port, args.clients, args.seconds, not args.no_latency))
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
