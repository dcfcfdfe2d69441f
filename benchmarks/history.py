"""History store benchmark (issue 14): ingest, queries, CSV export, and the bytes the demo writes per day.

    .venv/bin/python benchmarks/history.py                       # everything; the demo runs 600 s
    .venv/bin/python benchmarks/history.py --only demo --demo-s 600
    .venv/bin/python benchmarks/history.py --only ingest,query,export
    .venv/bin/python benchmarks/history.py --only http --rounds 3

Rows:

* ingest: the store's writer path (rollups, chunk encoding, one transaction per commit) against the floor, a bare
  ``executemany`` loop of one row per reading into a ``(sensor, ts_ns, values)`` table, committed as often, in the
  same run; then the CPU the store costs at 10,000 readings/s paced like the hub (20 ms batches), as a share of one
  core, against the same feeding loop with no store.
* query: 24 h of one field at 1 Hz to ~1000 min/max points (through the tier choice, which reads the 1 m rollup,
  and forced through the raw tier: 86,400 points folded); 30 days of 1 m rollups to ~1000 points.
* export: ``sensorcast history export`` of 1 M raw rows as CSV, a subprocess to /dev/null: rows/s and peak RSS,
  against 100 k rows (flat memory: the same peak).
* http: the real ``python -m gateway run`` answering ONE ``GET /api/history`` of 1 M raw rows as CSV (chunked):
  rows/s at the client and the gateway's RSS before, at its peak during (sampled every 50 ms) and after; alternated
  with the baseline, ``sensorcast history export`` of the same file, ``--rounds`` times.
* demo: the real ``sensorcast run`` demo process with history on (defaults) and, in the same run, with history off
  (baseline), for ``--demo-s`` seconds each, side by side: ``write_bytes`` from /proc/PID/io, extrapolated to a
  day; database growth; write amplification = bytes written / database growth; bytes per sensor-day. The
  demo's emulated ``/sys`` and ``/proc`` trees (rewritten on every update; a board has none) go to a tmpfs
  (``TMPDIR=/dev/shm``), whose writes are not block I/O, so the figure is the history's own; the history-off
  process shows what is left (~0).

Everything runs on 127.0.0.1 and in a temporary directory; every run is bounded in time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.history.codec import decode_chunk  # noqa: E402
from gateway.history.policy import TierChoice  # noqa: E402
from gateway.history.reader import HistoryReader  # noqa: E402
from gateway.history.store import HistoryStore, connect  # noqa: E402

S = 10**9
EMULATOR_TMPDIR = "/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir()
"""Where the demo's emulated sysfs/procfs trees go (not block I/O on a tmpfs: see the module docstring)."""
T0 = 1_780_000_000 * S
rows_out: list[tuple[str, str, str, str]] = []


def row(name: str, value: str, baseline: str, verdict: str) -> None:
    rows_out.append((name, value, baseline, verdict))
    print(f"  {name}: {value} | {baseline} | {verdict}", flush=True)


def readings(n: int, sensors: int = 10, start: int = T0, step_ns: int = 10**6) -> list[tuple[Any, ...]]:
    rnd = random.Random(n)
    return [
        (
            i + 1,
            0,
            start + i * step_ns,
            f"s{i % sensors}",
            {"a": rnd.random() * 100, "b": rnd.random(), "c": i},
            0,
        )
        for i in range(n)
    ]


# -- ingest -----------------------------------------------------------------------------------------------------


def ingest(tmp: Path) -> None:
    n = 200_000
    data = readings(n)
    batches = [data[i : i + 200] for i in range(0, n, 200)]
    commit_every = 50_000  # 5 s of 10,000 readings/s: one transaction each, as at the default commit interval

    def fresh(name: str) -> Path:
        for p in tmp.glob(f"{name}*"):
            p.unlink()
        return tmp / name

    def floor_run() -> float:
        path = fresh("floor.db")
        conn = connect(path)
        conn.execute("CREATE TABLE r (sensor TEXT NOT NULL, ts_ns INTEGER NOT NULL, v BLOB NOT NULL)")
        conn.execute("CREATE INDEX r_by_time ON r (sensor, ts_ns)")
        t = time.perf_counter()
        for i in range(0, n, commit_every):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO r VALUES (?, ?, ?)",
                [(r[3], r[2], msgpack.packb(r[4])) for r in data[i : i + commit_every]],
            )
            conn.execute("COMMIT")
        took = time.perf_counter() - t
        conn.close()
        return took

    def store_run() -> tuple[float, float]:
        path = fresh("store.db")
        st = HistoryStore(path, commit_interval_s=3600)
        st._open()
        t = time.perf_counter()
        for i, b in enumerate(batches):
            st.on_batch(b)
            if (i + 1) * 200 % commit_every == 0:
                st.commit()
        st.commit()
        committed = time.perf_counter() - t
        st.fold()  # into SQLite, like the floor (the fold runs every 10 min, or at 4 MiB of recent log)
        took = time.perf_counter() - t
        assert st._conn is not None
        st._conn.close()
        return committed, took

    floor = min(floor_run() for _ in range(3))
    runs = [store_run() for _ in range(3)]
    for what, store in (
        ("commits to the recent log, synced", min(r[0] for r in runs)),
        ("commits and the fold into SQLite (level-6 chunks)", min(r[1] for r in runs)),
    ):
        row(
            f"ingest, readings/s (200 k, 3 fields, 10 sensors): {what}",
            f"{n / store:,.0f}",
            f"bare executemany {n / floor:,.0f}",
            f"{floor / store:.2f}x of the floor (target >= 0.8x)",
        )

    # CPU at 10,000 readings/s, paced like the hub: 200 readings every 20 ms for 20 s.
    def paced(sink: Any) -> float:
        c0, t0 = time.process_time(), time.perf_counter()
        nxt = time.perf_counter()
        for b in batches[:1000]:
            sink(b)
            nxt += 0.02
            delay = nxt - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        return (time.process_time() - c0) / (time.perf_counter() - t0)

    idle = paced(lambda b: None)
    st = HistoryStore(tmp / "paced.db")  # default commit interval (5 s), its own writer thread
    st.start()
    st.ready.wait()
    busy = paced(st.on_batch)
    st.close()
    row(
        "ingest CPU at 10,000 readings/s (default batching)",
        f"{(busy - idle) * 100:.1f} % of a core",
        f"feeding loop alone {idle * 100:.1f} %",
        "target <= 15 %",
    )


# -- queries ----------------------------------------------------------------------------------------------------


def build(
    path: Path, sensor: str, policy: str, count: int, step_ns: int, compact_every: int, start: int = T0
) -> None:
    st = HistoryStore(path, policies={sensor: policy}, commit_interval_s=3600)
    st._open()
    rnd = random.Random(1)
    batch = []
    for i in range(count):
        batch.append((i + 1, 0, start + i * step_ns, sensor, {"v": rnd.gauss(20, 3)}, 0))
        if len(batch) == 1000:
            st.on_batch(batch)
            batch = []
            st.commit()
            if (i + 1) % compact_every == 0:
                st.fold()
    st.on_batch(batch)
    st.commit(final=True)
    st.fold()
    assert st._conn is not None
    st._conn.close()


def timed(fn: Any, runs: int = 7) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def query(tmp: Path) -> None:
    day = tmp / "day.db"
    build(day, "env", "raw", 86_400, S, 600)  # compacted every 10 min of data, as the store does
    r = HistoryReader(day)
    took, res = timed(lambda: r.query("env", ["v"], T0, T0 + 86_400 * S, points=1000))
    row(
        "query 24 h of 1 Hz to ~1000 points (tier choice)",
        f"{took * 1000:.1f} ms, {len(res.rows)} points from {res.tier}",
        "-",
        "target <= 150 ms",
    )

    def forced_raw() -> Any:
        with r._conn() as conn:
            return r._buckets(
                conn, "env", ["v"], T0, T0 + 86_400 * S, TierChoice("raw", 86_400 * S // 1000), 10_000
            )

    took, res = timed(forced_raw)
    row(
        "query 24 h of 1 Hz to ~1000 points (raw tier, 86,400 folded)",
        f"{took * 1000:.1f} ms, {len(res.rows)} points",
        "-",
        "target <= 150 ms",
    )
    month = tmp / "month.db"
    build(month, "env", "1m", 43_200, 60 * S, 10_000)
    r = HistoryReader(month)
    took, res = timed(lambda: r.query("env", ["v"], T0, T0 + 43_200 * 60 * S, points=1000))
    row(
        "query 30 d of 1 m rollups to ~1000 points",
        f"{took * 1000:.1f} ms, {len(res.rows)} points from {res.tier}",
        "-",
        "target <= 100 ms",
    )


# -- export -----------------------------------------------------------------------------------------------------


def cli_export(db: Path, frm: str, to: str) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of ``sensorcast history export`` of sensor env, CSV, [frm, to): the baseline of
    both export measurements. A small wrapper process starts the export and reports its peak RSS: a child forked
    straight from this benchmark (hundreds of MiB after the ingest part) would report this process's RSS as its
    own peak."""
    cmd = [sys.executable, "-m", "gateway", "history", "--db", str(db), "export", "--sensor", "env"]
    cmd += ["--from", frm, "--to", to, "--format", "csv"]
    wrap = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", wrap, *cmd],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    return time.perf_counter() - t, int(out.stdout)


def export(tmp: Path) -> None:
    db = tmp / "export.db"
    build(db, "env", "raw", 1_000_000, S // 10, 6000)

    def run(seconds: float) -> tuple[float, int]:
        return cli_export(db, str(T0 // S), f"{T0 / S + seconds:.1f}")

    small_s, small_rss = run(10_000)
    big_s, big_rss = run(100_000)
    row(
        "CSV export of 1 M raw rows (sensorcast history export)",
        f"{1_000_000 / big_s:,.0f} rows/s, peak RSS {big_rss / 1024:.0f} MiB",
        f"100 k rows: peak RSS {small_rss / 1024:.0f} MiB",
        "target >= 200k rows/s, flat memory",
    )
    del small_s


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def http_export(tmp: Path, rounds: int) -> None:
    """The real ``python -m gateway run`` streaming 1 M rows as ONE ``GET /api/history`` CSV response: rows/s
    and the gateway's RSS before, at its peak during, and after; baseline in the same run, alternated:
    ``sensorcast history export`` of the same file (which streams from the file)."""
    import http.client
    import socket

    data = tmp / "http"
    data.mkdir()
    db = data / "history.db"
    start = (time.time_ns() // S - 200_000) * S  # recent: inside the default raw retention
    build(db, "env", "raw", 1_000_000, S // 10, 6000, start=start)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = tmp / "http.toml"
    cfg.write_text(
        f'[gateway]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{data}"\n\n'
        '[[sensors]]\nid = "other"\ndriver = "synthetic"\ninterval_s = 1.0\nfields = ["x"]\n'
    )
    frm, to = start // S, start // S + 100_000
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    gw = subprocess.Popen(  # MALLOC_ARENA_MAX=2 as deploy/sensorcast.service and demo.sh set it
        [sys.executable, "-m", "gateway", "run", "--config", str(cfg)],
        env={**env, "MALLOC_ARENA_MAX": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                c.getresponse().read()
                break
            except OSError:
                if time.monotonic() > deadline or gw.poll() is not None:
                    raise RuntimeError("the gateway did not start") from None
                time.sleep(0.2)
        time.sleep(2)

        def over_http(seconds: int) -> tuple[float, int, int, int, int]:
            before = _rss_kib(gw.pid)
            peak = [before]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.05):
                    peak[0] = max(peak[0], _rss_kib(gw.pid))

            sampler = threading.Thread(target=sample)
            sampler.start()
            t = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", f"/api/history?sensor=env&from={frm}&to={frm + seconds}&format=csv")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
            lines = 0
            while chunk := resp.read(1 << 16):
                lines += chunk.count(b"\n")
            elapsed = time.perf_counter() - t
            done.set()
            sampler.join()
            return elapsed, lines - 1, before, peak[0], _rss_kib(gw.pid)

        def cli() -> tuple[float, int]:
            return cli_export(db, str(frm), str(to))

        for i in range(rounds):
            _, n_small, _, small_peak, _ = over_http(10_000)
            h_s, n, before, peak, after = over_http(100_000)
            c_s, c_rss = cli()
            row(
                f"round {i + 1}: ONE GET /api/history, 1 M raw rows CSV, real `gateway run` ({n:,} rows)",
                f"{n / h_s:,.0f} rows/s; gateway RSS {before / 1024:.1f} -> peak {peak / 1024:.1f}"
                f" -> {after / 1024:.1f} MiB (peak for {n_small:,} rows just before: {small_peak / 1024:.1f})",
                f"`sensorcast history export`: {1_000_000 / c_s:,.0f} rows/s, peak RSS {c_rss / 1024:.0f} MiB",
                "target >= 200k rows/s, flat memory",
            )
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(15)
        except subprocess.TimeoutExpired:
            gw.kill()
            gw.wait()


# -- the demo's writes ------------------------------------------------------------------------------------------


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes")


def demo(tmp: Path, seconds: float, commit_s: float | None = None) -> None:
    from sensors.registry import demo_tables

    sensors, actuators = demo_tables()
    procs = {}
    launched = time.monotonic()
    for name, enabled in (("on", True), ("off", False)):
        d = tmp / f"demo-{name}"
        d.mkdir()
        cfg = d / "gw.toml"
        lines = [f'[gateway]\nid = "demo"\nhost = "127.0.0.1"\nport = 0\ndata_dir = "{d}"\n']
        lines.append(f"[history]\nenabled = {'true' if enabled else 'false'}\n")
        if commit_s is not None:
            lines.append(f"commit_interval_s = {commit_s}\n")
        for kind, tables in (("sensors", sensors), ("actuators", actuators)):
            for t in tables:
                lines.append(f"[[{kind}]]\n" + _toml_table(dict(t, simulate=True)))
        cfg.write_text("\n".join(lines))
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "--config", str(cfg), "--log-level", "warning"],
            env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": EMULATOR_TMPDIR},
            stdout=subprocess.DEVNULL,
        )
    time.sleep(15)  # start-up (imports, first polls, first compaction of nothing) is not a day's steady state
    start = {k: write_bytes(p.pid) for k, p in procs.items()}
    db = tmp / "demo-on" / "history.db"
    size0 = _db_size(db)
    t0 = time.monotonic()
    time.sleep(seconds)
    took = time.monotonic() - t0
    end = {k: write_bytes(p.pid) for k, p in procs.items()}
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    lived = time.monotonic() - launched
    for p in procs.values():
        p.wait(30)
    # The last few minutes sit in the recent log until a fold; a clean stop folds them, so the database
    # after the stop holds everything the process took (size0: the schema and units, before any fold).
    size1 = _db_size(db)
    per_day = {k: (end[k] - start[k]) * 86400 / took for k in procs}
    growth_day = (size1 - size0) * 86400 / lived
    raw_day = _raw_bytes(db) * 86400 / lived
    stored = sum(1 for t in sensors if t.get("history", "") != "off") + len(actuators)
    row(
        f"demo bytes written per day, history on ({took:.0f} s run, commit every {commit_s or 5:g} s)",
        f"{per_day['on'] / 1e6:.0f} MB/day",
        f"history off {per_day['off'] / 1e6:.1f} MB/day",
        "target <= 150 MB/day",
    )
    hist = per_day["on"] - per_day["off"]
    row(
        "demo raw data per day (8 B per timestamp and per value of every reading stored)",
        f"{raw_day / 1e6:.1f} MB/day",
        "-",
        "-",
    )
    row(
        "demo database growth per day; write amplification",
        f"{growth_day / 1e6:.1f} MB/day; {hist / raw_day:.1f}x of the raw data, {hist / growth_day:.1f}x of the"
        " growth"
        if growth_day > 0 and raw_day > 0
        else "no growth measured",
        "-",
        "(history's bytes written / raw data bytes; / bytes the database grew)",
    )
    row(
        f"demo database bytes per sensor-day ({stored} sensors and outputs stored)",
        f"{growth_day / stored / 1e3:.0f} kB",
        "-",
        "-",
    )
    info = subprocess.run(
        [sys.executable, "-m", "gateway", "history", "--db", str(db), "info"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    print(info.stdout, flush=True)


def _raw_bytes(path: Path) -> int:
    """The readings the store took, as 8 bytes per timestamp and per value: raw rows as they are; a 1 s
    rollup row stands for ``n`` values per field (its readings: the largest ``n``)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        total = 0
        for tier, blob in conn.execute("SELECT tier, blob FROM chunks WHERE tier IN ('raw', '1s')"):
            ts, cols = decode_chunk(blob)
            for i in range(len(ts)):
                if tier == "raw":
                    total += 8 * (1 + sum(1 for c in cols.values() if c[i] is not None))
                else:
                    ns = [c[i][0] for c in cols.values() if c[i] is not None]
                    total += 8 * (max(ns, default=0) + sum(ns))
        return total
    finally:
        conn.close()


def _db_size(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        size = (
            conn.execute("PRAGMA page_count").fetchone()[0]
            - conn.execute("PRAGMA freelist_count").fetchone()[0]
        )
        return int(size * conn.execute("PRAGMA page_size").fetchone()[0])
    finally:
        conn.close()


def _toml_table(t: dict[str, Any]) -> str:
    out = []
    for k, v in t.items():
        out.append(f"{k} = {_toml_value(v)}")
    return "\n".join(out) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--only", default="ingest,query,export,demo", help="also: http (GET /api/history, real process)"
    )
    p.add_argument(
        "--rounds", type=int, default=2, help="http: alternated rounds of HTTP and CLI (default 2)"
    )
    p.add_argument("--demo-s", type=float, default=600.0, help="seconds the demo processes run (default 600)")
    p.add_argument(
        "--commit-s", type=float, help="the demo's history.commit_interval_s (default: the default)"
    )
    args = p.parse_args()
    parts = args.only.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="sensorcast-bench-history-"))
    try:
        threads = []
        if "demo" in parts:  # the long part runs alongside the others
            threads.append(threading.Thread(target=demo, args=(tmp, args.demo_s, args.commit_s)))
            threads[-1].start()
        for name, fn in (("ingest", ingest), ("query", query), ("export", export)):
            if name in parts:
                fn(tmp)
        if "http" in parts:
            http_export(tmp, args.rounds)
        for t in threads:
            t.join()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n| what | sensorcast | baseline (same run) | target / note |\n|---|---|---|---|")
    for r in rows_out:
        print(f"| {' | '.join(r)} |")
    print(
        f"\nmachine: {os.cpu_count()} cores, python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
