"""The fleet under a realistic load: 50 simulated gateways x 20 sensors at 1 Hz into one `sensorcast fleet`
process with 10 dashboard clients, against Mosquitto delivering the same messages to 10 plain subscribers in
the same run.

    .venv/bin/python benchmarks/fleet.py                    # 50 x 20 at 1 Hz, 10 + 10 clients, 30 s
    .venv/bin/python benchmarks/fleet.py --gateways 10 --duration 10

The simulated gateways are separate MQTT connections (client id, Last Will, retained meta, QoS 1) spread over
a few processes; they publish the gateway wire format (bridges/mqtt/payloads.py JSON, bridges/mqtt/discovery.py
meta) directly rather than running 50 full gateways, so they have no outbox. The fleet is the real
`python -m gateway fleet` process. Consumers run in their own processes: the WebSocket clients (the fleet's
end-to-end latency: a reading's ts_ns, stamped just before the gateway publishes it, to its arrival at a
client) and, as the baseline, plain MQTT subscribers on sensorcast/+/+/data: ``mosquitto_sub`` processes
(Debian's mosquitto-clients) stamping each message's arrival in ns into a file, C clients that keep up with the
stream (Python ones fell behind on this machine and Mosquitto dropped messages for them).
Every process is stopped by PID; the run is bounded by --duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgpack
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.cli.bench import _start_mosquitto, _stop

WARMUP_S = 5.0
"""Consumers connect and the fleet learns every gateway's catalogue before the measured window."""


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- simulated gateways (a subprocess each: --simulate) ---------------------------------------------------------


def simulate(port: int, first: int, count: int, sensors: int, duration_s: float) -> None:
    """``count`` gateways ``sim-<first>..``, each its own MQTT connection, ``sensors`` sensors at 1 Hz."""
    clients = []
    for g in range(first, first + count):
        gw = f"sim{g:03d}"
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sensorcast-{gw}", protocol=mqtt.MQTTv5)
        c.will_set(f"sensorcast/{gw}/status", b"offline", 1, retain=True)
        c.max_inflight_messages_set(0)
        c.max_queued_messages_set(0)
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        boot = os.urandom(8).hex()
        ids = [f"s{i:02d}" for i in range(sensors)]
        meta = {"gw": gw, "boot": boot, "payload": "json", "sensors": ids, "outputs": []}
        c.publish(f"sensorcast/{gw}/meta", json.dumps(meta), 1, retain=True)
        for sid in ids:
            entry = {
                "id": sid,
                "driver": "sim",
                "interval_s": 1.0,
                "rate_hz": 1.0,
                "sim": True,
                "fields": [{"name": "v", "unit": "V", "kind": "float", "series": "gauge"}],
            }
            c.publish(f"sensorcast/{gw}/{sid}/meta", json.dumps(entry), 1, retain=True)
        c.publish(f"sensorcast/{gw}/status", b"online", 1, retain=True)
        clients.append((gw, boot, ids, c, {sid: 0 for sid in ids}))
    seq = {gw: 0 for gw, *_ in clients}
    t0 = time.monotonic()
    tick = 0
    while time.monotonic() - t0 < duration_s:
        for k, (gw, boot, ids, c, last) in enumerate(clients):
            # spread the gateways over the second, as independent boards would be
            due = t0 + tick + k / len(clients)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for sid in ids:
                seq[gw] += 1
                doc = {
                    "gw": gw,
                    "boot": boot,
                    "seq": seq[gw],
                    "prev": last[sid],
                    "ts_ns": time.time_ns(),
                    "flags": 1,
                    "values": {"v": seq[gw] % 100 / 10},
                }
                last[sid] = seq[gw]
                c.publish(f"sensorcast/{gw}/{sid}/data", json.dumps(doc, separators=(",", ":")), 1)
        tick += 1
    for _gw, _b, _i, c, _l in clients:
        c.disconnect()
        c.loop_stop()


# -- consumers (a subprocess each: --consume) -------------------------------------------------------------------


def _summary(lat_ms: list[float], n: int, window_s: float, clients: int) -> dict[str, Any]:
    lat_ms.sort()
    return {"n": n, "per_client_rps": n / clients / window_s, "lat": lat_ms[:: max(1, len(lat_ms) // 20000)]}


def _merge(parts: list[dict[str, Any]]) -> dict[str, float]:
    """Per-process results -> readings/s per client (mean) and latency percentiles over every sample."""
    lat = sorted(x for p in parts for x in p["lat"])
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    rps = statistics.mean(p["per_client_rps"] for p in parts)
    return {"per_client_rps": rps, "p50": q[49], "p99": q[98], "max": lat[-1] if lat else 0.0}


def consume_ws(url: str, clients: int, duration_s: float) -> dict[str, float]:
    """``clients`` WebSocket clients subscribed to everything; latency of every reading after the warm-up."""
    from websockets.asyncio.client import connect

    lat: list[float] = []
    count = [0]
    start_ns = time.time_ns() + int(WARMUP_S * 1e9)
    end_ns = start_ns + int((duration_s - WARMUP_S - 2) * 1e9)

    async def one() -> None:
        async with connect(url, max_size=None) as ws:
            while time.time_ns() < end_ns:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 2)
                except TimeoutError:
                    continue
                now = time.time_ns()
                msg = msgpack.unpackb(raw)
                if msg.get("t") != "data" or now < start_ns:
                    continue
                for r in msg["r"]:
                    lat.append((now - r[2]) / 1e6)
                count[0] += len(msg["r"])

    async def main() -> None:
        await asyncio.gather(*(one() for _ in range(clients)))

    asyncio.run(main())
    return _summary(lat, count[0], (end_ns - start_ns) / 1e9, clients)


MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
"""The baseline's subscribers (Debian's mosquitto-clients): C clients that keep up with the stream, unlike a
Python subscriber on a loaded 2-core machine, which fell behind until Mosquitto dropped messages for it."""


def start_plain_subscribers(port: int, clients: int, duration_s: float, workdir: Path) -> list[Any]:
    """``clients`` ``mosquitto_sub`` processes on sensorcast/+/+/data at QoS 1, each writing ``<receive time
    with ns> <payload>`` per message to its own file (a file, not a pipe: the writer never waits on a reader)."""
    subs = []
    for i in range(clients):
        out = (workdir / f"plain-{i}.txt").open("wb")
        subs.append(
            (
                subprocess.Popen(
                    [
                        *(MOSQUITTO_SUB, "-p", str(port), "-h", "127.0.0.1", "-i", f"plain-{i}", "-q", "1"),
                        *("-t", "sensorcast/+/+/data", "-F", "%U %p", "-W", str(int(duration_s))),
                    ],
                    stdout=out,
                    stderr=subprocess.DEVNULL,
                ),
                out,
            )
        )
    return subs


def read_plain_subscribers(workdir: Path, clients: int, start_ns: int, end_ns: int) -> dict[str, Any]:
    """Latency (receive time - the reading's ts_ns) of every message received inside the window."""
    lat: list[float] = []
    n = 0
    for i in range(clients):
        for line in (workdir / f"plain-{i}.txt").read_bytes().splitlines():
            stamp, _, payload = line.partition(b" ")
            sec, _, ns = stamp.partition(b".")
            now = int(sec) * 1_000_000_000 + int(ns.ljust(9, b"0")[:9])
            if not start_ns <= now < end_ns:
                continue
            k = payload.find(b'"ts_ns":') + 8
            lat.append((now - int(payload[k : payload.find(b",", k)])) / 1e6)
            n += 1
    return _summary(lat, n, (end_ns - start_ns) / 1e9, clients)


# -- the run ------------------------------------------------------------------------------------------------------


def run(
    gateways: int, sensors: int, clients: int, duration_s: float, procs: int, workdir: Path
) -> dict[str, Any]:
    broker, port = _start_mosquitto("/usr/sbin/mosquitto", workdir)
    started: list[subprocess.Popen[Any]] = [broker]
    try:
        fleet = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "fleet",
                "--mqtt",
                f"mqtt://127.0.0.1:{port}",
                "--port",
                "0",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "SENSORCAST_DATA_DIR": str(workdir / "fleet-data")},  # its history store
        )
        started.append(fleet)
        assert fleet.stdout is not None
        url = ""
        while not url.startswith("ws://"):
            line = fleet.stdout.readline()
            if not line:
                raise RuntimeError("the fleet did not start")
            url = line.split()[-1] if line.startswith("WebSocket:") else ""
        me = str(Path(__file__).resolve())
        per = -(-gateways // procs)
        total_s = duration_s + 2
        sims = [
            subprocess.Popen(
                [
                    sys.executable,
                    me,
                    "--simulate",
                    str(port),
                    str(i),
                    str(min(per, gateways - i)),
                    str(sensors),
                    str(total_s),
                ]
            )
            for i in range(0, gateways, per)
        ]
        started += sims
        time.sleep(1.0)
        # two clients per consumer process: a Python consumer of 1,000 messages/s per client is itself near a
        # core's limit, and must not be what is measured
        ws = [
            subprocess.Popen(
                [sys.executable, me, "--consume-ws", url, "2", str(duration_s)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(clients // 2)
        ]
        mq_start_ns = time.time_ns() + int(WARMUP_S * 1e9)
        mq_end_ns = mq_start_ns + int((duration_s - WARMUP_S - 2) * 1e9)
        mq = start_plain_subscribers(port, clients, duration_s, workdir)
        started += ws + [p for p, _ in mq]
        time.sleep(WARMUP_S)
        cpu0 = {p: _cpu_s(p.pid) for p in (fleet, broker, *(q for q, _ in mq))}
        t0 = time.monotonic()
        rss = []
        while time.monotonic() - t0 < duration_s - WARMUP_S - 2:
            time.sleep(1.0)
            rss.append(_rss_mib(fleet.pid))
        elapsed = time.monotonic() - t0
        cpu = {p: (_cpu_s(p.pid) - cpu0[p]) / elapsed * 100 for p in cpu0}
        ws_out = _merge([json.loads(w.communicate(timeout=duration_s + 30)[0]) for w in ws])
        for q, out in mq:
            q.wait(timeout=duration_s + 30)
            out.close()
        mq_out = _merge([read_plain_subscribers(workdir, clients, mq_start_ns, mq_end_ns)])
        mq_out["clients"] = clients
        for s in sims:
            s.wait(timeout=duration_s + 30)
        return {
            "fleet_cpu": cpu[fleet],
            "broker_cpu": cpu[broker],
            "subs_cpu": sum(cpu[q] for q, _ in mq),
            "rss": max(rss),
            "ws": ws_out,
            "mqtt": mq_out,
        }
    finally:
        for p in reversed(started):
            if p.poll() is None:
                _stop(p.pid)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--simulate":
        port, first, count, sensors, dur = sys.argv[2:7]
        simulate(int(port), int(first), int(count), int(sensors), float(dur))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--consume-ws":
        print(json.dumps(consume_ws(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gateways", type=int, default=50)
    p.add_argument("--sensors", type=int, default=20)
    p.add_argument("--clients", type=int, default=10, help="WebSocket clients and plain subscribers (even)")
    p.add_argument("--procs", type=int, default=5, help="processes the simulated gateways are spread over")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per run (warm-up included)")
    p.add_argument("--runs", type=int, default=1)
    args = p.parse_args()
    rate = args.gateways * args.sensors
    print(
        f"{args.gateways} gateways x {args.sensors} sensors at 1 Hz = {rate} readings/s offered; "
        f"{args.clients} WebSocket clients on the fleet, {args.clients} plain MQTT subscribers on the broker"
    )
    print(
        "| run | path | readings/s per client | p50 ms | p99 ms | max ms | CPU % | CPU % per 1,000 r/s | RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            r = run(args.gateways, args.sensors, args.clients, args.duration, args.procs, Path(tmp))
        w, m = r["ws"], r["mqtt"]
        print(
            f"| {i + 1} | fleet -> WebSocket | {w['per_client_rps']:.0f} | {w['p50']:.1f} | {w['p99']:.1f} | "
            f"{w['max']:.0f} | {r['fleet_cpu']:.1f} (fleet) | {r['fleet_cpu'] / (w['per_client_rps'] / 1000):.1f} "
            f"| {r['rss']:.0f} |"
        )
        print(
            f"| {i + 1} | Mosquitto -> plain subscribers (baseline) | {m['per_client_rps']:.0f} | {m['p50']:.1f} | "
            f"{m['p99']:.1f} | {m['max']:.0f} | {r['broker_cpu']:.1f} (broker) | "
            f"{r['broker_cpu'] / (m['per_client_rps'] / 1000):.1f} | - |"
        )
        print(
            f"| {i + 1} | (the {args.clients} mosquitto_sub processes together) | | | | | "
            f"{r['subs_cpu']:.1f} | | |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
