"""MQTT messages per sensor and second from the real demo (`sensorcast run` on every simulated sensor), with the
rate limit off (``max_rate_hz = 0``, the baseline) and at its default (1 Hz), measured in the same run.

    .venv/bin/python benchmarks/mqtt_rate.py                 # 10 s per setting
    .venv/bin/python benchmarks/mqtt_rate.py --duration 5 --rates 0 1 4

Starts its own Mosquitto on a free loopback port; every run is bounded by --duration. Prints one table: the
messages/s of the busiest sensors and of all sensors together, and the gateway's CPU, per setting.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.cli.bench import _start_mosquitto, _stop
from sensors.registry import demo_tables


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def demo_config(port: int, rate_hz: float, data_dir: Path) -> str:
    """The demo's sensors (simulated) with an [mqtt] table at ``rate_hz``."""
    sensors, _ = demo_tables()
    lines = ["[gateway]", 'id = "demo"', 'host = "127.0.0.1"', "port = 0", f'data_dir = "{data_dir}"', ""]
    for table in sensors:
        lines.append("[[sensors]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in {**table, "simulate": True}.items()]
        lines.append("")
    lines += ["[mqtt]", f'url = "mqtt://127.0.0.1:{port}"', "discovery = false", f"max_rate_hz = {rate_hz}"]
    return "\n".join(lines) + "\n"


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, rate_hz: float, duration_s: float, workdir: Path) -> tuple[dict[str, float], float]:
    """Run the demo gateway at ``rate_hz``; return messages/s per sensor and the gateway's CPU (% of one core)."""
    config = workdir / f"rate-{rate_hz}.toml"
    config.write_text(demo_config(port, rate_hz, workdir / f"data-{rate_hz}"))
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    counting = threading.Event()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        if counting.is_set():
            with lock:
                counts[msg.topic.split("/")[2]] += 1

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("sensorcast/demo/+/data", 0)
    sub.loop_start()
    gw = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3.0)  # start-up and the first publishes
        counting.set()
        cpu0, t0 = _cpu_s(gw.pid), time.monotonic()
        time.sleep(duration_s)
        counting.clear()
        cpu1, t1 = _cpu_s(gw.pid), time.monotonic()
    finally:
        _stop(gw.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            gw.wait(10)
        sub.loop_stop()
        sub.disconnect()
    elapsed = t1 - t0
    return {k: v / elapsed for k, v in counts.items()}, 100 * (cpu1 - cpu0) / elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="seconds counted per setting (default 10)")
    p.add_argument(
        "--rates", type=float, nargs="+", default=[0.0, 1.0], help="max_rate_hz values (0: baseline)"
    )
    p.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="sensorcast-mqtt-rate-") as tmp:
        workdir = Path(tmp)
        broker, port = _start_mosquitto(args.mosquitto, workdir)
        try:
            results = {rate: measure(port, rate, args.duration, workdir) for rate in args.rates}
        finally:
            _stop(broker.pid)
    base = results[args.rates[0]][0]
    busiest = sorted(base, key=lambda k: -base[k])[:5]
    head = f"{'max_rate_hz':>12}" + "".join(f"{s[:10]:>11}" for s in busiest) + f"{'all':>9}{'gw CPU':>9}"
    print("MQTT data messages/s per sensor (demo, simulated sensors)")
    print(head)
    for rate, (per, cpu) in results.items():
        row = f"{rate:>12g}" + "".join(f"{per.get(s, 0.0):>11.1f}" for s in busiest)
        print(row + f"{sum(per.values()):>9.1f}{cpu:>8.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
