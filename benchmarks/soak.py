"""Soak benchmark: the whole demo (``python -m gateway run``, every simulated sensor and output) with 10 WebSocket
clients for a long while, its RSS sampled every few seconds; prints the RSS slope (least squares, MB/hour) and a
verdict against the target (issue 20: < 1 MB/hour, so the demo and CI simulation can run for weeks).

    .venv/bin/python benchmarks/soak.py                  # 10 minutes (the recorded run)
    .venv/bin/python benchmarks/soak.py --minutes 2      # a quicker look
    .venv/bin/python benchmarks/soak.py --minutes 60 --clients 20 --sample-s 10
    .venv/bin/python benchmarks/soak.py --tracemalloc --minutes 4   # where the Python heap grows, and from where

The gateway runs in its own process on a free 127.0.0.1 port (the process a user starts, habit 17); the clients
run in this process and only count frames. The first ``--warmup-s`` seconds (imports, the ring and the clients'
buffers filling, the allocator's arenas settling) are left out of the slope. Recorded figures:
docs/benchmarks.md, "Soak".

``--tracemalloc`` is the diagnostic second table (an inner measurement, habit 17): the demo runs in this process
under tracemalloc with the same clients; after the warm-up one heap snapshot is taken, at the end another, and
the biggest differences are printed with the code that allocated them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB_PER_HOUR = 1.0
"""Issue 20's target: ~1.6 GB/day before the emulated pins kept a bounded history; < 24 MB/day after."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(t_s, value)`` points, per hour (0 for fewer than two distinct times)."""
    if len({t for t, _ in points}) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    num = sum((t - mean_t) * (v - mean_v) for t, v in points)
    den = sum((t - mean_t) ** 2 for t, _ in points)
    return num / den * 3600.0


def start_gateway(port: int, workdir: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--port", str(port), "--log-level", "warning"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gateway exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1.0):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gateway not ready after {timeout_s:.0f} s")


async def client(url: str, frames: list[int], i: int, stop: asyncio.Event) -> None:
    """Receive and count frames until ``stop``; reconnect (counted) if the gateway closes the connection."""
    while not stop.is_set():
        try:
            async with connect(url, max_size=None, open_timeout=10) as ws:
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(ws.recv(), 1.0)
                    except TimeoutError:
                        continue
                    frames[i] += 1
        except OSError:
            await asyncio.sleep(1.0)
        except Exception:  # closed by the gateway: count it in the table (it should not happen)
            frames[i] -= 1_000_000_000
            await asyncio.sleep(1.0)


async def soak(args: argparse.Namespace) -> int:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sensorcast-soak-") as workdir:
        proc = start_gateway(port, workdir)
        try:
            wait_ready(port, proc)
            ps = psutil.Process(proc.pid)
            stop = asyncio.Event()
            frames = [0] * args.clients
            url = f"ws://127.0.0.1:{port}/"
            tasks = [asyncio.create_task(client(url, frames, i, stop)) for i in range(args.clients)]
            t0 = time.monotonic()
            end = t0 + args.minutes * 60.0
            samples: list[tuple[float, float]] = []
            cpu0 = ps.cpu_times()
            print(
                f"soak: gateway pid {proc.pid} on port {port}, {args.clients} clients, {args.minutes:g} min"
            )
            print(f"{'t (s)':>7} | {'RSS (MiB)':>9} | {'frames':>9}", flush=True)
            while True:
                now = time.monotonic()
                rss_mib = ps.memory_info().rss / 2**20
                samples.append((now - t0, rss_mib))
                if len(samples) % args.print_every == 1:
                    print(f"{now - t0:7.0f} | {rss_mib:9.2f} | {sum(frames):9d}", flush=True)
                if now >= end or proc.poll() is not None:
                    break
                await asyncio.sleep(min(args.sample_s, max(0.0, end - now)))
            cpu1 = ps.cpu_times()
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        elapsed_s = samples[-1][0]
        steady = [(t, v) for t, v in samples if t >= args.warmup_s]
        slope = slope_per_hour(steady)
        # Megabytes as in the target (10^6 bytes); the RSS columns are MiB like the other tables here.
        slope_mb = slope * 2**20 / 1e6
        cpu_pct = 100.0 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / max(elapsed_s, 1e-9)
        ok = slope_mb < TARGET_MB_PER_HOUR and proc.returncode in (0, None) and min(frames) > 0
        rows = [
            ("duration", f"{elapsed_s / 60:.1f} min ({len(samples)} samples, every {args.sample_s:g} s)"),
            (
                "clients / frames received",
                f"{args.clients} / {sum(frames):,} (min per client {min(frames):,})",
            ),
            ("gateway CPU", f"{cpu_pct:.1f} % of a core"),
            (
                "RSS first / after warm-up / last",
                f"{samples[0][1]:.2f} / {steady[0][1]:.2f} / {samples[-1][1]:.2f} MiB",
            ),
            (
                "RSS min / max after warm-up",
                f"{min(v for _, v in steady):.2f} / {max(v for _, v in steady):.2f} MiB",
            ),
            (f"RSS slope after {args.warmup_s:g} s (least squares)", f"{slope_mb:+.3f} MB/hour"),
            ("target", f"< {TARGET_MB_PER_HOUR:g} MB/hour"),
            ("verdict", "PASS" if ok else "FAIL"),
        ]
        width = max(len(k) for k, _ in rows)
        print()
        for k, v in rows:
            print(f"{k:<{width}} | {v}")
        if proc.returncode not in (0, None):
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            print(f"gateway exited with {proc.returncode}:\n{err}")
        return 0 if ok else 1


async def heap_diff(args: argparse.Namespace) -> int:
    """Run the demo in-process under tracemalloc; print what grew between the end of the warm-up and the end."""
    import gc
    import tracemalloc

    from gateway.app import GatewayApp
    from gateway.config import demo_config

    async with GatewayApp(demo_config(port=0)) as app:
        stop = asyncio.Event()
        frames = [0] * args.clients
        tasks = [asyncio.create_task(client(app.url, frames, i, stop)) for i in range(args.clients)]
        tracemalloc.start(25)
        await asyncio.sleep(args.warmup_s)
        gc.collect()
        before = tracemalloc.take_snapshot()
        window_s = args.minutes * 60.0 - args.warmup_s
        await asyncio.sleep(window_s)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "traceback")
    total = sum(st.size_diff for st in stats)
    print(
        f"Python heap growth over {window_s:.0f} s after a {args.warmup_s:g} s warm-up: {total / 1e3:+.1f} kB"
    )
    print(f"({total / window_s * 3600 / 1e6:+.3f} MB/hour; {sum(frames):,} frames to {args.clients} clients)")
    for st in stats[:10]:
        ours = [f for f in st.traceback if str(ROOT) in f.filename] or list(st.traceback)
        where = ", ".join(
            f"{Path(f.filename).relative_to(ROOT) if str(ROOT) in f.filename else f.filename}:{f.lineno}"
            for f in ours[-2:]
        )
        print(f"{st.size_diff / 1e3:+9.1f} kB {st.count_diff:+7d} blocks  {where}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="how long to run (default 10)")
    p.add_argument("--clients", type=int, default=10, help="WebSocket clients (default 10)")
    p.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS samples (default 5)")
    p.add_argument("--warmup-s", type=float, default=60.0, help="seconds left out of the slope (default 60)")
    p.add_argument(
        "--print-every", type=int, default=12, help="print every Nth sample (default 12: a minute)"
    )
    p.add_argument("--tracemalloc", action="store_true", help="in-process heap diff instead of the RSS soak")
    args = p.parse_args()
    if args.minutes * 60 <= args.warmup_s + 2 * args.sample_s:
        p.error("--minutes must leave at least two samples after --warmup-s")
    return asyncio.run(heap_diff(args) if args.tracemalloc else soak(args))


if __name__ == "__main__":
    sys.exit(main())
