"""A live `sensorcast record` of the demo, watched by a WebSocket client while faults are injected, replays
through `sensorcast replay --dump` into the very readings and health changes the client saw."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack
from websockets.asyncio.client import connect

from sensors.registry import demo_tables
from sensors.sim.nmea import NmeaEmulator
from sensors.sim.serial import Noise, PtyLink, SerialEmulator
from sensors.sim.sysfs import DEMO_PROBES
from tests.conftest import scaled

ROOT = Path(__file__).resolve().parents[3]

RECORD_S = 60
"""The issue's recording length: every demo sensor (slowest poll 5 s) polls a dozen times around the faults."""

STUCK_UNTIL_S = 20.5
"""The stuck bus is released 2.5 s after it stuck: past read_timeout_s (2 s), so the gateway abandons the poll
stuck first (failing, timeout) and its call completes on the abandoned thread at the release, its exchange in the
capture; before that sensor's next poll (the backoff after a failure is 0.8-1.2 s), so no two polls of one sensor
overlap (docs/record-replay.md). The calls queued behind the stuck one run on a fresh thread, late but in time."""

FAULTS: list[tuple[float, str]] = [
    (8.0, "nack 1 0x76 9"),  # failed BME280 polls (3 attempts each, re-opens): failing, then back
    (18.0, "stick 1"),  # SDA held low: every sensor on bus 1 waits ...
    (STUCK_UNTIL_S, "release 1"),  # ... longer than read_timeout_s: the first poll stuck is abandoned
    (22.0, "unplug"),  # the USB GPS is pulled ...
    (27.0, "replug"),  # ... and plugged back in (same stable name, another tty)
    (
        32.0,
        f"crc {next(iter(DEMO_PROBES))} 11",
    ),  # a DS18B20 CRC error over two 5 s probe polls (one may miss it)
]
"""Seconds after the client connected, and what happens then."""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def demo_with_usb_gps(link: str) -> str:
    """The demo's sensor tables, plus a GPS on a USB adapter: a pty the test owns behind a stable name, so the
    test can pull it and plug it back (the demo's own serial devices live inside the gateway process)."""
    sensors, _ = demo_tables()
    tables = [*sensors, {"id": "usb_gps", "driver": "nmea_gps", "interval_s": 0, "url": link}]
    out = ['[gateway]\nid = "e2e"\n']
    for table in tables:
        out.append("[[sensors]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()))
    return "\n".join(out)


def gps_device(link: str) -> SerialEmulator:
    return SerialEmulator(PtyLink(link), NmeaEmulator(), 0.2, Noise(0.0, seed=3)).start()


async def watch(url: str, control: Path, link: str, devices: list[SerialEmulator]) -> dict[str, Any]:
    """Subscribe to everything, backfill from the first reading, inject FAULTS, collect until the gateway
    closes the connection at the end of the recording."""
    readings: dict[int, tuple[str, Any, int]] = {}
    states: dict[str, list[str]] = {}
    gaps: list[Any] = []
    async with connect(url, max_size=None) as ws:
        hello = msgpack.unpackb(await ws.recv())
        for s in hello["sensors"]:
            states[s["id"]] = [s["state"]]
        await ws.send(
            msgpack.packb({"t": "subscribe", "id": 1, "replace": True, "subscribe": [{"path": "*"}]})
        )
        await ws.send(msgpack.packb({"t": "resume", "id": 2, "boot": hello["boot"], "seq": 0}))
        start = time.monotonic()
        pending = list(FAULTS)

        def inject() -> None:
            while pending and time.monotonic() - start >= pending[0][0]:
                what = pending.pop(0)[1]
                if what == "unplug":
                    devices[-1].close()
                elif what == "replug":
                    devices.append(gps_device(link))
                else:
                    with control.open("a") as f:
                        f.write(what + "\n")

        while True:
            inject()
            try:
                frame = await asyncio.wait_for(ws.recv(), 0.05)
            except TimeoutError:
                continue
            except Exception:  # the gateway stopped at the end of the recording: the connection closes
                break
            msg = msgpack.unpackb(frame)
            if msg["t"] == "data":
                for seq, _prev, _ts, sensor, values, flags in msg["r"]:
                    readings[seq] = (sensor, values, flags)
            elif msg["t"] == "status":
                for sid, st in msg.get("sensors", {}).items():
                    states.setdefault(sid, []).append(st["state"])
                if "drop" in msg:
                    gaps.append(msg["drop"])
            elif msg["t"] == "gap":
                gaps.append(msg)
        assert not pending, f"the recording ended before every fault was injected: {pending}"
    return {"readings": [readings[k] for k in sorted(readings)], "states": states, "gaps": gaps}


def collapse(states: list[str]) -> list[str]:
    """Health changes as a list of states: no repeats, no 'starting' (before the first poll) or 'stopped'."""
    out: list[str] = []
    for s in states:
        if s not in ("starting", "stopped") and (not out or out[-1] != s):
            out.append(s)
    return out


def line_errno(lines: list[dict[str, Any]], error: str) -> int | None:
    """The errno of the first dump line with ``error``."""
    return next(line["errno"] for line in lines if line.get("error") == error)


def canonical(values: dict[str, Any]) -> str:
    """Values as text that tells every float bit pattern apart (repr: -0.0, nan, shortest round trip)."""
    return repr(sorted(values.items()))


def test_a_live_demo_recording_replays_into_the_readings_and_health_changes_clients_saw(
    tmp_path: Path,
) -> None:
    """Per sensor, the readings a WebSocket client received from a 60 s `sensorcast record` of the demo (NACKs,
    a stuck bus, a USB GPS unplugged and plugged back, a DS18B20 CRC error injected meanwhile) equal those
    `sensorcast replay --speed max --dump` decodes from the capture: values bit for bit, same order, and the same
    health changes (ok / failing / offline / recovering).

    What legitimately differs, and is not compared: the times (readings carry the recording's wall clock, the
    dump the replay's monotonic clock); sensors a capture does not hold (hcsr04 and mcp3008: gpiozero pin timing,
    docs/record-replay.md); GPIO inputs (door, motion, wind), which replay by time, not by --dump
    (tests/gateway/capture/test_gpio.py). The stuck bus outlasts read_timeout_s: the poll
    the gateway abandons still completes on its old bus thread once the bus is free, and the capture holds both
    that exchange and the poller's verdict, so the replay fails that poll with a timeout too. The gateway's last
    poll of each sensor may have been cancelled by the stop after its bus exchange was recorded: the dump may
    hold one more poll at the end than the client saw.
    """
    link = str(tmp_path / "usb-gps")
    control = tmp_path / "faults"
    control.write_text("")
    config = tmp_path / "demo.toml"
    config.write_text(demo_with_usb_gps(link))
    capture = tmp_path / "demo.scap"
    env = dict(os.environ, PYTHONPATH=str(ROOT), SENSORCAST_SIM_CONTROL=str(control))
    devices = [gps_device(link)]
    run = ["--duration", f"{RECORD_S}s", "--port", "0"]
    log_out, log_err = tmp_path / "record.out", tmp_path / "record.err"
    with log_out.open("w") as out_f, log_err.open("w") as err_f:  # files: a full pipe would block the gateway
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "record", "--config", str(config), "--out", str(capture), *run],
            stdout=out_f,
            stderr=err_f,
            env=env,
        )
    try:
        url = None
        deadline = time.monotonic() + scaled(30)
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"WebSocket: (ws://\S+)", log_out.read_text())
            url = m.group(1) if m else None
            time.sleep(0.05)
        assert url is not None, "sensorcast record printed no WebSocket URL: " + log_err.read_text()[-2000:]
        seen = asyncio.run(asyncio.wait_for(watch(url, control, link, devices), RECORD_S + scaled(30)))
        proc.wait(timeout=scaled(30))
        err = log_err.read_text()
        assert proc.returncode == 0, err[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for d in devices:
            d.close()
    assert seen["gaps"] == [], "the client missed readings: the comparison would be meaningless"
    assert "hcsr04" in err and "mcp3008" in err  # record names what it leaves out

    dump = tmp_path / "readings.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "replay", str(capture), "--speed", "max", "--dump", str(dump)],
        capture_output=True,
        text=True,
        env=env,
        timeout=scaled(60),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    replayed: dict[str, list[str]] = {}
    health: dict[str, list[str]] = {}
    for line in lines:
        if line.get("values"):
            replayed.setdefault(line["sensor"], []).append(canonical(line["values"]))
        if "health" in line:
            health.setdefault(line["sensor"], []).append(line["health"])
    compared = [
        "system",
        "env",
        "rh",
        "light",
        "adc",
        "power",
        "imu",
        "gps",
        "air",
        "mcu",
        "probe",
        "climate",
    ]
    assert sorted(replayed) == sorted([*compared, "usb_gps"])
    live: dict[str, list[str]] = {}
    for sensor, values, flags in seen["readings"]:
        if sensor in replayed:  # flags 4 (coalesced) and 8 (re-sent) would mean the client missed a reading
            assert flags & 12 == 0, f"{sensor}: a reading delivered with flags {flags}"
        live.setdefault(sensor, []).append(canonical(values))
    for sid in [*compared, "usb_gps"]:
        got, want = replayed[sid], live[sid]
        assert got[: len(want)] == want, f"{sid}: replay differs from what the client saw"
        assert len(got) - len(want) <= (25 if sid == "imu" else 1), f"{sid}: {len(got)} vs {len(want)}"
        assert collapse(health.get(sid, [])) == collapse(seen["states"][sid]), sid

    # the faults are in both: what the client saw is what replays
    env_states = collapse(seen["states"]["env"])
    assert env_states[:2] == ["ok", "failing"] and env_states[-2:] == ["recovering", "ok"], env_states
    assert "failing" in collapse(seen["states"]["usb_gps"])
    probe_lines = [line["values"] for line in lines if line["sensor"] == "probe" and line.get("values")]
    assert any(None in v.values() for v in probe_lines), "no probe reading lost to the CRC error"
    timeouts = [line["sensor"] for line in lines if line.get("error") == "CallAbandoned"]
    assert len(timeouts) == 1 and line_errno(lines, "CallAbandoned") == errno.ETIMEDOUT, timeouts
    assert "failing" in collapse(seen["states"][timeouts[0]]), "the abandoned poll failed live too"
