"""WebSocket vs MQTT, as a script: ``sensorcast bench`` plus each MQTT row as a ratio of the WebSocket row
measured in the same run.

    .venv/bin/python benchmarks/ws_vs_mqtt.py            # 1000 readings/s, 10 clients, 10 s per path
    .venv/bin/python benchmarks/ws_vs_mqtt.py --rate 200 --clients 3 --duration 5 --json o.json --png o.png

Same options as ``sensorcast bench`` (it starts its own Mosquitto on a free loopback port unless --mqtt is
given). Traffic goes to 127.0.0.1 only and every path is bounded by --duration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.cli import bench as cmd_bench
from gateway.cli.bench_clients import Result


def ratios(results: list[Result]) -> str:
    """Each non-WebSocket row divided by the WebSocket row (> 1: more readings, slower, bigger, costlier)."""
    base = next((r for r in results if r.mode == "ws"), None)
    if base is None:
        return "(no ws row to compare with)"
    lines = [f"{'ratio vs ws':<12}{'delivered':>10}{'p50':>8}{'p99':>8}{'bytes':>8}{'gw CPU':>8}"]
    for r in results:
        if r is base:
            continue
        lines.append(
            f"{r.mode:<12}{r.delivered_per_s / base.delivered_per_s:>10.2f}{r.p50_ms / base.p50_ms:>8.2f}"
            f"{r.p99_ms / base.p99_ms:>8.2f}{r.bytes_per_reading / base.bytes_per_reading:>8.2f}"
            f"{r.gateway_cpu_pct / max(base.gateway_cpu_pct, 1e-9):>8.2f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cmd_bench.add_arguments(parser)
    results: list[Result] = []
    rc = cmd_bench.main(parser.parse_args(), into=results)
    if rc == 0:
        print()
        print(ratios(results))
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
