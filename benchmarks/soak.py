"""Soak benchmark: the whole demo (``python -m gateway run``, every simulated sensor and output) with 10 WebSocket
clients for a long while, next to a baseline gateway with its own 10 clients; the RSS of both is sampled every few
seconds, and the table prints the RSS slopes (least squares, MB/hour) after the warm-up, over the first and the
last half of what follows, and a verdict against the target (issue 20: < 1 MB/hour, so the demo and CI simulation
can run for weeks).

    .venv/bin/python benchmarks/soak.py                  # 10 minutes
    .venv/bin/python benchmarks/soak.py --minutes 62 --sample-s 10 --csv /tmp/soak.csv   # the recorded run
    .venv/bin/python benchmarks/soak.py --minutes 2 --no-baseline   # a quicker look
    .venv/bin/python benchmarks/soak.py --tracemalloc --minutes 4   # where the Python heap grows, and from where

"product" is the gateway as deploy/sensorcast.service and scripts/demo.sh start it (``MALLOC_ARENA_MAX=2``, the
periodic ``malloc_trim`` of gateway/allocator.py); "baseline" is the same code with glibc's defaults and the trim
off (``SENSORCAST_MALLOC_TRIM_S=0``). Both run at once, so the shared machine's noise hits both. Each runs in its
own process on a free 127.0.0.1 port with its own data directory (its own history database: the one in the home
directory is shared by every gateway run as that user); the clients run in this process and only count frames.
The first ``--warmup-s`` seconds (imports, the ring and the clients' buffers filling) are left out of the slopes.
The verdict uses the product's slope over the last half: a leak keeps its slope, a cache or an allocator that
settles loses it; the whole-window slope is printed next to it. Recorded figures: docs/benchmarks.md, "Soak".

``--tracemalloc`` is the diagnostic second table (an inner measurement, habit 17): the demo runs in this process
under tracemalloc with the same clients; after the warm-up one heap snapshot is taken, at the end another, and
the biggest differences are printed with the code that allocated them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
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


PRODUCT_ENV: dict[str, str | None] = {"MALLOC_ARENA_MAX": "2", "SENSORCAST_MALLOC_TRIM_S": None}
"""The gateway as deploy/sensorcast.service and scripts/demo.sh start it: two malloc arenas, the default trim."""

BASELINE_ENV: dict[str, str | None] = {"MALLOC_ARENA_MAX": None, "SENSORCAST_MALLOC_TRIM_S": "0"}
"""The baseline, measured in the same run: glibc's defaults (8 arenas per core) and no periodic malloc_trim."""


def start_gateway(port: int, workdir: str, env_changes: dict[str, str | None]) -> subprocess.Popen[bytes]:
    # Its own data directory: the history database and its 10-minute compaction must be this gateway's alone
    # (by default every gateway run as one user shares ~/.local/state/sensorcast/history.db).
    env = dict(os.environ, PYTHONPATH=str(ROOT), SENSORCAST_DATA_DIR=workdir)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
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


def proc_memory_kib(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile (KiB) and Threads of ``pid`` from /proc/PID/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "Threads"):
                out[key] = int(value.split()[0])
    return out


def append_csv(path: str, name: str, t_s: float, mem: dict[str, int]) -> None:
    """Append one sample (so a run cut short still leaves its figures)."""
    with open(path, "a") as f:
        f.write(f"{name},{t_s:.1f},{mem['VmRSS']},{mem['RssAnon']},{mem['RssFile']},{mem['Threads']}\n")


@dataclass
class Run:
    """One gateway of the soak (the product or the baseline), its clients and its samples."""

    name: str
    env: dict[str, str | None]
    clients: int
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    frames: list[int] = field(default_factory=list)
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    cpu_s: float = 0.0

    def series(self, key: str, since_s: float = 0.0, until_s: float = math.inf) -> list[tuple[float, float]]:
        """``(t_s, MiB)`` of ``key`` for the samples in ``[since_s, until_s]``."""
        return [(t, m[key] / 1024) for t, m in self.samples if since_s <= t <= until_s]


def halves(warmup_s: float, end_s: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The window after the warm-up split in two: ``((warmup, mid), (mid, end))``."""
    mid = warmup_s + (end_s - warmup_s) / 2
    return (warmup_s, mid), (mid, end_s)


def mb_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(t_s, MiB)`` points in MB (10^6 bytes, as the target) per hour."""
    return slope_per_hour(points) * 2**20 / 1e6


def stop_gateway(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def soak(args: argparse.Namespace) -> int:
    runs = [Run("product", PRODUCT_ENV, args.clients)]
    if not args.no_baseline:
        runs.append(Run("baseline", BASELINE_ENV, args.clients))
    with contextlib.ExitStack() as stack:
        for run in runs:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"sensorcast-soak-{run.name}-"))
            run.port = free_port()
            run.proc = start_gateway(run.port, workdir, run.env)
            stack.callback(stop_gateway, run.proc)
        procs = {run.name: run.proc for run in runs if run.proc is not None}
        for run in runs:
            wait_ready(run.port, procs[run.name])
        stop = asyncio.Event()
        tasks = []
        for run in runs:
            run.frames = [0] * run.clients
            url = f"ws://127.0.0.1:{run.port}/"
            tasks += [asyncio.create_task(client(url, run.frames, i, stop)) for i in range(run.clients)]
        ps = {run.name: psutil.Process(procs[run.name].pid) for run in runs}
        cpu0 = {name: sum(p.cpu_times()[:2]) for name, p in ps.items()}
        t0 = time.monotonic()
        end = t0 + args.minutes * 60.0
        print(
            f"soak: {', '.join(f'{r.name} pid {procs[r.name].pid} port {r.port}' for r in runs)}; "
            f"{args.clients} clients each, {args.minutes:g} min",
            flush=True,
        )
        print(f"{'t (s)':>7} | " + " | ".join(f"{r.name + ' RSS/anon MiB':>24}" for r in runs), flush=True)
        n = 0
        while True:
            now = time.monotonic()
            alive = all(p.poll() is None for p in procs.values())
            if alive:
                for run in runs:
                    mem = proc_memory_kib(procs[run.name].pid)
                    run.samples.append((now - t0, mem))
                    if args.csv:
                        append_csv(args.csv, run.name, now - t0, mem)
                if n % args.print_every == 0:
                    cells = [
                        f"{r.samples[-1][1]['VmRSS'] / 1024:11.2f} / {r.samples[-1][1]['RssAnon'] / 1024:8.2f}"
                        for r in runs
                    ]
                    print(f"{now - t0:7.0f} | " + " | ".join(f"{c:>24}" for c in cells), flush=True)
                n += 1
            if now >= end or not alive:
                break
            await asyncio.sleep(min(args.sample_s, max(0.0, end - now)))
        for run in runs:
            run.cpu_s = sum(ps[run.name].cpu_times()[:2]) - cpu0[run.name]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return report(runs, args)


def report(runs: list[Run], args: argparse.Namespace) -> int:
    """Print the table (one column per gateway) and return 0 when the product meets the target."""
    elapsed_s = runs[0].samples[-1][0]
    first, last = halves(args.warmup_s, elapsed_s)
    rows: list[tuple[str, list[str]]] = [
        (
            "environment",
            [" ".join(f"{k}={v if v is not None else '(unset)'}" for k, v in r.env.items()) for r in runs],
        ),
        (
            "duration",
            [f"{elapsed_s / 60:.1f} min, {len(r.samples)} samples every {args.sample_s:g} s" for r in runs],
        ),
        ("frames received (min per client)", [f"{sum(r.frames):,} ({min(r.frames):,})" for r in runs]),
        ("gateway CPU", [f"{100 * r.cpu_s / max(elapsed_s, 1e-9):.1f} % of a core" for r in runs]),
        (
            "threads first / last",
            [f"{r.samples[0][1]['Threads']} / {r.samples[-1][1]['Threads']}" for r in runs],
        ),
    ]
    for key, label in (("VmRSS", "RSS"), ("RssAnon", "RssAnon"), ("RssFile", "RssFile")):
        rows.append(
            (
                f"{label} start / {args.warmup_s:g} s / mid / end (MiB)",
                [
                    " / ".join(f"{r.series(key, since)[0][1]:.2f}" for since in (0.0, args.warmup_s, last[0]))
                    + f" / {r.series(key)[-1][1]:.2f}"
                    for r in runs
                ],
            )
        )
    for key, label in (("VmRSS", "RSS"), ("RssAnon", "RssAnon")):
        for (a, b), what in (
            ((args.warmup_s, elapsed_s), "after warm-up"),
            (first, "first half"),
            (last, "last half"),
        ):
            rows.append(
                (
                    f"{label} slope, {what} ({a / 60:.0f}-{b / 60:.0f} min)",
                    [f"{mb_per_hour(r.series(key, a, b)):+.2f} MB/hour" for r in runs],
                )
            )
    product = runs[0]
    last_slope = mb_per_hour(product.series("VmRSS", *last))
    ok = (
        last_slope < TARGET_MB_PER_HOUR
        and all(r.proc is not None and r.proc.returncode in (0, None, -signal.SIGTERM) for r in runs)
        and min(product.frames) > 0
    )
    rows.append(
        (
            "target (product, RSS slope in the last half)",
            [f"< {TARGET_MB_PER_HOUR:g} MB/hour"] + [""] * (len(runs) - 1),
        )
    )
    rows.append(("verdict", ["PASS" if ok else "FAIL"] + [""] * (len(runs) - 1)))
    width = max(len(k) for k, _ in rows)
    widths = [max(len(r.name), *(len(v[i]) for _, v in rows)) for i, r in enumerate(runs)]
    print()
    print(f"{'':<{width}} | " + " | ".join(f"{r.name:<{w}}" for r, w in zip(runs, widths, strict=True)))
    for k, vals in rows:
        print(f"{k:<{width}} | " + " | ".join(f"{v:<{w}}" for v, w in zip(vals, widths, strict=True)))
    for r in runs:
        if r.proc is not None and r.proc.returncode not in (0, None, -signal.SIGTERM):
            err = r.proc.stderr.read().decode(errors="replace")[-2000:] if r.proc.stderr else ""
            print(f"{r.name} gateway exited with {r.proc.returncode}:\n{err}")
    return 0 if ok else 1


async def heap_diff(args: argparse.Namespace) -> int:
    """Run the demo in-process under tracemalloc; print what grew between the end of the warm-up and the end."""
    import gc
    import tracemalloc

    from gateway.app import GatewayApp
    from gateway.config import demo_config

    data_dir = tempfile.TemporaryDirectory(prefix="sensorcast-soak-heap-")  # its own history database (above)
    async with GatewayApp(demo_config(port=0, data_dir=data_dir.name)) as app:
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
    data_dir.cleanup()
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
    p.add_argument("--no-baseline", action="store_true", help="only the product gateway (half the load)")
    p.add_argument(
        "--csv", metavar="FILE", help="also write every sample: run,t_s,VmRSS,RssAnon,RssFile,Threads"
    )
    p.add_argument("--tracemalloc", action="store_true", help="in-process heap diff instead of the RSS soak")
    args = p.parse_args()
    if args.minutes * 60 <= args.warmup_s + 4 * args.sample_s:
        p.error("--minutes must leave at least four samples after --warmup-s (two per half)")
    if args.csv:
        Path(args.csv).write_text("run,t_s,VmRSS_kib,RssAnon_kib,RssFile_kib,threads\n")
    return asyncio.run(heap_diff(args) if args.tracemalloc else soak(args))


if __name__ == "__main__":
    sys.exit(main())
