"""Record/replay benchmark (issue 16): what recording costs the live gateway, capture size, replay speed.

    .venv/bin/python benchmarks/record.py                    # 60 s windows, 2 rounds
    .venv/bin/python benchmarks/record.py --seconds 20 --rounds 1

Rows, all on the real processes a user starts (``python -m gateway ...``), demo config, 127.0.0.1:

* cpu: CPU time (user + system) of ``sensorcast record`` over a window, as a share of one core, against
  ``sensorcast run`` (the baseline) measured in the same run; rounds alternate run / record. Target: record
  costs <= 10 % more.
* size: the capture's growth over the window, extrapolated to MB per hour (uncompressed; and with --compress
  in a last record round). Target: <= 50 MB/h.
* replay: ``sensorcast replay CAPTURE --speed max --dump FILE`` of the first record round's capture, whole process
  wall time (start-up included) against the capture's length. Target: >= 50x real time.

``--replay-memory BASELINE_ROOT`` (issue 16, bounded replay memory): peak RSS and wall time of the real
``python -m gateway replay CAPTURE --speed max --dump FILE`` process (then ``--check FILE`` of each one's own dump,
which must pass) on captures holding as many transactions as 10 and 60 minutes of the demo (0.86 M an hour),
this tree's code against BASELINE_ROOT's (e.g. /work/main), alternated, ``--rounds`` times each; the two dumps
must be equal (``t_s`` aside). The captures are recorded in-process from the demo's emulated sensors polled back
to back (not in real time, so an hour's worth takes seconds): same drivers and transactions, another mix of
sensors.

A second table (an inner component, not the product): the cost of one recorded I2C block read on the emulated
bus, through the recording tap into a capture file, against the same read on the bare emulated bus.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _clients import ROOT, free_port, wait_listening

WARMUP_S = 4.0
"""Start-up excluded from the CPU window (imports, emulators, first opens)."""


def window(argv: list[str], seconds: float, capture: Path | None) -> dict[str, float]:
    """Run ``sensorcast argv`` and measure CPU share (and capture growth) over ``seconds`` after warm-up."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "gateway", *argv, "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        time.sleep(WARMUP_S)
        ps = psutil.Process(proc.pid)
        c0, t0 = ps.cpu_times(), time.monotonic()
        b0 = capture.stat().st_size if capture else 0
        time.sleep(seconds)
        c1, t1 = ps.cpu_times(), time.monotonic()
        b1 = capture.stat().st_size if capture else 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    cpu = (c1.user + c1.system - c0.user - c0.system) / (t1 - t0)
    return {"cpu_pct": 100 * cpu, "bytes_per_h": (b1 - b0) / (t1 - t0) * 3600}


def spread(xs: list[float]) -> str:
    return f"{min(xs):.2f}..{max(xs):.2f}" if len(xs) > 1 else f"{xs[0]:.2f}"


def inner(calls: int = 50_000) -> None:
    """Microseconds per I2C block read: bare emulated bus vs the same through the recording tap (in process)."""
    sys.path.insert(0, str(ROOT))
    from gateway.capture.recorder import CaptureWriter, RecordingTap
    from sensors.sim.emulators import simulated_bus

    bus = simulated_bus(1)
    tmp = Path(tempfile.mkdtemp(prefix="sensorcast-bench-inner-"))
    writer = CaptureWriter(str(tmp / "inner.scap"), {"sensorcast": "bench", "board": "", "config": {}})
    recorded = RecordingTap(writer).i2c("i2c-1", lambda: bus)
    bare_us: list[float] = []
    rec_us: list[float] = []
    for _ in range(3):  # alternate, three times each
        for target, out in ((bus, bare_us), (recorded, rec_us)):
            t0 = time.perf_counter()
            for _ in range(calls):
                target.read_i2c_block_data(0x76, 0xF7, 8)
            out.append((time.perf_counter() - t0) / calls * 1e6)
    writer.close()
    b, r = statistics.median(bare_us), statistics.median(rec_us)
    print("\nInner component (not the product): one I2C block read on the emulated bus, in process")
    print("| row | recorded | bare emulated bus | difference |")
    print("|---|---|---|---|")
    row = f"| µs per read (median of 3, spread) | {r:.1f} ({spread(rec_us)}) | {b:.1f} ({spread(bare_us)})"
    print(f"{row} | +{r - b:.1f} µs |")


DEMO_CALLS_PER_MIN = 860_000 // 60
"""Transactions the demo (with a USB GPS) records per minute (docs/record-replay.md)."""


def demo_capture(path: Path, calls: int) -> None:
    """Record the demo's sensors (GPIO inputs aside: they replay by time) polled back to back until the capture
    holds ``calls`` transactions."""
    sys.path.insert(0, str(ROOT))
    from gateway.capture.session import record_polled
    from gateway.config import demo_config

    record_polled(str(path), demo_config(port=0), calls, "bench")


def replay_rss(root: Path, capture: Path, dump: Path, check: bool = False) -> tuple[float, float]:
    """Peak RSS (MB) and wall time (s) of ``sensorcast replay capture --speed max --dump`` run from ``root``
    (``check``: ``--check dump`` instead, which must pass).

    The peak is the process's own ``VmHWM`` (/proc), read every 10 ms until it exits: ``wait4``'s ru_maxrss
    would carry this benchmark's own RSS (it is inherited through fork and kept across exec)."""
    env = dict(os.environ, PYTHONPATH=str(root))
    mode = "--check" if check else "--dump"
    cmd = [sys.executable, "-m", "gateway", "replay", str(capture), "--speed", "max", mode, str(dump)]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kb = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as f:
                hwm = [line for line in f if line.startswith("VmHWM:")]
            peak_kb = max(peak_kb, int(hwm[0].split()[1])) if hwm else peak_kb
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"replay from {root} exited {proc.returncode}: {err}")
    return peak_kb / 1024, elapsed


def same_readings(a: Path, b: Path) -> bool:
    """The two dumps hold the same readings (``t_s``, the replay's own clock, aside)."""
    import json

    def lines(p: Path) -> list[dict[str, object]]:
        rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]
        return [{k: v for k, v in row.items() if k != "t_s"} for row in rows]

    return lines(a) == lines(b)


def replay_memory(baseline: Path, rounds: int, minutes: list[int]) -> int:
    """The replay memory table: this tree's replay against ``baseline``'s on demo-sized captures."""
    tmp = Path(tempfile.mkdtemp(prefix="sensorcast-bench-replay-"))
    print("| capture | transactions, file | peak RSS: this tree / baseline (MB, median, spread) | "
          "wall time: this tree / baseline (s) | dumps equal (--check: it passed) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for m in minutes:
        cap = tmp / f"demo-{m}min.scap"
        demo_capture(cap, m * DEMO_CALLS_PER_MIN)
        for check in (False, True):
            ours: list[tuple[float, float]] = []
            base: list[tuple[float, float]] = []
            equal = True
            for r in range(rounds):  # alternated: baseline, this tree, baseline, ...
                base.append(replay_rss(baseline, cap, tmp / "base.jsonl", check))
                ours.append(replay_rss(ROOT, cap, tmp / "ours.jsonl", check))
                equal = equal and same_readings(tmp / "base.jsonl", tmp / "ours.jsonl")
                print(f"  {m} min {'--check' if check else '--dump'} round {r + 1}: ours {ours[-1][0]:.0f} MB "
                      f"{ours[-1][1]:.1f} s, baseline {base[-1][0]:.0f} MB {base[-1][1]:.1f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
            rss_o, rss_b = [o[0] for o in ours], [b[0] for b in base]
            t_o, t_b = [o[1] for o in ours], [b[1] for b in base]
            print(
                f"| {m} min of demo, {'--check' if check else '--dump'} | {m * DEMO_CALLS_PER_MIN:,}, "
                f"{cap.stat().st_size / 1e6:.1f} MB | "
                f"{statistics.median(rss_o):.0f} ({spread(rss_o)}) / "
                f"{statistics.median(rss_b):.0f} ({spread(rss_b)}) | "
                f"{statistics.median(t_o):.1f} ({spread(t_o)}) / {statistics.median(t_b):.1f} ({spread(t_b)}) | "
                f"{('passed' if check else 'yes') if equal else 'NO'} |",
                flush=True,
            )  # fmt: skip
    print(f"\n{rounds} alternated rounds; machine shared with other work (spread above).")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="measured window per run (60)")
    ap.add_argument("--rounds", type=int, default=2, help="run/record pairs (2)")
    ap.add_argument("--inner-only", action="store_true", help="only the in-process table")
    ap.add_argument(
        "--replay-memory", metavar="BASELINE_ROOT", help="only the replay memory table (see above)"
    )
    ap.add_argument("--minutes", default="10,60", help="--replay-memory: demo minutes per capture (10,60)")
    args = ap.parse_args()
    if args.replay_memory:
        return replay_memory(Path(args.replay_memory), args.rounds, [int(m) for m in args.minutes.split(",")])
    if args.inner_only:
        inner()
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="sensorcast-bench-record-"))
    base: list[float] = []
    rec: list[float] = []
    size: list[float] = []
    first: Path | None = None
    for r in range(args.rounds):
        base.append(window(["run"], args.seconds, None)["cpu_pct"])
        cap = tmp / f"r{r}.scap"
        m = window(["record", "--out", str(cap)], args.seconds, cap)
        rec.append(m["cpu_pct"])
        size.append(m["bytes_per_h"] / 1e6)
        first = first or cap
        print(
            f"round {r + 1}: run {base[-1]:.2f} % CPU, record {rec[-1]:.2f} % CPU, {size[-1]:.1f} MB/h",
            flush=True,
        )
    zcap = tmp / "z.scap"
    zsize = window(["record", "--compress", "--out", str(zcap)], args.seconds, zcap)["bytes_per_h"] / 1e6
    assert first is not None
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "replay", str(first), "--speed", "max", "--dump", str(tmp / "d.jsonl")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    replay_s = time.monotonic() - started
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    from gateway.capture.replayer import Capture

    length_s = Capture.load(str(first)).duration_ns / 1e9
    readings = (tmp / "d.jsonl").read_text(encoding="utf-8").count("\n")
    overhead = statistics.median(rec) / statistics.median(base) - 1
    print()
    print("| row | sensorcast record | baseline | verdict |")
    print("|---|---|---|---|")
    print(
        f"| CPU, % of one core (median, spread) | {statistics.median(rec):.2f} ({spread(rec)}) | "
        f"run: {statistics.median(base):.2f} ({spread(base)}) | {100 * overhead:+.1f} % "
        f"({'<=' if overhead <= 0.10 else '>'} 10 %) |"
    )
    print(
        f"| capture size, MB/h (uncompressed) | {statistics.median(size):.1f} ({spread(size)}) | target 50 | "
        f"{'ok' if statistics.median(size) <= 50 else 'over'} |"
    )
    print(f"| capture size, MB/h (--compress) | {zsize:.1f} | uncompressed {statistics.median(size):.1f} | "
          f"{statistics.median(size) / zsize:.1f}x smaller |")  # fmt: skip
    factor = length_s / replay_s
    print(
        f"| replay --speed max, whole process | {length_s:.1f} s of capture in {replay_s:.2f} s "
        f"({readings} readings) | real time | {factor:.0f}x ({'>=' if factor >= 50 else '<'} 50x) |"
    )
    print(f"\n{args.rounds} rounds of {args.seconds:g} s; machine shared with other work (spread above).")
    inner()
    return 0


if __name__ == "__main__":
    sys.exit(main())
